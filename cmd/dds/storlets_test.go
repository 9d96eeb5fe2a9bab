package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus-dds/dds/internal/testnet"
)

// dds dependency and dds storlet drive the controller through the client.
func TestStorletCommands(t *testing.T) {
	nd := testnet.New(t, 1).Nodes[0]
	p, err := nd.Auth.Authenticate(context.Background(), nd.UserToken)
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"DDS_NODE=" + nd.URL(), "DDS_TOKEN=" + nd.AdminToken}
	file := filepath.Join(t.TempDir(), "header.txt")
	os.WriteFile(file, []byte("# header\n"), 0o600)

	out := run(t, env, "dependency", "create", "--version", "2", "header.txt")
	id := regexp.MustCompile(`"id": (\d+)`).FindStringSubmatch(out)
	if id == nil || !strings.Contains(out, `"version": "2"`) {
		t.Fatalf("create:\n%s", out)
	}
	if out := run(t, env, "dependency", "upload", id[1], file); !strings.Contains(out, `"has_data": true`) {
		t.Fatalf("upload:\n%s", out)
	}
	if out := run(t, env, "dependency", "deploy", p.ID, id[1]); !strings.Contains(out, `"dependency_id": `+id[1]) {
		t.Fatalf("deploy:\n%s", out)
	}
	if out := run(t, env, "dependency", "deployed", p.ID); !strings.Contains(out, `"deployed": "true"`) {
		t.Fatalf("deployed:\n%s", out)
	}
	run(t, env, "dependency", "undeploy", p.ID, id[1])
	if out := run(t, env, "dependency", "delete", id[1]); out != "" {
		t.Fatalf("delete printed %q", out)
	}
	if out := run(t, env, "dependency", "list"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("list:\n%s", out)
	}

	out = run(t, env, "storlet", "create", "--dependency", "header.txt", "prefix")
	if !strings.Contains(out, `"dependency": "header.txt"`) || !strings.Contains(out, `"main": "_start"`) {
		t.Fatalf("create:\n%s", out)
	}
	if out := run(t, env, "storlet", "show", "1"); !strings.Contains(out, `"name": "prefix"`) {
		t.Fatalf("show:\n%s", out)
	}
	// The controller's errors are clear messages and a non-zero exit.
	cmd := exec.Command(bin, "storlet", "deploy", "--params", "a=1", p.ID, "1")
	cmd.Env = append(os.Environ(), env...)
	msg, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(msg), "409") || !strings.Contains(string(msg), "upload its module first") {
		t.Fatalf("deploy without data: %v %s", err, msg)
	}
}
