// Package dds is the DDS external API face: upload a file and get a price
// (402), extend its term, read it and its info. It speaks JSON:API.
package dds

import (
	"context"
	"encoding/json"
	"time"

	"github.com/prometheus-dds/dds/internal/store"
)

// File states.
const (
	StatePending   = "pending"   // uploaded, quoted, not paid
	StateStored    = "stored"    // paid, kept until Expires
	StateExpired   = "expired"   // its term ended; content deleted
	StateAbandoned = "abandoned" // its quote expired unpaid; content deleted
)

// File is a stored (or pending) file.
type File struct {
	ID         string
	Owner      string // principal id
	Name       string
	Size       int64
	Hash       string // hex SHA-256 of the content
	State      string
	Term       time.Duration // paid term so far
	Additional json.RawMessage
	Created    time.Time
	StoredAt   time.Time
	Expires    time.Time
}

var migrations = []string{
	`CREATE TABLE files (
		id TEXT PRIMARY KEY,
		owner_id TEXT NOT NULL,
		name TEXT NOT NULL,
		size INTEGER NOT NULL,
		content_hash TEXT NOT NULL,
		state TEXT NOT NULL,
		term_s INTEGER NOT NULL DEFAULT 0,
		additional TEXT NOT NULL DEFAULT '{}',
		created_at TEXT NOT NULL,
		stored_at TEXT,
		expires_at TEXT
	);
	CREATE INDEX files_state ON files(state, expires_at);
	CREATE INDEX files_owner ON files(owner_id);`,
}

const fileCols = `id,owner_id,name,size,content_hash,state,term_s,additional,created_at,COALESCE(stored_at,''),COALESCE(expires_at,'')`

type scanner interface{ Scan(...any) error }

func scanFile(r scanner) (File, error) {
	var f File
	var term int64
	var add, created, stored, expires string
	if err := r.Scan(&f.ID, &f.Owner, &f.Name, &f.Size, &f.Hash, &f.State, &term, &add, &created, &stored, &expires); err != nil {
		return File{}, store.NotFound(err)
	}
	f.Term, f.Additional, f.Created = time.Duration(term)*time.Second, json.RawMessage(add), store.ParseTime(created)
	if stored != "" {
		f.StoredAt = store.ParseTime(stored)
	}
	if expires != "" {
		f.Expires = store.ParseTime(expires)
	}
	return f, nil
}

func (s *Service) file(ctx context.Context, id string) (File, error) {
	return scanFile(s.db.QueryRowContext(ctx, `SELECT `+fileCols+` FROM files WHERE id=?`, id))
}

func fileTx(tx *store.Tx, id string) (File, error) {
	return scanFile(tx.QueryRow(`SELECT `+fileCols+` FROM files WHERE id=?`, id))
}

func insertFile(tx *store.Tx, f File) error {
	_, err := tx.Exec(`INSERT INTO files(id,owner_id,name,size,content_hash,state,term_s,additional,created_at) VALUES(?,?,?,?,?,?,?,?,?)`,
		f.ID, f.Owner, f.Name, f.Size, f.Hash, f.State, int64(f.Term/time.Second), string(f.Additional), store.Time(f.Created))
	return err
}

// Counts returns the number of files per state, for metrics.
func (s *Service) Counts(ctx context.Context) (map[string]int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT state, COUNT(*) FROM files GROUP BY state`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int64{StatePending: 0, StateStored: 0, StateExpired: 0, StateAbandoned: 0}
	for rows.Next() {
		var st string
		var n int64
		if err := rows.Scan(&st, &n); err != nil {
			return nil, err
		}
		out[st] = n
	}
	return out, rows.Err()
}
