package ocean

import (
	"context"
	"errors"
	"time"
)

// Store is what the provider keeps in the metadata database: nonces,
// revoked auth tokens, the DDOs registered here and those read from the
// connected chains (persist.Ocean implements it).
type Store interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error

	// Nonce is the last nonce address used; ok is false for a new address.
	Nonce(ctx context.Context, address string) (nonce string, ok bool, err error)
	SetNonce(ctx context.Context, address, nonce string, at time.Time) error
	// SerialWrites tells whether write transactions run one at a time
	// (SQLite), so that what one reads and writes is final before its
	// commit, unless the commit itself fails. Where they run side by side
	// (PostgreSQL's serializable transactions), a concurrent one may still
	// undo it until the commit.
	SerialWrites() bool

	// RevokeToken records the revocation of a token (by hash) until it
	// expires, forgetting those expired by now; false if it was revoked
	// already.
	RevokeToken(ctx context.Context, hash string, expires, now time.Time) (bool, error)
	TokenRevoked(ctx context.Context, hash string) (bool, error)

	// DDO is a DDO registered here (ErrNotFound if none).
	DDO(ctx context.Context, did string) (StoredDDO, error)
	// AddDDO registers a DDO (ErrExists if its DID is registered).
	AddDDO(ctx context.Context, d StoredDDO) error
	DeleteDDO(ctx context.Context, did string) error
	// DDOs is the number of registered DDOs and a page of their documents,
	// oldest first.
	DDOs(ctx context.Context, offset, limit int) (total int, docs [][]byte, err error)

	// ChainDDO is a DDO read from chain chainID (ErrNotFound if none).
	ChainDDO(ctx context.Context, chainID int64, did string) (doc []byte, state uint8, err error)
	PutChainDDO(ctx context.Context, chainID int64, did string, doc []byte, state uint8) error
	SetChainDDOState(ctx context.Context, chainID int64, did string, state uint8) error
	DropChainDDO(ctx context.Context, chainID int64, did string) error
	// ChainScanNext is the first block of chainID not scanned yet (0 at
	// first).
	ChainScanNext(ctx context.Context, chainID int64) (uint64, error)
	SetChainScanNext(ctx context.Context, chainID int64, next uint64) error
}

// JobStore is what compute-to-data keeps in the metadata database: the
// jobs, their queues and their results (persist.Compute implements it).
// Job statuses are the Status codes; "active" are the waiting and running
// ones, "running" those a worker took.
type JobStore interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error

	// AddJob queues a job after every other.
	AddJob(ctx context.Context, j Job) error
	// Waiting is the number of jobs waiting in environment env's queue.
	Waiting(ctx context.Context, env string) (int, error)
	// Claim moves the oldest waiting job of env to started and returns it;
	// ok is false when none waits. A job is claimed once, whatever the
	// workers and processes that ask.
	Claim(ctx context.Context, env string) (j Job, ok bool, err error)

	Jobs(ctx context.Context, f JobFilter) ([]Job, error)
	// RecentJobs are the newest jobs of every owner.
	RecentJobs(ctx context.Context, limit int) ([]Job, error)
	// Active tells whether job id exists and has not ended.
	Active(ctx context.Context, id string) (bool, error)
	// StatusCounts is the number of jobs by status.
	StatusCounts(ctx context.Context) (map[int]int64, error)
	// Load is the number of running and waiting jobs by environment.
	Load(ctx context.Context) (map[string]EnvLoad, error)

	// Advance moves a running job to status; false if it is not running.
	Advance(ctx context.Context, id string, status int) (bool, error)
	// Finish ends a running job (Stop an active one); false if it is not.
	Finish(ctx context.Context, id string, status int, msg string, at, expires time.Time) (bool, error)
	Stop(ctx context.Context, id string, at, expires time.Time) (bool, error)
	// Interrupt ends a job whatever its status.
	Interrupt(ctx context.Context, id, msg string, at, expires time.Time) error
	// Requeue returns the started jobs to their queues.
	Requeue(ctx context.Context) error
	// Running are the jobs a worker took; Queued those waiting.
	Running(ctx context.Context) ([]string, error)
	Queued(ctx context.Context) ([]Job, error)
	// Expired are the ended jobs whose retention has passed at now.
	Expired(ctx context.Context, now time.Time) ([]string, error)
	DeleteJob(ctx context.Context, id string) error

	// AddResult records a result of a running job; false if it is not
	// running.
	AddResult(ctx context.Context, r JobResult) (bool, error)
	Results(ctx context.Context, jobID string) ([]JobResult, error)
	// Result is result idx of owner's job (ErrNotFound if none).
	Result(ctx context.Context, owner, jobID string, idx int) (JobResult, Job, error)
	// DropResults deletes a job's results and returns their blobs' hashes.
	DropResults(ctx context.Context, jobID string) ([]string, error)
}

// Errors of the stores.
var (
	ErrNotFound = errors.New("ocean: not found")
	ErrExists   = errors.New("ocean: already exists")
)

// StoredDDO is a DDO registered with this node.
type StoredDDO struct {
	DID     string
	Owner   string // principal id of its publisher
	Doc     []byte
	Created time.Time
}

// Job is a compute job as stored.
type Job struct {
	ID          string
	Owner       string // lower-case address
	DID         string
	Environment string
	Spec        []byte // a jobSpec as JSON
	Status      int
	Error       string
	Created     time.Time
	Finished    time.Time // zero until it ends
	Expires     time.Time // zero until it ends
}

// JobFilter selects an owner's jobs: all, or by id or DID.
type JobFilter struct {
	Owner, ID, DID string
}

// JobResult is a file a job published.
type JobResult struct {
	JobID string
	Index int
	Name  string
	Type  string
	Size  int64
	Hash  string
}

// EnvLoad counts an environment's jobs.
type EnvLoad struct{ Running, Queued int }
