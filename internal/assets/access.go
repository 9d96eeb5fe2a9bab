package assets

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/httpjson"
	"github.com/prometheus-dds/dds/internal/limits"
)

// Who may read an asset's metadata and content. Only the owner changes it
// (or deletes or uploads); an admin may too, as it may delete.
const (
	Private = "private" // the owner only: the default
	Shared  = "shared"  // the owner and the principals named
	Public  = "public"  // anyone, without a token too
)

// maxShares bounds the principals an asset is shared with.
const maxShares = 1000

// readable returns an asset p may read; 404 for one it may not, as for one
// that is not there, so that its existence is not told either.
func (s *Service) readable(ctx context.Context, p auth.Principal, id string) (Asset, error) {
	a, err := s.store.Readable(ctx, p.ID, id)
	if errors.Is(err, ErrNotFound) {
		return Asset{}, notReadable(p, id)
	}
	return a, err
}

// notReadable is the answer about an asset p may not read or that is not
// there: the same either way. An anonymous caller is challenged (401) to
// authenticate, which is also when starfish-java sends its credentials.
func notReadable(p auth.Principal, id string) error {
	if p.ID == "" {
		return apierr.Unauthorized("asset %s is not public, or not here; authenticate to read what is shared with you", id)
	}
	return apierr.NotFound("no asset %s is registered here", id)
}

// reader runs h for an authenticated principal or, when the request carries
// no credentials at all, for the anonymous principal (no id), who may read
// public assets only. Wrong credentials are a 401 still.
func (s *Service) reader(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var p auth.Principal
		var err error
		if hasCredentials(r) {
			p, err = s.principal(r)
		}
		if err == nil {
			err = h(w, r, p)
		}
		if err != nil {
			s.writeError(w, r, err)
		}
	}
}

func hasCredentials(r *http.Request) bool {
	return r.Header.Get("Authorization") != "" || r.URL.Query().Has("access_token")
}

func (s *Service) getAccess(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, err := parseID(r.PathValue("id"))
	if err != nil {
		return err
	}
	var out api.AssetAccess
	err = s.store.InTx(r.Context(), func(ctx context.Context) error {
		a, err := s.owned(ctx, p, id)
		if err != nil {
			return err
		}
		out, err = s.access(ctx, a)
		return err
	})
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, out)
	return nil
}

func (s *Service) putAccess(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, err := parseID(r.PathValue("id"))
	if err != nil {
		return err
	}
	body, err := limits.ReadAll(w, r, 1<<20, "an access document")
	if err != nil {
		return err
	}
	var in api.AssetAccess
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return apierr.BadRequest("bad_access", `the body is {"access": "private"|"shared"|"public", "principals": ["<account id>", ...]}: %v`, err)
	}
	switch {
	case in.Access != Private && in.Access != Shared && in.Access != Public:
		return apierr.BadRequest("bad_access", `access is "private", "shared" or "public", not %q`, in.Access)
	case in.Access != Shared && len(in.Principals) > 0:
		return apierr.BadRequest("bad_access", "principals are named only for shared access")
	case len(in.Principals) > maxShares:
		return apierr.BadRequest("bad_access", "an asset is shared with at most %d principals", maxShares)
	}
	for _, pid := range in.Principals {
		if strings.TrimSpace(pid) == "" || len(pid) > 200 {
			return apierr.BadRequest("bad_access", "principals are account ids (as dds token create prints them), not %q", pid)
		}
	}
	var out api.AssetAccess
	err = s.store.InTx(r.Context(), func(ctx context.Context) error {
		a, err := s.owned(ctx, p, id)
		if err != nil {
			return err
		}
		if err := s.store.SetAccess(ctx, id, in.Access, in.Principals); err != nil {
			return err
		}
		a.Access = in.Access
		out, err = s.access(ctx, a)
		return err
	})
	if err != nil {
		return err
	}
	s.log.Info("asset access set", "asset", id, "access", out.Access, "principals", len(out.Principals), "by", p.Name)
	httpjson.Write(w, http.StatusOK, out)
	return nil
}

func (s *Service) access(ctx context.Context, a Asset) (api.AssetAccess, error) {
	principals, err := s.store.Shares(ctx, a.ID)
	return api.AssetAccess{Access: a.Access, Principals: principals}, err
}
