package storlets

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus-dds/dds/internal/blob"
	"github.com/prometheus-dds/dds/internal/store"
)

// This file holds every SQL statement of the face: the handlers and the
// filter ask the catalog in domain terms.

// errNameTaken is a create or rename to a name another record has.
var errNameTaken = errors.New("name taken")

// catalog is the face's records in the metadata store, and the blobs they
// point at.
type catalog struct {
	db    *store.DB
	blobs Blobs
}

type scanner interface{ Scan(...any) error }

type querier interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *store.Row
}

// table is what storlets and dependencies share in the schema: records with
// uploaded data, and a table deploying them to accounts.
type table[T record] struct {
	name, alias, cols string
	scan              func(scanner, ...any) (T, error)
	deployments       string // the table deploying it
	idCol             string // the column of deployments naming it
}

// record is what the shared code reads of a storlet or a dependency.
type record interface{ dataHash() string }

func (st Storlet) dataHash() string   { return st.DataHash }
func (d Dependency) dataHash() string { return d.DataHash }

var storletTable = table[Storlet]{name: "storlets", alias: "s", scan: scanStorlet,
	cols: `s.id,s.name,s.language,s.interface_version,s.dependency,s.object_metadata,s.main,
	COALESCE(s.data_hash,''),COALESCE(s.data_size,0),s.created_at,
	EXISTS(SELECT 1 FROM storlet_deployments d WHERE d.storlet_id=s.id)`,
	deployments: "storlet_deployments", idCol: "storlet_id"}

var depTable = table[Dependency]{name: "storlet_dependencies", alias: "p", scan: scanDep,
	cols: `p.id,p.name,p.version,p.permissions,COALESCE(p.data_hash,''),COALESCE(p.data_size,0),p.created_at,
	EXISTS(SELECT 1 FROM storlet_dependency_deployments d WHERE d.dependency_id=p.id)`,
	deployments: "storlet_dependency_deployments", idCol: "dependency_id"}

func scanStorlet(r scanner, extra ...any) (Storlet, error) {
	var st Storlet
	var created string
	dst := append([]any{&st.ID, &st.Name, &st.Language, &st.InterfaceVersion, &st.Dependency, &st.ObjectMetadata, &st.Main,
		&st.DataHash, &st.DataSize, &created, &st.Deployed}, extra...)
	if err := r.Scan(dst...); err != nil {
		return Storlet{}, store.NotFound(err)
	}
	st.Created = store.ParseTime(created)
	return st, nil
}

func scanDep(r scanner, extra ...any) (Dependency, error) {
	var d Dependency
	var created string
	dst := append([]any{&d.ID, &d.Name, &d.Version, &d.Permissions, &d.DataHash, &d.DataSize, &created, &d.Deployed}, extra...)
	if err := r.Scan(dst...); err != nil {
		return Dependency{}, store.NotFound(err)
	}
	d.Created = store.ParseTime(created)
	return d, nil
}

// get reads the record with id; store.ErrNotFound if there is none.
func (t table[T]) get(ctx context.Context, q querier, id int64) (T, error) {
	return t.scan(q.QueryRowContext(ctx, `SELECT `+t.cols+` FROM `+t.name+` `+t.alias+` WHERE `+t.alias+`.id=?`, id))
}

// all lists every record, oldest first.
func (t table[T]) all(ctx context.Context, db *store.DB) ([]T, error) {
	return queryAll(ctx, db, func(sc scanner) (T, error) { return t.scan(sc) },
		`SELECT `+t.cols+` FROM `+t.name+` `+t.alias+` ORDER BY `+t.alias+`.id`)
}

// queryAll returns the rows q selects, each read by row.
func queryAll[R any](ctx context.Context, db *store.DB, row func(scanner) (R, error), q string, args ...any) ([]R, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []R{}
	for rows.Next() {
		r, err := row(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// change runs fn on the current record in a transaction: what fn changes
// commits with the check it made.
func (t table[T]) change(ctx context.Context, db *store.DB, id int64, fn func(tx *store.Tx, cur T) error) (cur T, err error) {
	err = db.Tx(ctx, func(tx *store.Tx) error {
		if cur, err = t.get(ctx, tx, id); err != nil {
			return err
		}
		return fn(tx, cur)
	})
	return cur, err
}

// remove deletes a record and releases its data, once check (given the
// accounts it is deployed to, at most 10) allows.
func (t table[T]) remove(ctx context.Context, c catalog, id int64, check func(deployedTo []string) error) error {
	_, err := t.change(ctx, c.db, id, func(tx *store.Tx, cur T) error {
		if err := check(deployedTo(tx, `SELECT account FROM `+t.deployments+` WHERE `+t.idCol+`=? ORDER BY account`, id)); err != nil {
			return err
		}
		if _, err := tx.Exec(`DELETE FROM `+t.name+` WHERE id=?`, id); err != nil {
			return err
		}
		if cur.dataHash() != "" {
			return c.blobs.Unref(store.WithTx(ctx, tx), cur.dataHash())
		}
		return nil
	})
	return err
}

// deployedTo lists up to 10 accounts for an error message.
func deployedTo(tx *store.Tx, q string, id int64) []string {
	rows, err := tx.Query(q+` LIMIT 10`, id)
	if err != nil {
		return []string{"(unknown accounts)"}
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a string
		if rows.Scan(&a) == nil {
			out = append(out, a)
		}
	}
	return out
}

// setData commits staged as the record's data, releasing the data it
// replaces, once check allows. It returns the record as it was.
func (t table[T]) setData(ctx context.Context, c catalog, id int64, staged *blob.Staged, check func(cur T) error) (cur T, err error) {
	err = c.blobs.Commit(ctx, staged, func(ctx context.Context) error {
		tx := store.TxFrom(ctx)
		if cur, err = t.get(ctx, tx, id); err != nil {
			return err
		}
		if err := check(cur); err != nil {
			return err
		}
		if old := cur.dataHash(); old != "" {
			if err := c.blobs.Unref(ctx, old); err != nil {
				return err
			}
		}
		_, err := tx.Exec(`UPDATE `+t.name+` SET data_hash=?, data_size=? WHERE id=?`, staged.Hash, staged.Size, id)
		return err
	})
	return cur, err
}

// undeploy removes a deployment; false if there was none.
func (t table[T]) undeploy(ctx context.Context, db *store.DB, account string, id int64) (bool, error) {
	res, err := db.ExecContext(ctx, `DELETE FROM `+t.deployments+` WHERE account=? AND `+t.idCol+`=?`, account, id)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// nameTaken maps the store's unique-name violation to errNameTaken.
func nameTaken(err error) error {
	if store.IsConflict(err) {
		return errNameTaken
	}
	return err
}

// --- storlets ---

// createStorlet adds st and sets its ID.
func (c catalog) createStorlet(ctx context.Context, st *Storlet) error {
	err := c.db.QueryRowContext(ctx, `INSERT INTO storlets(name,language,interface_version,dependency,object_metadata,main,created_at) VALUES(?,?,?,?,?,?,?) RETURNING id`,
		st.Name, st.Language, st.InterfaceVersion, st.Dependency, st.ObjectMetadata, st.Main, store.Time(st.Created)).Scan(&st.ID)
	return nameTaken(err)
}

// updateStorlet stores the metadata edit makes of the current storlet.
func (c catalog) updateStorlet(ctx context.Context, id int64, edit func(cur Storlet) (Storlet, error)) (st Storlet, err error) {
	_, err = storletTable.change(ctx, c.db, id, func(tx *store.Tx, cur Storlet) error {
		if st, err = edit(cur); err != nil {
			return err
		}
		_, err := tx.Exec(`UPDATE storlets SET name=?,language=?,interface_version=?,dependency=?,object_metadata=?,main=? WHERE id=?`,
			st.Name, st.Language, st.InterfaceVersion, st.Dependency, st.ObjectMetadata, st.Main, id)
		return nameTaken(err)
	})
	return st, err
}

// storletNamed finds a storlet by name.
func (c catalog) storletNamed(ctx context.Context, name string) (Storlet, error) {
	return scanStorlet(c.db.QueryRowContext(ctx, `SELECT `+storletTable.cols+` FROM storlets s WHERE s.name=?`, name))
}

// deployment is a storlet deployed to an account, with its parameters.
type deployment struct {
	Storlet
	params string
}

// deployments lists the storlets deployed to an account, in deploy order.
func (c catalog) deployments(ctx context.Context, account string) ([]deployment, error) {
	return queryAll(ctx, c.db, func(sc scanner) (d deployment, err error) {
		d.Storlet, err = scanStorlet(sc, &d.params)
		return d, err
	}, `SELECT `+storletTable.cols+`, d.params FROM storlet_deployments d
		JOIN storlets s ON s.id=d.storlet_id WHERE d.account=? ORDER BY d.seq`, account)
}

// deployedParams returns the parameters of a storlet deployed to an
// account; store.ErrNotFound if it is not deployed there.
func (c catalog) deployedParams(ctx context.Context, account string, storlet int64) (string, error) {
	var params string
	err := c.db.QueryRowContext(ctx, `SELECT params FROM storlet_deployments WHERE account=? AND storlet_id=?`, account, storlet).Scan(&params)
	return params, store.NotFound(err)
}

// deployStorlet deploys a storlet to an account (or sets the parameters of
// its deployment) once check allows; a new deployment runs last.
func (c catalog) deployStorlet(ctx context.Context, account string, id int64, params string, now time.Time, check func(Storlet) error) (Storlet, error) {
	return storletTable.change(ctx, c.db, id, func(tx *store.Tx, st Storlet) error {
		if err := check(st); err != nil {
			return err
		}
		_, err := tx.Exec(`INSERT INTO storlet_deployments(account,storlet_id,params,seq,deployed_at)
			VALUES(?,?,?,(SELECT COALESCE(MAX(seq),0)+1 FROM storlet_deployments WHERE account=?),?)
			ON CONFLICT(account,storlet_id) DO UPDATE SET params=excluded.params`,
			account, id, params, account, store.Time(now))
		return err
	})
}

// --- dependencies ---

// createDependency adds d and sets its ID.
func (c catalog) createDependency(ctx context.Context, d *Dependency) error {
	err := c.db.QueryRowContext(ctx, `INSERT INTO storlet_dependencies(name,version,permissions,created_at) VALUES(?,?,?,?) RETURNING id`,
		d.Name, d.Version, d.Permissions, store.Time(d.Created)).Scan(&d.ID)
	return nameTaken(err)
}

// updateDependency stores the metadata edit makes of the current dependency.
func (c catalog) updateDependency(ctx context.Context, id int64, edit func(cur Dependency) (Dependency, error)) (d Dependency, err error) {
	_, err = depTable.change(ctx, c.db, id, func(tx *store.Tx, cur Dependency) error {
		if d, err = edit(cur); err != nil {
			return err
		}
		_, err := tx.Exec(`UPDATE storlet_dependencies SET name=?,version=?,permissions=? WHERE id=?`, d.Name, d.Version, d.Permissions, id)
		return nameTaken(err)
	})
	return d, err
}

// deployedDependencies lists the dependencies deployed to an account.
func (c catalog) deployedDependencies(ctx context.Context, account string) ([]Dependency, error) {
	return queryAll(ctx, c.db, func(sc scanner) (Dependency, error) { return scanDep(sc) },
		`SELECT `+depTable.cols+` FROM storlet_dependency_deployments d
		JOIN storlet_dependencies p ON p.id=d.dependency_id WHERE d.account=? ORDER BY d.deployed_at, p.id`, account)
}

// deployDependency deploys a dependency to an account once check allows;
// deploying it again changes nothing.
func (c catalog) deployDependency(ctx context.Context, account string, id int64, now time.Time, check func(Dependency) error) (Dependency, error) {
	return depTable.change(ctx, c.db, id, func(tx *store.Tx, d Dependency) error {
		if err := check(d); err != nil {
			return err
		}
		_, err := tx.Exec(`INSERT INTO storlet_dependency_deployments(account,dependency_id,deployed_at) VALUES(?,?,?)
			ON CONFLICT(account,dependency_id) DO NOTHING`, account, id, store.Time(now))
		return err
	})
}

// dependencyData returns the blob of a dependency deployed to an account;
// store.ErrNotFound if it is not deployed there or has no data.
func (c catalog) dependencyData(ctx context.Context, account, name string) (string, error) {
	var hash string
	err := c.db.QueryRowContext(ctx, `SELECT COALESCE(p.data_hash,'') FROM storlet_dependencies p
		JOIN storlet_dependency_deployments d ON d.dependency_id=p.id WHERE p.name=? AND d.account=?`, name, account).Scan(&hash)
	if err == nil && hash == "" {
		return "", store.ErrNotFound
	}
	return hash, store.NotFound(err)
}

// counts returns how many storlets, dependencies and deployments there are.
func (c catalog) counts(ctx context.Context) (map[string]int64, error) {
	out := map[string]int64{}
	for kind, q := range map[string]string{
		"storlets":               `SELECT COUNT(*) FROM storlets`,
		"dependencies":           `SELECT COUNT(*) FROM storlet_dependencies`,
		"storlet_deployments":    `SELECT COUNT(*) FROM storlet_deployments`,
		"dependency_deployments": `SELECT COUNT(*) FROM storlet_dependency_deployments`,
	} {
		var n int64
		if err := c.db.QueryRowContext(ctx, q).Scan(&n); err != nil {
			return nil, err
		}
		out[kind] = n
	}
	return out, nil
}
