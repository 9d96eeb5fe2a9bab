package storlets

import (
	"context"
	"errors"
	"time"
)

// Store is what storlets keeps in the metadata database (persist.Storlets
// implements it). A lookup that finds nothing is store.ErrNotFound; a create
// or rename to a name another record has is ErrNameTaken.
type Store interface {
	// InTx runs fn in a transaction: a check of a record and the writes it
	// allows (and the release of the data they replace) commit together.
	InTx(ctx context.Context, fn func(ctx context.Context) error) error

	CreateStorlet(ctx context.Context, st *Storlet) error // sets st.ID
	Storlet(ctx context.Context, id int64) (Storlet, error)
	StorletNamed(ctx context.Context, name string) (Storlet, error)
	Storlets(ctx context.Context) ([]Storlet, error) // oldest first
	// UpdateStorlet stores st's metadata (not its data).
	UpdateStorlet(ctx context.Context, st Storlet) error
	SetStorletData(ctx context.Context, id int64, hash string, size int64) error
	DeleteStorlet(ctx context.Context, id int64) error
	// StorletAccounts lists up to limit accounts the storlet is deployed to.
	StorletAccounts(ctx context.Context, id int64, limit int) ([]string, error)
	// DeployStorlet deploys a storlet to an account, after those deployed
	// there, or sets the parameters of its deployment.
	DeployStorlet(ctx context.Context, account string, id int64, params string, at time.Time) error
	// UndeployStorlet removes a deployment; false if there was none.
	UndeployStorlet(ctx context.Context, account string, id int64) (bool, error)
	// Deployments lists the storlets deployed to an account, in deploy order.
	Deployments(ctx context.Context, account string) ([]Deployment, error)
	// DeployedParams returns the parameters of a storlet's deployment to an
	// account.
	DeployedParams(ctx context.Context, account string, id int64) (string, error)

	CreateDependency(ctx context.Context, d *Dependency) error // sets d.ID
	Dependency(ctx context.Context, id int64) (Dependency, error)
	Dependencies(ctx context.Context) ([]Dependency, error) // oldest first
	// UpdateDependency stores d's metadata (not its data).
	UpdateDependency(ctx context.Context, d Dependency) error
	SetDependencyData(ctx context.Context, id int64, hash string, size int64) error
	DeleteDependency(ctx context.Context, id int64) error
	DependencyAccounts(ctx context.Context, id int64, limit int) ([]string, error)
	// DeployDependency deploys a dependency to an account; deploying it
	// again changes nothing.
	DeployDependency(ctx context.Context, account string, id int64, at time.Time) error
	UndeployDependency(ctx context.Context, account string, id int64) (bool, error)
	DeployedDependencies(ctx context.Context, account string) ([]Dependency, error)
	// DeployedDependencyData returns the data of the dependency named name
	// deployed to an account; store.ErrNotFound also when it has none.
	DeployedDependencyData(ctx context.Context, account, name string) (hash string, err error)

	Counts(ctx context.Context) (Counts, error)
}

// ErrNameTaken is a create or rename to a name another record has.
var ErrNameTaken = errors.New("name taken")

// Deployment is a storlet deployed to an account, with its parameters.
type Deployment struct {
	Storlet
	Params string
}

// Counts are how many records of each kind there are.
type Counts struct {
	Storlets, Dependencies                    int64
	StorletDeployments, DependencyDeployments int64
}
