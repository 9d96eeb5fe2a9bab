package storlets

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/store"
)

// admin authenticates the caller by X-Auth-Token (as the spec says) or a
// bearer token, and requires the admin role.
func (s *Service) admin(r *http.Request) (auth.Principal, error) {
	tok := strings.TrimSpace(r.Header.Get("X-Auth-Token"))
	if tok == "" {
		tok = auth.TokenFromHeader(r, "Bearer")
	}
	if tok == "" {
		return auth.Principal{}, apierr.Unauthorized("send an admin token in X-Auth-Token")
	}
	p, err := s.auth.Authenticate(r.Context(), tok)
	if err != nil {
		return auth.Principal{}, err
	}
	if !p.IsAdmin() {
		return auth.Principal{}, apierr.Forbidden("the storlets controller needs an admin token")
	}
	return p, nil
}

// account checks that an account (a principal id, or name) exists.
func (s *Service) account(ctx context.Context, id string) (auth.Principal, error) {
	p, err := s.auth.Principal(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return auth.Principal{}, apierr.NotFound("no account %q (an account is a principal id, as 'dds token create' prints)", id)
	}
	return p, err
}
