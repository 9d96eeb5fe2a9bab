package persist

import (
	"context"
	"database/sql"
	"slices"
	"strings"
)

// Query is one statement a Store runs, named by what it serves.
type Query struct{ What, SQL string }

// Watched lists the statements behind the requests whose cost bench/scale
// watches as a node fills, as the Stores run them (not copies), so that the
// plans it prints on the filled database are the node's own: each should
// read an index range, not scan a table or sort in a temporary tree.
func Watched() []Query {
	return []Query{
		{"asset by id (Assets.Asset)", assetsByID},
		{"readable asset (Assets.Readable)", assetsReadableByID},
		{"DEP-7 listing (Assets.EachReadable)", assetsIDs},
		{"asset quota (Assets.ContentBytes, with --asset-quota)", assetsContentBytes},
		{"GET /files first page (Files.Owned)", filesOwned},
		{"GET /files next page (Files.Owned)", filesOwnedAfter},
		{"stored files, a page (Files.StoredAfter: audits, console)", filesStoredAfter},
		{"replication pass (Files.Unsettled)", filesUnsettled},
		{"statement (Ledger.EachTerm)", ledgerTermsOverlapping},
		{"object read (Blobs.Find)", blobsFind},
		{"objects to collect (Blobs.Unreferenced)", blobsUnreferenced},
		{"object kept at a key (Blobs.LocationUsed)", blobsAtLocation},
	}
}

// Plan is how SQLite runs a statement (EXPLAIN QUERY PLAN).
type Plan struct {
	Steps []string
	// Grows: a step scans a whole table or index, so the statement costs
	// more as the table grows, whatever its answer.
	Grows bool
	// Ranged: it reads every row of a range (or a partial index), so it
	// costs as its answer grows.
	Ranged bool
}

// ExplainSQLite returns SQLite's plan of q on db, every parameter bound to
// a placeholder value.
func ExplainSQLite(ctx context.Context, db *sql.DB, q Query) (Plan, error) {
	// A scan of a partial index reads the rows it keeps only (the public
	// assets of a listing), not the table.
	partial, err := queryAll(ctx, db, func(sc scanner) (name string, err error) { return name, sc.Scan(&name) },
		`SELECT name FROM sqlite_master WHERE type='index' AND sql LIKE '% WHERE %'`)
	if err != nil {
		return Plan{}, err
	}
	args := make([]any, strings.Count(q.SQL, "?"))
	for i := range args {
		args[i] = "x"
	}
	steps, err := queryAll(ctx, db, func(sc scanner) (detail string, err error) {
		var id, parent, notused int
		return detail, sc.Scan(&id, &parent, &notused, &detail)
	}, "EXPLAIN QUERY PLAN "+q.SQL, args...)
	if err != nil {
		return Plan{}, err
	}
	p := Plan{Steps: steps}
	for _, s := range steps {
		switch {
		case strings.HasPrefix(s, "SCAN") && slices.ContainsFunc(partial, func(name string) bool { return strings.HasSuffix(s, " INDEX "+name) }):
			p.Ranged = true
		case strings.HasPrefix(s, "SCAN"):
			p.Grows = true
		case strings.ContainsAny(s, "<>"):
			p.Ranged = true
		}
	}
	return p, nil
}
