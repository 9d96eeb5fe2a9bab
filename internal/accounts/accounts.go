// Package accounts is the admin API of a node's accounts: its operator (an
// admin token) lists and creates accounts and manages their tokens from
// anywhere, and every account manages its own tokens and reads who it is.
// Users and payment processors made here belong to the whole network (see
// auth); admins belong to this node only. Tokens are shown once, when made:
// lists name them by an id that cannot be used to sign in.
package accounts

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/clock"
	"github.com/prometheus-dds/dds/internal/jsonapi"
	"github.com/prometheus-dds/dds/internal/limits"
	"github.com/prometheus-dds/dds/internal/route"
)

// Config configures the face; it has no settings yet.
type Config struct{}

// DefaultConfig is the face's configuration.
func DefaultConfig() Config { return Config{} }

// Auth is the node's principals and tokens.
type Auth interface {
	Bearer(r *http.Request) (auth.Principal, error)
	Principal(ctx context.Context, idOrName string) (auth.Principal, error)
	Principals(ctx context.Context) ([]auth.Principal, error)
	CreatePrincipal(ctx context.Context, name string, role auth.Role) (auth.Principal, error)
	IssueToken(ctx context.Context, principalID, label string) (string, error)
	TokenInfos(ctx context.Context, principalID string) ([]auth.TokenInfo, error)
	RevokeID(ctx context.Context, by auth.Principal, principalID, tokenID string) error
	ClearPassword(ctx context.Context, principalID string) error
}

// Deps are the face's dependencies.
type Deps struct {
	Auth  Auth
	Clock clock.Clock
	Log   *slog.Logger
}

// Service is the accounts face.
type Service struct {
	auth  Auth
	clock clock.Clock
	log   *slog.Logger
}

// New returns the accounts face.
func New(_ context.Context, _ Config, deps Deps) (*Service, error) {
	return &Service{auth: deps.Auth, clock: deps.Clock, log: deps.Log}, nil
}

// Routes adds the face's routes.
func (s *Service) Routes(mux route.Mux) {
	mux.HandleFunc("GET /accounts", s.handle(s.list))
	mux.HandleFunc("POST /accounts", s.handle(s.create))
	mux.HandleFunc("GET /accounts/{account}", s.handle(s.show))
	mux.HandleFunc("GET /accounts/{account}/tokens", s.handle(s.tokens))
	mux.HandleFunc("POST /accounts/{account}/tokens", s.handle(s.issue))
	mux.HandleFunc("DELETE /accounts/{account}/tokens/{token}", s.handle(s.revoke))
	mux.HandleFunc("DELETE /accounts/{account}/tokens", s.handle(s.revokeAll))
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, caller auth.Principal) error

func (s *Service) handle(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := jsonapi.CheckAccept(r)
		var p auth.Principal
		if err == nil {
			p, err = s.auth.Bearer(r)
		}
		if err == nil {
			err = h(w, r, p)
		}
		if err != nil {
			jsonapi.WriteError(w, s.log, err)
		}
	}
}

func admin(p auth.Principal) error {
	if !p.IsAdmin() {
		return apierr.Forbidden("managing accounts needs this node's admin token")
	}
	return nil
}

// account is the account a path names ("me": the caller), which the caller
// may manage: its own, or any if it is an admin.
func (s *Service) account(r *http.Request, caller auth.Principal) (auth.Principal, error) {
	name := r.PathValue("account")
	if name == "me" || name == caller.ID || name == caller.Name {
		return caller, nil
	}
	if err := admin(caller); err != nil {
		return auth.Principal{}, apierr.NotFound("no account %q", name) // not even whether it exists
	}
	p, err := s.auth.Principal(r.Context(), name)
	if err != nil {
		return auth.Principal{}, apierr.NotFound("no account %q", name)
	}
	return p, nil
}

func out(r *http.Request, p auth.Principal) jsonapi.Out {
	return jsonapi.Out{Type: "account", ID: p.ID,
		Attributes: api.Account{Name: p.Name, Role: string(p.Role), CreatedAt: p.Created},
		Links:      map[string]string{"self": jsonapi.BaseURL(r) + "/accounts/" + p.ID}}
}

func (s *Service) list(w http.ResponseWriter, r *http.Request, caller auth.Principal) error {
	if err := admin(caller); err != nil {
		return err
	}
	all, err := s.auth.Principals(r.Context())
	if err != nil {
		return err
	}
	data := make([]jsonapi.Out, 0, len(all))
	for _, p := range all {
		data = append(data, out(r, p))
	}
	jsonapi.Write(w, http.StatusOK, map[string]any{"data": data})
	return nil
}

func (s *Service) show(w http.ResponseWriter, r *http.Request, caller auth.Principal) error {
	p, err := s.account(r, caller)
	if err != nil {
		return err
	}
	jsonapi.Write(w, http.StatusOK, jsonapi.Document{Data: out(r, p)})
	return nil
}

// read decodes a small JSON:API document of the given type; an empty body
// is a document without attributes.
func read(w http.ResponseWriter, r *http.Request, typ string) (*jsonapi.Resource, error) {
	if err := jsonapi.CheckContentType(r); err != nil {
		return nil, err
	}
	body, err := limits.ReadAll(w, r, jsonapi.MaxSmall, "an account document")
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return &jsonapi.Resource{Type: typ}, nil
	}
	res, err := jsonapi.Decode(bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if res.Type != typ {
		return nil, apierr.Conflict("wrong_type", "data.type must be %q, not %q", typ, res.Type).At("/data/type")
	}
	return res, nil
}

func (s *Service) create(w http.ResponseWriter, r *http.Request, caller auth.Principal) error {
	if err := admin(caller); err != nil {
		return err
	}
	res, err := read(w, r, "account")
	if err != nil {
		return err
	}
	var name, role string
	if _, err := res.Attr("name", &name); err != nil {
		return err
	}
	if ok, err := res.Attr("role", &role); err != nil {
		return err
	} else if !ok {
		return apierr.BadRequest("missing_attribute", "attribute \"role\" (user, payment or admin) is required").At("/data/attributes/role")
	}
	parsed, err := auth.ParseRole(role)
	if err != nil {
		return apierr.BadRequest("bad_role", "%v", err).At("/data/attributes/role")
	}
	p, err := s.auth.CreatePrincipal(r.Context(), strings.TrimSpace(name), parsed)
	if err != nil {
		return err
	}
	s.log.Info("account created", "account", p.ID, "name", p.Name, "role", p.Role, "by", caller.Name)
	w.Header().Set("Location", jsonapi.BaseURL(r)+"/accounts/"+p.ID)
	jsonapi.Write(w, http.StatusCreated, jsonapi.Document{Data: out(r, p)})
	return nil
}

func (s *Service) tokens(w http.ResponseWriter, r *http.Request, caller auth.Principal) error {
	p, err := s.account(r, caller)
	if err != nil {
		return err
	}
	infos, err := s.auth.TokenInfos(r.Context(), p.ID)
	if err != nil {
		return err
	}
	data := make([]jsonapi.Out, 0, len(infos))
	for _, t := range infos {
		data = append(data, jsonapi.Out{Type: "token", ID: t.ID, Attributes: api.Token{Label: t.Label, CreatedAt: t.Created}})
	}
	jsonapi.Write(w, http.StatusOK, map[string]any{"data": data})
	return nil
}

func (s *Service) issue(w http.ResponseWriter, r *http.Request, caller auth.Principal) error {
	p, err := s.account(r, caller)
	if err != nil {
		return err
	}
	res, err := read(w, r, "token")
	if err != nil {
		return err
	}
	var label string
	if _, err := res.Attr("label", &label); err != nil {
		return err
	}
	if len(label) > 200 {
		return apierr.BadRequest("invalid_attribute", "a label has at most 200 characters").At("/data/attributes/label")
	}
	tok, err := s.auth.IssueToken(r.Context(), p.ID, label)
	if err != nil {
		return err
	}
	s.log.Info("token issued", "account", p.ID, "by", caller.Name)
	jsonapi.Write(w, http.StatusCreated, jsonapi.Document{Data: jsonapi.Out{Type: "token", ID: auth.TokenID(tok),
		Attributes: api.Token{Label: label, CreatedAt: s.clock.Now(), Token: tok}}})
	return nil
}

func (s *Service) revoke(w http.ResponseWriter, r *http.Request, caller auth.Principal) error {
	p, err := s.account(r, caller)
	if err != nil {
		return err
	}
	if err := s.auth.RevokeID(r.Context(), caller, p.ID, r.PathValue("token")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// revokeAll takes an account's access away on every node: every token
// revoked, its password (DEP-7's Basic auth) cleared. The account stays, so
// what it owns keeps its owner; an admin can issue it a token again.
func (s *Service) revokeAll(w http.ResponseWriter, r *http.Request, caller auth.Principal) error {
	p, err := s.account(r, caller)
	if err != nil {
		return err
	}
	infos, err := s.auth.TokenInfos(r.Context(), p.ID)
	if err != nil {
		return err
	}
	for _, t := range infos {
		if err := s.auth.RevokeID(r.Context(), caller, p.ID, t.ID); err != nil {
			return err
		}
	}
	if err := s.auth.ClearPassword(r.Context(), p.ID); err != nil {
		return err
	}
	s.log.Info("account's access revoked", "account", p.ID, "tokens", len(infos), "by", caller.Name)
	jsonapi.Write(w, http.StatusOK, map[string]any{"meta": map[string]any{"revoked": len(infos), "password_cleared": true}})
	return nil
}
