package network

import (
	"net/http"

	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/jsonapi"
)

// Admins authenticates the operator of this node, who may list its members.
type Admins interface {
	Bearer(r *http.Request) (auth.Principal, error)
}

// serveMembers lists the members this node knows (GET /network, admin).
func (n *Network) serveMembers(w http.ResponseWriter, r *http.Request) {
	p, err := n.admins.Bearer(r)
	if err == nil && !p.IsAdmin() {
		err = apierr.Forbidden("the member list needs an admin token")
	}
	if err != nil {
		jsonapi.WriteError(w, n.log, err)
		return
	}
	var data []jsonapi.Out
	for _, m := range n.Members() {
		data = append(data, jsonapi.Out{Type: "member", ID: m.ID, Attributes: m})
	}
	jsonapi.Write(w, http.StatusOK, map[string]any{"data": data, "meta": map[string]any{
		"confirmations": n.cfg.Confirmations, "replicas": max(n.cfg.Replicas, 1), "standalone": n.Standalone()}})
}
