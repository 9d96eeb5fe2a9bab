package persist

import (
	"context"
	"database/sql"

	"github.com/prometheus-dds/dds/internal/store"
)

// scanner is a row to scan: *store.Row or *sql.Rows.
type scanner interface{ Scan(...any) error }

// rowsQuerier runs a query for its rows: a store.Querier, or a *sql.DB that
// is not the node's (bench/scale's read-only look at one).
type rowsQuerier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

// queryAll runs query and scans every row with scan. A database lost between
// rows is reported as store.Unavailable (a 503), like one lost before them.
func queryAll[T any](ctx context.Context, q rowsQuerier, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, store.Classify(err)
		}
		out = append(out, v)
	}
	return out, store.Classify(rows.Err())
}
