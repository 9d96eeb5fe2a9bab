package api

import "time"

// Account is an account as the accounts API renders it.
type Account struct {
	Name      string    `json:"name"`
	Role      string    `json:"role"` // user, payment or admin
	CreatedAt time.Time `json:"created_at"`
}

// Token is a token as the accounts API renders it: Token itself only in the
// answer that made it.
type Token struct {
	Label     string    `json:"label"`
	CreatedAt time.Time `json:"created_at"`
	Token     string    `json:"token,omitempty"`
}
