package store

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Copy copies every row of from into to: how an operator moves a node's
// metadata from its SQLite file to PostgreSQL (dds meta copy), or back. Both
// are brought to Schema first; to must hold no rows. It all happens in one
// transaction of to, so a failure leaves to as empty as it was. from is
// only read; the node must be stopped while it runs.
func Copy(ctx context.Context, from, to *DB) (rows map[string]int64, err error) {
	for _, db := range []*DB{from, to} {
		if err := db.MigrateAll(ctx); err != nil {
			return nil, err
		}
	}
	have, err := tableNames(ctx, to)
	if err != nil {
		return nil, err
	}
	var tables []string
	for _, t := range copyOrder() {
		if slices.Contains(have, t) {
			tables = append(tables, t)
		}
	}
	for _, t := range tables {
		var n int64
		if err := to.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+t).Scan(&n); err != nil {
			return nil, fmt.Errorf("store: copy: %s: %w", t, err)
		}
		if n > 0 {
			return nil, fmt.Errorf("store: copy: the destination already holds data (%d rows in %s): copy into an empty database", n, t)
		}
	}
	rows = map[string]int64{}
	err = to.Tx(ctx, func(tx *Tx) error {
		for _, t := range tables {
			n, err := copyTable(ctx, from, tx, t)
			if err != nil {
				return fmt.Errorf("store: copy: %s: %w", t, err)
			}
			rows[t] = n
		}
		return restartIdentities(ctx, tx)
	})
	if err != nil {
		return nil, err
	}
	return rows, nil
}

func copyTable(ctx context.Context, from *DB, tx *Tx, table string) (int64, error) {
	src, err := from.QueryContext(ctx, `SELECT * FROM `+table)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	cols, err := src.Columns()
	if err != nil {
		return 0, err
	}
	insert := fmt.Sprintf(`INSERT INTO %s(%s) VALUES(%s)`, table, strings.Join(cols, ","),
		strings.TrimSuffix(strings.Repeat("?,", len(cols)), ","))
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var n int64
	for src.Next() {
		if err := src.Scan(ptrs...); err != nil {
			return n, classify(err)
		}
		if _, err := tx.ExecContext(ctx, insert, vals...); err != nil {
			return n, err
		}
		n++
	}
	return n, classify(src.Err())
}

// tableNames lists the tables db holds.
func tableNames(ctx context.Context, db *DB) ([]string, error) {
	q := `SELECT name FROM sqlite_master WHERE type = 'table'`
	if db.dialect == Postgres {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`
	}
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, classify(err)
		}
		names = append(names, n)
	}
	return names, classify(rows.Err())
}

// restartIdentities moves PostgreSQL's identity sequences past the ids just
// copied, so the next row gets a new one.
func restartIdentities(ctx context.Context, tx *Tx) error {
	if tx.dialect != Postgres {
		return nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT table_name, column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND is_identity = 'YES'`)
	if err != nil {
		return err
	}
	var idents [][2]string
	for rows.Next() {
		var t, c string
		if err := rows.Scan(&t, &c); err != nil {
			rows.Close()
			return err
		}
		idents = append(idents, [2]string{t, c})
	}
	rows.Close()
	for _, tc := range idents {
		q := fmt.Sprintf(`SELECT setval(pg_get_serial_sequence('%s', '%s'), COALESCE(MAX(%s), 0) + 1, false) FROM %s`, tc[0], tc[1], tc[1], tc[0])
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

var (
	createTable = regexp.MustCompile(`(?i)CREATE TABLE (?:IF NOT EXISTS )?(\w+)`)
	references  = regexp.MustCompile(`(?i)REFERENCES (\w+)`)
)

// copyOrder lists Schema's tables (but schema_migrations, which each
// database keeps for itself) with every table after those it references.
func copyOrder() []string {
	var order []string
	refs := map[string][]string{}
	for _, c := range Schema {
		for _, step := range c.Steps {
			text := stepFor(SQLite, step)
			at := createTable.FindAllStringSubmatchIndex(text, -1)
			for i, m := range at {
				end := len(text)
				if i+1 < len(at) {
					end = at[i+1][0]
				}
				name := text[m[2]:m[3]]
				order = append(order, name)
				for _, r := range references.FindAllStringSubmatch(text[m[1]:end], -1) {
					refs[name] = append(refs[name], r[1])
				}
			}
		}
	}
	var sorted []string
	var visit func(string)
	visit = func(t string) {
		if slices.Contains(sorted, t) {
			return
		}
		for _, r := range refs[t] {
			visit(r)
		}
		sorted = append(sorted, t)
	}
	for _, t := range order {
		visit(t)
	}
	return sorted
}
