package persist

import (
	"context"
	"time"

	"github.com/prometheus-dds/dds/internal/store"
	"github.com/prometheus-dds/dds/internal/storlets"
)

// Storlets keeps the storlets face's storlets, dependencies and their
// deployments to accounts.
type Storlets struct{ db *store.DB }

// NewStorlets returns the storlets face's Store on db.
func NewStorlets(db *store.DB) *Storlets { return &Storlets{db: db} }

var _ storlets.Store = (*Storlets)(nil)

func (p *Storlets) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	return p.db.InTx(ctx, fn)
}

// storletTable is what storlets and dependencies share in the schema:
// records with uploaded data, and a table deploying them to accounts.
type storletTable[T any] struct {
	name, alias, cols string
	scan              func(scanner, ...any) (T, error)
	deployments       string // the table deploying it
	idCol             string // the column of deployments naming it
}

var storletRecords = storletTable[storlets.Storlet]{name: "storlets", alias: "s", scan: storletScan,
	cols: `s.id,s.name,s.language,s.interface_version,s.dependency,s.object_metadata,s.main,
	COALESCE(s.data_hash,''),COALESCE(s.data_size,0),s.created_at,
	EXISTS(SELECT 1 FROM storlet_deployments d WHERE d.storlet_id=s.id)`,
	deployments: "storlet_deployments", idCol: "storlet_id"}

var storletDeps = storletTable[storlets.Dependency]{name: "storlet_dependencies", alias: "p", scan: storletScanDep,
	cols: `p.id,p.name,p.version,p.permissions,COALESCE(p.data_hash,''),COALESCE(p.data_size,0),p.created_at,
	EXISTS(SELECT 1 FROM storlet_dependency_deployments d WHERE d.dependency_id=p.id)`,
	deployments: "storlet_dependency_deployments", idCol: "dependency_id"}

func storletScan(r scanner, extra ...any) (storlets.Storlet, error) {
	var st storlets.Storlet
	var created string
	dst := append([]any{&st.ID, &st.Name, &st.Language, &st.InterfaceVersion, &st.Dependency, &st.ObjectMetadata, &st.Main,
		&st.DataHash, &st.DataSize, &created, &st.Deployed}, extra...)
	if err := r.Scan(dst...); err != nil {
		return storlets.Storlet{}, store.NotFound(err)
	}
	st.Created = store.ParseTime(created)
	return st, nil
}

func storletScanDep(r scanner, extra ...any) (storlets.Dependency, error) {
	var d storlets.Dependency
	var created string
	dst := append([]any{&d.ID, &d.Name, &d.Version, &d.Permissions, &d.DataHash, &d.DataSize, &created, &d.Deployed}, extra...)
	if err := r.Scan(dst...); err != nil {
		return storlets.Dependency{}, store.NotFound(err)
	}
	d.Created = store.ParseTime(created)
	return d, nil
}

// get reads the record with id.
func (t storletTable[T]) get(ctx context.Context, q store.Querier, id int64) (T, error) {
	return t.scan(q.QueryRowContext(ctx, `SELECT `+t.cols+` FROM `+t.name+` `+t.alias+` WHERE `+t.alias+`.id=?`, id))
}

// all lists every record, oldest first.
func (t storletTable[T]) all(ctx context.Context, q store.Querier) ([]T, error) {
	return queryAll(ctx, q, func(sc scanner) (T, error) { return t.scan(sc) },
		`SELECT `+t.cols+` FROM `+t.name+` `+t.alias+` ORDER BY `+t.alias+`.id`)
}

func (t storletTable[T]) setData(ctx context.Context, q store.Querier, id int64, hash string, size int64) error {
	return storletOne(q.ExecContext(ctx, `UPDATE `+t.name+` SET data_hash=?, data_size=? WHERE id=?`, hash, size, id))
}

func (t storletTable[T]) delete(ctx context.Context, q store.Querier, id int64) error {
	return storletOne(q.ExecContext(ctx, `DELETE FROM `+t.name+` WHERE id=?`, id))
}

// accounts lists up to limit accounts the record is deployed to, by name.
func (t storletTable[T]) accounts(ctx context.Context, q store.Querier, id int64, limit int) ([]string, error) {
	return queryAll(ctx, q, func(sc scanner) (a string, err error) { return a, sc.Scan(&a) },
		`SELECT account FROM `+t.deployments+` WHERE `+t.idCol+`=? ORDER BY account LIMIT ?`, id, limit)
}

// undeploy removes a deployment; false if there was none.
func (t storletTable[T]) undeploy(ctx context.Context, q store.Querier, account string, id int64) (bool, error) {
	res, err := q.ExecContext(ctx, `DELETE FROM `+t.deployments+` WHERE account=? AND `+t.idCol+`=?`, account, id)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// storletOne is store.ErrNotFound for a write that changed no row.
func storletOne(res interface{ RowsAffected() (int64, error) }, err error) error {
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// storletNameTaken maps the unique-name violation to storlets.ErrNameTaken.
func storletNameTaken(err error) error {
	if store.IsConflict(err) {
		return storlets.ErrNameTaken
	}
	return err
}

// --- storlets ---

func (p *Storlets) CreateStorlet(ctx context.Context, st *storlets.Storlet) error {
	err := p.db.Q(ctx).QueryRowContext(ctx, `INSERT INTO storlets(name,language,interface_version,dependency,object_metadata,main,created_at) VALUES(?,?,?,?,?,?,?) RETURNING id`,
		st.Name, st.Language, st.InterfaceVersion, st.Dependency, st.ObjectMetadata, st.Main, store.Time(st.Created)).Scan(&st.ID)
	return storletNameTaken(err)
}

func (p *Storlets) Storlet(ctx context.Context, id int64) (storlets.Storlet, error) {
	return storletRecords.get(ctx, p.db.Q(ctx), id)
}

func (p *Storlets) StorletNamed(ctx context.Context, name string) (storlets.Storlet, error) {
	return storletScan(p.db.Q(ctx).QueryRowContext(ctx, `SELECT `+storletRecords.cols+` FROM storlets s WHERE s.name=?`, name))
}

func (p *Storlets) Storlets(ctx context.Context) ([]storlets.Storlet, error) {
	return storletRecords.all(ctx, p.db.Q(ctx))
}

func (p *Storlets) UpdateStorlet(ctx context.Context, st storlets.Storlet) error {
	return storletNameTaken(storletOne(p.db.Q(ctx).ExecContext(ctx, `UPDATE storlets SET name=?,language=?,interface_version=?,dependency=?,object_metadata=?,main=? WHERE id=?`,
		st.Name, st.Language, st.InterfaceVersion, st.Dependency, st.ObjectMetadata, st.Main, st.ID)))
}

func (p *Storlets) SetStorletData(ctx context.Context, id int64, hash string, size int64) error {
	return storletRecords.setData(ctx, p.db.Q(ctx), id, hash, size)
}

func (p *Storlets) DeleteStorlet(ctx context.Context, id int64) error {
	return storletRecords.delete(ctx, p.db.Q(ctx), id)
}

func (p *Storlets) StorletAccounts(ctx context.Context, id int64, limit int) ([]string, error) {
	return storletRecords.accounts(ctx, p.db.Q(ctx), id, limit)
}

func (p *Storlets) DeployStorlet(ctx context.Context, account string, id int64, params string, at time.Time) error {
	_, err := p.db.Q(ctx).ExecContext(ctx, `INSERT INTO storlet_deployments(account,storlet_id,params,seq,deployed_at)
		VALUES(?,?,?,(SELECT COALESCE(MAX(seq),0)+1 FROM storlet_deployments WHERE account=?),?)
		ON CONFLICT(account,storlet_id) DO UPDATE SET params=excluded.params`,
		account, id, params, account, store.Time(at))
	return err
}

func (p *Storlets) UndeployStorlet(ctx context.Context, account string, id int64) (bool, error) {
	return storletRecords.undeploy(ctx, p.db.Q(ctx), account, id)
}

func (p *Storlets) Deployments(ctx context.Context, account string) ([]storlets.Deployment, error) {
	return queryAll(ctx, p.db.Q(ctx), func(sc scanner) (d storlets.Deployment, err error) {
		d.Storlet, err = storletScan(sc, &d.Params)
		return d, err
	}, `SELECT `+storletRecords.cols+`, d.params FROM storlet_deployments d
		JOIN storlets s ON s.id=d.storlet_id WHERE d.account=? ORDER BY d.seq`, account)
}

func (p *Storlets) DeployedParams(ctx context.Context, account string, id int64) (string, error) {
	var params string
	err := p.db.Q(ctx).QueryRowContext(ctx, `SELECT params FROM storlet_deployments WHERE account=? AND storlet_id=?`, account, id).Scan(&params)
	return params, store.NotFound(err)
}

// --- dependencies ---

func (p *Storlets) CreateDependency(ctx context.Context, d *storlets.Dependency) error {
	err := p.db.Q(ctx).QueryRowContext(ctx, `INSERT INTO storlet_dependencies(name,version,permissions,created_at) VALUES(?,?,?,?) RETURNING id`,
		d.Name, d.Version, d.Permissions, store.Time(d.Created)).Scan(&d.ID)
	return storletNameTaken(err)
}

func (p *Storlets) Dependency(ctx context.Context, id int64) (storlets.Dependency, error) {
	return storletDeps.get(ctx, p.db.Q(ctx), id)
}

func (p *Storlets) Dependencies(ctx context.Context) ([]storlets.Dependency, error) {
	return storletDeps.all(ctx, p.db.Q(ctx))
}

func (p *Storlets) UpdateDependency(ctx context.Context, d storlets.Dependency) error {
	return storletNameTaken(storletOne(p.db.Q(ctx).ExecContext(ctx, `UPDATE storlet_dependencies SET name=?,version=?,permissions=? WHERE id=?`,
		d.Name, d.Version, d.Permissions, d.ID)))
}

func (p *Storlets) SetDependencyData(ctx context.Context, id int64, hash string, size int64) error {
	return storletDeps.setData(ctx, p.db.Q(ctx), id, hash, size)
}

func (p *Storlets) DeleteDependency(ctx context.Context, id int64) error {
	return storletDeps.delete(ctx, p.db.Q(ctx), id)
}

func (p *Storlets) DependencyAccounts(ctx context.Context, id int64, limit int) ([]string, error) {
	return storletDeps.accounts(ctx, p.db.Q(ctx), id, limit)
}

func (p *Storlets) DeployDependency(ctx context.Context, account string, id int64, at time.Time) error {
	_, err := p.db.Q(ctx).ExecContext(ctx, `INSERT INTO storlet_dependency_deployments(account,dependency_id,deployed_at) VALUES(?,?,?)
		ON CONFLICT(account,dependency_id) DO NOTHING`, account, id, store.Time(at))
	return err
}

func (p *Storlets) UndeployDependency(ctx context.Context, account string, id int64) (bool, error) {
	return storletDeps.undeploy(ctx, p.db.Q(ctx), account, id)
}

func (p *Storlets) DeployedDependencies(ctx context.Context, account string) ([]storlets.Dependency, error) {
	return queryAll(ctx, p.db.Q(ctx), func(sc scanner) (storlets.Dependency, error) { return storletScanDep(sc) },
		`SELECT `+storletDeps.cols+` FROM storlet_dependency_deployments d
		JOIN storlet_dependencies p ON p.id=d.dependency_id WHERE d.account=? ORDER BY d.deployed_at, p.id`, account)
}

func (p *Storlets) DeployedDependencyData(ctx context.Context, account, name string) (string, error) {
	var hash string
	err := p.db.Q(ctx).QueryRowContext(ctx, `SELECT COALESCE(p.data_hash,'') FROM storlet_dependencies p
		JOIN storlet_dependency_deployments d ON d.dependency_id=p.id WHERE p.name=? AND d.account=?`, name, account).Scan(&hash)
	if err == nil && hash == "" {
		return "", store.ErrNotFound
	}
	return hash, store.NotFound(err)
}

func (p *Storlets) Counts(ctx context.Context) (storlets.Counts, error) {
	var c storlets.Counts
	for _, q := range []struct {
		n     *int64
		query string
	}{
		{&c.Storlets, `SELECT COUNT(*) FROM storlets`},
		{&c.Dependencies, `SELECT COUNT(*) FROM storlet_dependencies`},
		{&c.StorletDeployments, `SELECT COUNT(*) FROM storlet_deployments`},
		{&c.DependencyDeployments, `SELECT COUNT(*) FROM storlet_dependency_deployments`},
	} {
		if err := p.db.Q(ctx).QueryRowContext(ctx, q.query).Scan(q.n); err != nil {
			return storlets.Counts{}, err
		}
	}
	return c, nil
}
