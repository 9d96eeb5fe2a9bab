package bitcoin

import "testing"

// No --bitcoin-rpc is no node; a node needs a URL and credentials.
func TestNew(t *testing.T) {
	if c, err := New(DefaultConfig(), "regtest"); c != nil || err != nil {
		t.Fatalf("no RPC: %v %v", c, err)
	}
	for _, cfg := range []Config{
		{RPC: "127.0.0.1:18334", User: "u", Pass: "p"},        // no scheme
		{RPC: "http://127.0.0.1:18334"},                       // no credentials
		{RPC: "http://127.0.0.1:18334", User: "u", Pass: "p"}, // fine, but the network is not
	} {
		if _, err := New(cfg, "moonnet"); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
	c, err := New(Config{RPC: "http://127.0.0.1:18334", Cookie: "/nonexistent/.cookie"}, "regtest")
	if err != nil || c == nil {
		t.Fatalf("cookie: %v", err)
	}
	c.Close()
}
