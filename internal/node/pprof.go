package node

import (
	"net/http"
	"net/http/pprof"

	"github.com/prometheus-dds/dds/internal/route"
)

// profileRoutes serves Go's profiler (net/http/pprof) under /debug/pprof/ to
// the node's admins, when the node runs with --pprof. A profile shows what
// the node spends its time on (and, in a goroutine dump, what requests are
// doing), so it is off by default and never public.
func (n *Node) profileRoutes(mux route.Mux) {
	if !n.cfg.Pprof {
		return
	}
	admin := func(h http.HandlerFunc) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, err := n.Auth.Bearer(r)
			switch {
			case err != nil:
				w.Header().Set("WWW-Authenticate", `Bearer realm="dds pprof"`)
				http.Error(w, "profiles need an admin token (Authorization: Bearer <token>): "+err.Error(), http.StatusUnauthorized)
			case !p.IsAdmin():
				http.Error(w, "profiles need an admin token; this token has another role", http.StatusForbidden)
			default:
				h(w, r)
			}
		})
	}
	mux.Handle("GET /debug/pprof/", admin(pprof.Index)) // the index, and heap, goroutine, allocs, block, mutex...
	mux.Handle("GET /debug/pprof/cmdline", admin(pprof.Cmdline))
	mux.Handle("GET /debug/pprof/profile", admin(pprof.Profile)) // CPU, ?seconds=30
	mux.Handle("GET /debug/pprof/symbol", admin(pprof.Symbol))
	mux.Handle("POST /debug/pprof/symbol", admin(pprof.Symbol))
	mux.Handle("GET /debug/pprof/trace", admin(pprof.Trace))
}
