package client

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus-dds/dds/api"
)

// Account is an account and its id.
type Account struct {
	ID string
	api.Account
}

// TokenInfo names a token; Token is set only in the answer that made it.
type TokenInfo struct {
	ID        string
	Label     string
	CreatedAt time.Time
	Token     string
}

func tokenInfo(r resource[api.Token]) TokenInfo {
	return TokenInfo{ID: r.ID, Label: r.Attributes.Label, CreatedAt: r.Attributes.CreatedAt, Token: r.Attributes.Token}
}

type resource[T any] struct {
	ID         string `json:"id"`
	Attributes T      `json:"attributes"`
}

// Accounts lists the node's accounts (admin).
func (c *Client) Accounts(ctx context.Context) ([]Account, error) {
	var doc struct {
		Data []resource[api.Account] `json:"data"`
	}
	if err := c.call(ctx, http.MethodGet, "/accounts", nil, "", &doc, http.StatusOK); err != nil {
		return nil, err
	}
	out := make([]Account, len(doc.Data))
	for i, d := range doc.Data {
		out[i] = Account{d.ID, d.Attributes}
	}
	return out, nil
}

// Account reads an account by id or name; "me" is the caller's (whoami).
func (c *Client) Account(ctx context.Context, account string) (*Account, error) {
	var doc struct {
		Data resource[api.Account] `json:"data"`
	}
	if err := c.call(ctx, http.MethodGet, "/accounts/"+url.PathEscape(account), nil, "", &doc, http.StatusOK); err != nil {
		return nil, err
	}
	return &Account{doc.Data.ID, doc.Data.Attributes}, nil
}

// CreateAccount makes an account with a role (user, payment or admin); an
// empty name gets one generated. Admin only.
func (c *Client) CreateAccount(ctx context.Context, name, role string) (*Account, error) {
	body := map[string]any{"data": map[string]any{"type": "account", "attributes": map[string]string{"name": name, "role": role}}}
	var doc struct {
		Data resource[api.Account] `json:"data"`
	}
	if err := c.call(ctx, http.MethodPost, "/accounts", body, "", &doc, http.StatusCreated); err != nil {
		return nil, err
	}
	return &Account{doc.Data.ID, doc.Data.Attributes}, nil
}

// Tokens lists an account's tokens ("me": the caller's), without showing them.
func (c *Client) Tokens(ctx context.Context, account string) ([]TokenInfo, error) {
	var doc struct {
		Data []resource[api.Token] `json:"data"`
	}
	if err := c.call(ctx, http.MethodGet, "/accounts/"+url.PathEscape(account)+"/tokens", nil, "", &doc, http.StatusOK); err != nil {
		return nil, err
	}
	out := make([]TokenInfo, len(doc.Data))
	for i, d := range doc.Data {
		out[i] = tokenInfo(d)
	}
	return out, nil
}

// CreateToken issues a token for an account ("me": the caller); the answer
// is the only place the token is shown.
func (c *Client) CreateToken(ctx context.Context, account, label string) (*TokenInfo, error) {
	body := map[string]any{"data": map[string]any{"type": "token", "attributes": map[string]string{"label": label}}}
	var doc struct {
		Data resource[api.Token] `json:"data"`
	}
	if err := c.call(ctx, http.MethodPost, "/accounts/"+url.PathEscape(account)+"/tokens", body, "", &doc, http.StatusCreated); err != nil {
		return nil, err
	}
	t := tokenInfo(doc.Data)
	return &t, nil
}

// RevokeToken revokes an account's token by its id, on every node.
func (c *Client) RevokeToken(ctx context.Context, account, tokenID string) error {
	return c.call(ctx, http.MethodDelete, "/accounts/"+url.PathEscape(account)+"/tokens/"+url.PathEscape(tokenID), nil, "", nil, http.StatusNoContent)
}

// RevokeAccess revokes every token of an account and clears its password,
// on every node; it says how many tokens it revoked.
func (c *Client) RevokeAccess(ctx context.Context, account string) (int, error) {
	var doc struct {
		Meta struct {
			Revoked int `json:"revoked"`
		} `json:"meta"`
	}
	if err := c.call(ctx, http.MethodDelete, "/accounts/"+url.PathEscape(account)+"/tokens", nil, "", &doc, http.StatusOK); err != nil {
		return 0, err
	}
	return doc.Meta.Revoked, nil
}
