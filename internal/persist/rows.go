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
	var out []T
	err := eachRow(ctx, q, scan, func(v T) error { out = append(out, v); return nil }, query, args...)
	return out, err
}

// byLabel runs a GROUP BY of (label, number) rows, the counts behind a gauge
// say, and returns the numbers by label.
func byLabel(ctx context.Context, q rowsQuerier, query string, args ...any) (map[string]int64, error) {
	type count struct {
		label string
		n     int64
	}
	out := map[string]int64{}
	err := eachRow(ctx, q, func(r scanner) (c count, err error) { return c, r.Scan(&c.label, &c.n) },
		func(c count) error { out[c.label] = c.n; return nil }, query, args...)
	return out, err
}

// eachRow is queryAll that hands each row to fn as it is read, for answers
// that grow with the database: a caller that adds them up holds none.
func eachRow[T any](ctx context.Context, q rowsQuerier, scan func(scanner) (T, error), fn func(T) error, query string, args ...any) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return store.Classify(err)
		}
		if err := fn(v); err != nil {
			return err
		}
	}
	return store.Classify(rows.Err())
}
