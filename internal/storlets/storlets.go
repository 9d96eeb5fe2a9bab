// Package storlets is the storlets controller face: an admin registers
// storlets (WebAssembly filters) and dependencies (files they read), uploads
// their data, and deploys them to accounts. Every GET of an account's objects
// then runs its deployed storlets, in deploy order, and a request may name
// one with X-Run-Storlet (on an upload, it transforms what is stored). The
// face implements filter.Filter for the faces that serve objects; the code
// runs in the sandbox package.
//
// The contract a storlet is written to (language "wasm", interface 1.0): a
// WASI preview 1 command module, from any source language (Go:
// GOOS=wasip1 GOARCH=wasm go build). Its entry point is the export named by
// main (default _start). stdin is the object, stdout the new object; stderr
// is a log (kept up to 16 KiB, shown in errors and the node's log). argv[0]
// is the storlet's name; the parameters follow as key=value arguments and
// are also in the environment as STORLET_PARAM_<KEY> (upper case, '-' and
// '.' as '_'). The dependencies it lists are files under /deps (read-only;
// $STORLET_DEPS). Exit code 0 is success; anything else fails the request
// (422). There is no network and no other file. Limits (flags): memory,
// wall-clock time, output size, concurrent runs; a storlet over one is
// stopped (422, or 503 when every slot is busy).
package storlets

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/blob"
	"github.com/prometheus-dds/dds/internal/clock"
	"github.com/prometheus-dds/dds/internal/sandbox"
	"github.com/prometheus-dds/dds/internal/store"
)

// Language is the one language storlets are written in here: WebAssembly
// (WASI preview 1 command modules), whatever the source language.
const Language = "wasm"

// InterfaceVersion is the filter contract's version.
const InterfaceVersion = "1.0"

// DepsDir is where a storlet finds its dependencies (read-only).
const DepsDir = "/deps"

var migrations = []string{
	`CREATE TABLE storlets (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		name TEXT NOT NULL UNIQUE,
		language TEXT NOT NULL,
		interface_version TEXT NOT NULL,
		dependency TEXT NOT NULL DEFAULT '',
		object_metadata TEXT NOT NULL DEFAULT 'no',
		main TEXT NOT NULL,
		data_hash TEXT,             -- blob of the module; NULL until uploaded
		data_size INTEGER,
		created_at TEXT NOT NULL
	);
	CREATE TABLE storlet_deployments (
		account TEXT NOT NULL REFERENCES principals(id) ON DELETE CASCADE,
		storlet_id INTEGER NOT NULL REFERENCES storlets(id),
		params TEXT NOT NULL DEFAULT '',
		seq INTEGER NOT NULL,       -- deploy order within the account
		deployed_at TEXT NOT NULL,
		PRIMARY KEY (account, storlet_id)
	);
	CREATE INDEX storlet_deployments_storlet ON storlet_deployments(storlet_id);
	CREATE TABLE storlet_dependencies (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		name TEXT NOT NULL UNIQUE,
		version TEXT NOT NULL,
		permissions TEXT NOT NULL DEFAULT '',
		data_hash TEXT,
		data_size INTEGER,
		created_at TEXT NOT NULL
	);
	CREATE TABLE storlet_dependency_deployments (
		account TEXT NOT NULL REFERENCES principals(id) ON DELETE CASCADE,
		dependency_id INTEGER NOT NULL REFERENCES storlet_dependencies(id),
		deployed_at TEXT NOT NULL,
		PRIMARY KEY (account, dependency_id)
	);
	CREATE INDEX storlet_dependency_deployments_dep ON storlet_dependency_deployments(dependency_id);`,
}

// Service is the storlets face and filter.
type Service struct {
	db            *store.DB
	blobs         *blob.Store
	auth          *auth.Service
	rt            *sandbox.Runtime
	clock         clock.Clock
	log           *slog.Logger
	MaxDependency int64 // largest dependency file, in bytes

	mu      sync.Mutex
	modules map[moduleKey]*compiled
	runs    map[string]int64 // runs by outcome, for metrics
}

type moduleKey struct{ hash, entry string }

// compiled is a module compiled once, on first use.
type compiled struct {
	once sync.Once
	mod  *sandbox.Module
	err  error
}

// New opens the face. rt runs the storlets.
func New(ctx context.Context, db *store.DB, blobs *blob.Store, a *auth.Service, rt *sandbox.Runtime, c clock.Clock, log *slog.Logger, maxDependency int64) (*Service, error) {
	if err := db.Migrate(ctx, "storlets", migrations); err != nil {
		return nil, err
	}
	return &Service{db: db, blobs: blobs, auth: a, rt: rt, clock: c, log: log, MaxDependency: maxDependency,
		modules: map[moduleKey]*compiled{}, runs: map[string]int64{}}, nil
}

// Storlet is a registered storlet.
type Storlet struct {
	ID               int64
	Name             string
	Language         string
	InterfaceVersion string
	Dependency       string // comma-separated dependency names
	ObjectMetadata   string
	Main             string // the exported function to run
	DataHash         string // empty until uploaded
	DataSize         int64
	Created          time.Time
	Deployed         bool // to at least one account
}

// Dependency is a registered dependency: a file storlets read.
type Dependency struct {
	ID          int64
	Name        string
	Version     string
	Permissions string
	DataHash    string
	DataSize    int64
	Created     time.Time
	Deployed    bool
}

// Deps returns the dependency names a storlet lists.
func (s Storlet) Deps() []string {
	var out []string
	for part := range strings.SplitSeq(s.Dependency, ",") {
		// The spec's own example writes "no dependencies" as quotes.
		if n := strings.Trim(part, " \t'\"\u2018\u2019"); n != "" {
			out = append(out, n)
		}
	}
	return out
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

func checkName(kind, name string) error {
	if !nameRE.MatchString(name) {
		return apierr.BadRequest("invalid_name", "%s name %q: use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit", kind, name).At("/name")
	}
	return nil
}

const storletCols = `s.id,s.name,s.language,s.interface_version,s.dependency,s.object_metadata,s.main,
	COALESCE(s.data_hash,''),COALESCE(s.data_size,0),s.created_at,
	EXISTS(SELECT 1 FROM storlet_deployments d WHERE d.storlet_id=s.id)`

type scanner interface{ Scan(...any) error }

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

type querier interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

const depCols = `p.id,p.name,p.version,p.permissions,COALESCE(p.data_hash,''),COALESCE(p.data_size,0),p.created_at,
	EXISTS(SELECT 1 FROM storlet_dependency_deployments d WHERE d.dependency_id=p.id)`

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

// account checks that an account (a principal id, or name) exists.
func (s *Service) account(ctx context.Context, id string) (auth.Principal, error) {
	p, err := s.auth.Principal(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return auth.Principal{}, apierr.NotFound("no account %q (an account is a principal id, as 'dds token create' prints)", id)
	}
	return p, err
}

// module returns the compiled module of a blob, compiling it on first use.
func (s *Service) module(ctx context.Context, hash, entry string) (*sandbox.Module, error) {
	key := moduleKey{hash, entry}
	s.mu.Lock()
	c, ok := s.modules[key]
	if !ok {
		c = &compiled{}
		s.modules[key] = c
	}
	s.mu.Unlock()
	c.once.Do(func() {
		c.mod, c.err = s.compileBlob(ctx, hash, entry)
	})
	if c.err != nil {
		s.mu.Lock()
		if s.modules[key] == c {
			delete(s.modules, key) // let a later request try again
		}
		s.mu.Unlock()
	}
	return c.mod, c.err
}

func (s *Service) compileBlob(ctx context.Context, hash, entry string) (*sandbox.Module, error) {
	f, err := s.blobs.Open(hash)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	wasm, err := readAllLimit(f, s.rt.Limits().MaxModule)
	if err != nil {
		return nil, err
	}
	return s.rt.Compile(context.WithoutCancel(ctx), wasm, entry)
}

// remember caches a module compiled at upload.
func (s *Service) remember(hash string, m *sandbox.Module) {
	c := &compiled{mod: m}
	c.once.Do(func() {})
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.modules[moduleKey{hash, m.Entry()}]; ok {
		m.Close(context.Background()) // the same content, compiled already
		return
	}
	s.modules[moduleKey{hash, m.Entry()}] = c
}

// Counts returns how many storlets, dependencies and deployments there are,
// for metrics.
func (s *Service) Counts(ctx context.Context) (map[string]int64, error) {
	out := map[string]int64{}
	for kind, q := range map[string]string{
		"storlets":               `SELECT COUNT(*) FROM storlets`,
		"dependencies":           `SELECT COUNT(*) FROM storlet_dependencies`,
		"storlet_deployments":    `SELECT COUNT(*) FROM storlet_deployments`,
		"dependency_deployments": `SELECT COUNT(*) FROM storlet_dependency_deployments`,
	} {
		var n int64
		if err := s.db.QueryRowContext(ctx, q).Scan(&n); err != nil {
			return nil, err
		}
		out[kind] = n
	}
	return out, nil
}

// Runs returns the number of storlet runs since start, by outcome.
func (s *Service) Runs(context.Context) (map[string]int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int64{"ok": 0, "storlet_failed": 0, "storlet_timeout": 0, "storlet_memory_limit": 0, "storlet_output_limit": 0, "storlets_busy": 0}
	for k, v := range s.runs {
		out[k] = v
	}
	return out, nil
}

func (s *Service) countRun(outcome string) {
	s.mu.Lock()
	s.runs[outcome]++
	s.mu.Unlock()
}
