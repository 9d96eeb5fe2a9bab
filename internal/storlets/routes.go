package storlets

import (
	"context"
	"net/http"
	"path"
	"strings"

	"github.com/prometheus-dds/dds/internal/apierr"
	httproute "github.com/prometheus-dds/dds/internal/route"
)

// handler is an endpoint; the error it returns is the answer.
type handler func(w http.ResponseWriter, r *http.Request) error

// endpoints are the handlers of one kind: storlets and dependencies have the
// same paths.
type endpoints struct {
	list, create, get, update, delete, upload, deployed, deploy, undeploy handler
}

// route is one path below a kind's root and its handlers, by method.
type route struct {
	pattern string
	methods []method
}

type method struct {
	name string
	h    handler
}

// table is the face's route table, below a kind's root (a trailing slash is
// ignored: the spec writes most paths with one).
func (e endpoints) table() []route {
	return []route{
		{"/{$}", []method{{"GET", e.list}, {"POST", e.create}}},
		{"/{id}", []method{{"GET", e.get}, {"PUT", e.update}, {"DELETE", e.delete}}},
		{"/{id}/data", []method{{"PUT", e.upload}, {"POST", e.upload}}}, // the spec's example uses POST
		{"/{account}/deploy", []method{{"GET", e.deployed}}},
		{"/{account}/deploy/{id}", []method{{"PUT", e.deploy}, {"POST", e.deploy}}},
		{"/{account}/undeploy/{id}", []method{{"PUT", e.undeploy}, {"POST", e.undeploy}}},
	}
}

// Routes adds the face's routes. The spec's paths overlap in ways one
// pattern table refuses (/storlets/dependencies/{id}/data against
// /storlets/{account}/deploy/{id}), so each kind routes below its own root;
// /dependencies is an alias of /storlets/dependencies.
func (s *Service) Routes(mux httproute.Mux) {
	storletRoutes := s.storletEndpoints().table()
	depRoutes := s.depEndpoints().table()
	s.mount(mux, storletRoutes, depRoutes)
}

func (s *Service) mount(mux httproute.Mux, storletRoutes, depRoutes []route) {
	st, dep := s.router(storletRoutes), s.router(depRoutes)
	for _, root := range []string{"/storlets", "/storlets/"} {
		mux.Handle(root, st)
	}
	for _, root := range []string{"/storlets/dependencies", "/storlets/dependencies/", "/dependencies", "/dependencies/"} {
		mux.Handle(root, dep)
	}
}

type pathKey struct{}

// requestPath is the path the client asked for, for messages.
func requestPath(r *http.Request) string {
	p, _ := r.Context().Value(pathKey{}).(string)
	return p
}

// kindRouter is one kind's router; it tells its patterns (httproute.Table), so the
// node's route list holds them.
type kindRouter struct {
	http.Handler
	routes []route
}

func (t kindRouter) Patterns() []string {
	var out []string
	for _, rt := range t.routes {
		for _, m := range rt.methods {
			out = append(out, m.name+" "+rt.pattern)
		}
	}
	return out
}

// router serves one kind's routes below the root its pattern names.
func (s *Service) router(routes []route) http.Handler {
	inner := http.NewServeMux()
	inner.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, apierr.NotFound("no such resource %s", requestPath(r)))
	})
	for _, rt := range routes {
		inner.Handle(rt.pattern, s.resource(rt.methods))
	}
	return kindRouter{routes: routes, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rel := strings.TrimPrefix(r.URL.Path, strings.TrimSuffix(r.Pattern, "/"))
		if rel = strings.TrimSuffix(rel, "/"); rel == "" {
			rel = "/"
		}
		r2 := r.WithContext(context.WithValue(r.Context(), pathKey{}, r.URL.Path))
		if path.Clean(rel) != rel { // an empty segment: a path no route has
			s.writeError(w, apierr.NotFound("no such resource %s", r.URL.Path))
			return
		}
		u := *r.URL
		u.Path, u.RawPath = rel, ""
		r2.URL = &u
		inner.ServeHTTP(w, r2)
	})}
}

// resource serves one path: the caller must be an admin, then the method
// picks the handler.
func (s *Service) resource(methods []method) http.Handler {
	allow := make([]string, len(methods))
	for i, m := range methods {
		allow[i] = m.name
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := s.admin(r); err != nil {
			s.writeError(w, err)
			return
		}
		for _, m := range methods {
			if m.name == r.Method {
				if err := m.h(w, r); err != nil {
					s.writeError(w, err)
				}
				return
			}
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		s.writeError(w, apierr.New(http.StatusMethodNotAllowed, "method_not_allowed", "%s is not allowed on %s; use %s", r.Method, requestPath(r), strings.Join(allow, " or ")))
	})
}

func (s *Service) storletEndpoints() endpoints {
	k := storletKind
	return endpoints{list: k.list(s), create: s.createStorlet, get: k.show(s), update: s.updateStorlet,
		delete: k.delete(s), upload: s.uploadStorlet, deployed: s.listDeployedStorlets, deploy: s.deployStorlet, undeploy: k.undeploy(s)}
}

func (s *Service) depEndpoints() endpoints {
	k := depKind
	return endpoints{list: k.list(s), create: s.createDep, get: k.show(s), update: s.updateDep,
		delete: k.delete(s), upload: s.uploadDep, deployed: s.listDeployedDeps, deploy: s.deployDep, undeploy: k.undeploy(s)}
}
