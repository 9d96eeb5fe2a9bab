package auth

import (
	"context"
	"errors"
	"time"
)

// Store is what auth keeps in the metadata database (persist.Auth implements it).
type Store interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error

	// AddPrincipal adds p; ErrNameTaken if another principal has its name.
	// A principal whose id is known already is left as it is (an event
	// applied again).
	AddPrincipal(ctx context.Context, p Principal) error
	// Principal looks a principal up by id or, failing that, by name
	// (ErrNoPrincipal).
	Principal(ctx context.Context, idOrName string) (Principal, error)
	// PrincipalRole is the role of the principal with id (ErrNoPrincipal).
	PrincipalRole(ctx context.Context, id string) (Role, error)
	// TokenPrincipal is the principal a token hash belongs to
	// (ErrNoPrincipal): every authenticated request asks.
	TokenPrincipal(ctx context.Context, hash string) (Principal, error)
	// Principals lists every principal, oldest first.
	Principals(ctx context.Context) ([]Principal, error)
	CountRole(ctx context.Context, role Role) (int, error)
	// NameTaken tells whether a principal other than id is named name.
	NameTaken(ctx context.Context, name, id string) (bool, error)
	// SetPasswordHash sets the password hash of principal id, or removes it
	// if hash is "". It tells whether the principal exists.
	SetPasswordHash(ctx context.Context, id, hash string) (bool, error)
	// PasswordHash is the id and password hash ("": none) of the principal
	// named name (ErrNoPrincipal).
	PasswordHash(ctx context.Context, name string) (id, hash string, err error)

	// AddToken stores a token; one whose hash is known already is left as
	// it is.
	AddToken(ctx context.Context, t StoredToken) error
	// Tokens lists a principal's tokens in the order they were issued.
	Tokens(ctx context.Context, principalID string) ([]StoredToken, error)
	// TokenOwner is the principal a token hash belongs to (ErrNoToken).
	TokenOwner(ctx context.Context, hash string) (principalID string, err error)
	// RevokeToken deletes a token and remembers it was revoked at.
	RevokeToken(ctx context.Context, hash string, at time.Time) error
	// Revoked tells whether a token hash was revoked.
	Revoked(ctx context.Context, hash string) (bool, error)

	// EventHead is the seq of the last event of origin this node has (0: none).
	EventHead(ctx context.Context, origin string) (int64, error)
	// Heads is EventHead of every origin this node has events of.
	Heads(ctx context.Context) (map[string]int64, error)
	// AddEvent appends an event to the log of its origin, as it is.
	AddEvent(ctx context.Context, e Event) error
	// Events lists at most limit events of origin past seq after, in order.
	Events(ctx context.Context, origin string, after int64, limit int) ([]Event, error)
}

// StoredToken is a token as stored: never the token itself.
type StoredToken struct {
	Hash      string // hex SHA-256 of the token
	Principal string
	Label     string
	Sealed    []byte // the token sealed with the node secret; empty if issued on another node
	Created   time.Time
}

// ErrNameTaken is what Store.AddPrincipal returns for a name in use.
var ErrNameTaken = errors.New("auth: principal name taken")

// ErrNoToken is what Store.TokenOwner returns for an unknown token.
var ErrNoToken = errors.New("auth: no such token")
