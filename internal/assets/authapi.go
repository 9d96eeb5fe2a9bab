package assets

import (
	"crypto/sha3"
	"encoding/hex"
	"net/http"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/httpjson"
)

// listTokens answers the principal's tokens as a JSON array of strings,
// oldest first. A principal with none gets one issued, so the answer is never
// empty: starfish-java takes the first element without checking.
func (s *Service) listTokens(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	toks, err := s.auth.Tokens(r.Context(), p.ID)
	if err != nil {
		return err
	}
	if len(toks) == 0 {
		tok, err := s.auth.IssueToken(r.Context(), p.ID, "DEP auth API")
		if err != nil {
			return err
		}
		toks = []string{tok}
	}
	httpjson.Write(w, http.StatusOK, toks)
	return nil
}

// createToken issues a token and answers it as a JSON string, with 200 (what
// the clients accept).
func (s *Service) createToken(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	tok, err := s.auth.IssueToken(r.Context(), p.ID, "DEP auth API")
	if err != nil {
		return err
	}
	s.log.Info("token issued", "principal", p.Name)
	httpjson.Write(w, http.StatusOK, tok)
	return nil
}

// revokeToken revokes one of the principal's tokens (an admin's: anyone's)
// and answers true; 404 if there is no such token.
func (s *Service) revokeToken(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := s.auth.Revoke(r.Context(), p, r.PathValue("token")); err != nil {
		return err
	}
	s.log.Info("token revoked", "principal", p.Name)
	httpjson.Write(w, http.StatusOK, true)
	return nil
}

// status is DEP-11's agent status.
func (s *Service) status(w http.ResponseWriter, r *http.Request) {
	node := s.key.Address()
	httpjson.Write(w, http.StatusOK, api.AssetStatus{
		Name:        "Prometheus DDS node " + node,
		Description: "A node of the Prometheus decentralized data storage network: DEP-7 universal storage, DEP-15 metadata, token auth.",
		APIVersions: []string{"v1"},
		Custom:      api.AssetStatusCustom{ServerType: "dds", Node: node, DID: s.did()},
	})
}

// did is the node's DID: did:dep: and the SHA3-256 of its public key.
func (s *Service) did() string {
	sum := sha3.Sum256(s.key.PublicKey())
	return "did:dep:" + hex.EncodeToString(sum[:])
}

// ddo is the node's DID document, listing the endpoints DEP clients look up
// by service type.
func (s *Service) ddo(w http.ResponseWriter, r *http.Request) {
	did, base := s.did(), s.baseURL(r)
	svc := func(frag, typ, path string) api.AssetDDOService {
		return api.AssetDDOService{ID: did + "#" + frag, Type: typ, ServiceEndpoint: base + path}
	}
	httpjson.Write(w, http.StatusOK, api.AssetDDO{
		Context: "https://www.w3.org/ns/did/v1",
		ID:      did,
		Service: []api.AssetDDOService{
			svc("meta", "DEP.Meta.v1", "/api/v1/meta"),
			svc("storage", "DEP.Storage.v1", "/api/v1/assets"),
			svc("auth", "DEP.Auth.v1", "/api/v1/auth"),
			svc("status", "DEP.Status", "/api/status"),
			svc("ddo", "DEP.DDO", "/api/ddo"),
		},
	})
}
