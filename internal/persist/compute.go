package persist

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus-dds/dds/internal/ocean"
	"github.com/prometheus-dds/dds/internal/store"
)

// Compute keeps the compute-to-data jobs, their queues and results.
type Compute struct{ db *store.DB }

// NewCompute returns compute's JobStore on db.
func NewCompute(db *store.DB) *Compute { return &Compute{db: db} }

var _ ocean.JobStore = (*Compute)(nil)

// The statuses of the jobs a worker took, and of those not ended.
var (
	computeRunningSQL = computeStatuses(ocean.StatusStarted, ocean.StatusConfiguring, ocean.StatusProvisioned,
		ocean.StatusRunning, ocean.StatusFiltering, ocean.StatusPublishing)
	computeActiveSQL = computeStatuses(ocean.StatusWarmingUp, ocean.StatusStarted, ocean.StatusConfiguring,
		ocean.StatusProvisioned, ocean.StatusRunning, ocean.StatusFiltering, ocean.StatusPublishing)
)

func computeStatuses(codes ...int) string {
	s := make([]string, len(codes))
	for i, c := range codes {
		s[i] = fmt.Sprint(c)
	}
	return "(" + strings.Join(s, ",") + ")"
}

const computeJobColumns = `id, owner, did, environment, spec, status, error, created_at, COALESCE(finished_at,''), COALESCE(expires_at,'')`

func computeScanJob(r scanner) (ocean.Job, error) {
	var j ocean.Job
	var spec, created, finished, expires string
	if err := r.Scan(&j.ID, &j.Owner, &j.DID, &j.Environment, &spec, &j.Status, &j.Error, &created, &finished, &expires); err != nil {
		return j, err
	}
	j.Spec, j.Created = []byte(spec), store.ParseTime(created)
	if finished != "" {
		j.Finished = store.ParseTime(finished)
	}
	if expires != "" {
		j.Expires = store.ParseTime(expires)
	}
	return j, nil
}

func computeScanID(r scanner) (string, error) {
	var id string
	err := r.Scan(&id)
	return id, err
}

func (p *Compute) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	return p.db.InTx(ctx, fn)
}

func (p *Compute) AddJob(ctx context.Context, j ocean.Job) error {
	_, err := p.db.Q(ctx).ExecContext(ctx, `INSERT INTO compute_jobs(id,owner,did,environment,spec,status,created_at,seq) VALUES(?,?,?,?,?,?,?,(SELECT COALESCE(MAX(seq),0)+1 FROM compute_jobs))`,
		j.ID, j.Owner, j.DID, j.Environment, string(j.Spec), j.Status, store.Time(j.Created))
	return err
}

func (p *Compute) Waiting(ctx context.Context, env string) (int, error) {
	var n int
	err := p.db.Q(ctx).QueryRowContext(ctx, `SELECT COUNT(*) FROM compute_jobs WHERE environment=? AND status=?`, env, ocean.StatusWarmingUp).Scan(&n)
	return n, err
}

// Claim reads and moves the job in one transaction: PostgreSQL's are
// serializable, so of two claims of one job one is retried and finds the
// next; SQLite's writers take turns.
func (p *Compute) Claim(ctx context.Context, env string) (ocean.Job, bool, error) {
	var j ocean.Job
	var found bool
	err := p.db.InTx(ctx, func(ctx context.Context) error {
		q := p.db.Q(ctx)
		found = false
		var spec string
		err := q.QueryRowContext(ctx, `SELECT id, spec FROM compute_jobs WHERE environment=? AND status=? ORDER BY created_at, seq LIMIT 1`,
			env, ocean.StatusWarmingUp).Scan(&j.ID, &spec)
		if oceanNoRows(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := q.ExecContext(ctx, `UPDATE compute_jobs SET status=? WHERE id=?`, ocean.StatusStarted, j.ID); err != nil {
			return err
		}
		j.Spec, j.Environment, j.Status, found = []byte(spec), env, ocean.StatusStarted, true
		return nil
	})
	if err != nil || !found {
		return ocean.Job{}, false, err
	}
	return j, true, nil
}

func (p *Compute) Jobs(ctx context.Context, f ocean.JobFilter) ([]ocean.Job, error) {
	query := `SELECT ` + computeJobColumns + ` FROM compute_jobs WHERE owner=?`
	args := []any{f.Owner}
	if f.ID != "" {
		query += ` AND id=?`
		args = append(args, f.ID)
	}
	if f.DID != "" {
		query += ` AND did=?`
		args = append(args, f.DID)
	}
	return queryAll(ctx, p.db.Q(ctx), computeScanJob, query+` ORDER BY created_at, seq LIMIT 1000`, args...)
}

func (p *Compute) RecentJobs(ctx context.Context, limit int) ([]ocean.Job, error) {
	return queryAll(ctx, p.db.Q(ctx), computeScanJob, `SELECT `+computeJobColumns+`
		FROM compute_jobs ORDER BY created_at DESC, id LIMIT ?`, limit)
}

func (p *Compute) Active(ctx context.Context, id string) (bool, error) {
	var n int
	err := p.db.Q(ctx).QueryRowContext(ctx, `SELECT COUNT(*) FROM compute_jobs WHERE id=? AND status IN `+computeActiveSQL, id).Scan(&n)
	return n > 0, err
}

func (p *Compute) StatusCounts(ctx context.Context) (map[int]int64, error) {
	type count struct {
		status int
		n      int64
	}
	rows, err := queryAll(ctx, p.db.Q(ctx), func(r scanner) (count, error) {
		var c count
		err := r.Scan(&c.status, &c.n)
		return c, err
	}, `SELECT status, COUNT(*) FROM compute_jobs GROUP BY status`)
	if err != nil {
		return nil, err
	}
	out := map[int]int64{}
	for _, c := range rows {
		out[c.status] = c.n
	}
	return out, nil
}

func (p *Compute) Load(ctx context.Context) (map[string]ocean.EnvLoad, error) {
	type count struct {
		env    string
		queued bool
		n      int
	}
	rows, err := queryAll(ctx, p.db.Q(ctx), func(r scanner) (count, error) {
		var c count
		err := r.Scan(&c.env, &c.queued, &c.n)
		return c, err
	}, `SELECT environment, status=1, COUNT(*) FROM compute_jobs WHERE status IN `+computeActiveSQL+` GROUP BY 1, 2`)
	if err != nil {
		return nil, err
	}
	out := map[string]ocean.EnvLoad{}
	for _, c := range rows {
		l := out[c.env]
		if c.queued {
			l.Queued = c.n
		} else {
			l.Running = c.n
		}
		out[c.env] = l
	}
	return out, nil
}

func (p *Compute) Advance(ctx context.Context, id string, status int) (bool, error) {
	return computeChanged(p.db.Q(ctx).ExecContext(ctx, `UPDATE compute_jobs SET status=? WHERE id=? AND status IN `+computeRunningSQL, status, id))
}

func (p *Compute) Finish(ctx context.Context, id string, status int, msg string, at, expires time.Time) (bool, error) {
	return computeChanged(p.db.Q(ctx).ExecContext(ctx, `UPDATE compute_jobs SET status=?, error=?, finished_at=?, expires_at=? WHERE id=? AND status IN `+computeRunningSQL,
		status, msg, store.Time(at), store.Time(expires), id))
}

func (p *Compute) Stop(ctx context.Context, id string, at, expires time.Time) (bool, error) {
	return computeChanged(p.db.Q(ctx).ExecContext(ctx, `UPDATE compute_jobs SET status=?, error='', finished_at=?, expires_at=? WHERE id=? AND status IN `+computeActiveSQL,
		ocean.StatusStopped, store.Time(at), store.Time(expires), id))
}

func (p *Compute) Interrupt(ctx context.Context, id, msg string, at, expires time.Time) error {
	_, err := p.db.Q(ctx).ExecContext(ctx, `UPDATE compute_jobs SET status=?, error=?, finished_at=?, expires_at=? WHERE id=?`,
		ocean.StatusInterrupted, msg, store.Time(at), store.Time(expires), id)
	return err
}

func (p *Compute) Requeue(ctx context.Context) error {
	_, err := p.db.Q(ctx).ExecContext(ctx, `UPDATE compute_jobs SET status=? WHERE status=?`, ocean.StatusWarmingUp, ocean.StatusStarted)
	return err
}

func (p *Compute) Running(ctx context.Context) ([]string, error) {
	return queryAll(ctx, p.db.Q(ctx), computeScanID, `SELECT id FROM compute_jobs WHERE status IN `+computeRunningSQL)
}

func (p *Compute) Queued(ctx context.Context) ([]ocean.Job, error) {
	return queryAll(ctx, p.db.Q(ctx), computeScanJob, `SELECT `+computeJobColumns+` FROM compute_jobs WHERE status=?`, ocean.StatusWarmingUp)
}

func (p *Compute) Expired(ctx context.Context, now time.Time) ([]string, error) {
	return queryAll(ctx, p.db.Q(ctx), computeScanID, `SELECT id FROM compute_jobs WHERE expires_at IS NOT NULL AND expires_at<=? AND status NOT IN `+computeActiveSQL,
		store.Time(now))
}

func (p *Compute) DeleteJob(ctx context.Context, id string) error {
	_, err := p.db.Q(ctx).ExecContext(ctx, `DELETE FROM compute_jobs WHERE id=?`, id)
	return err
}

// AddResult checks that the job still runs with a write, so that a stop or
// delete committed meanwhile is seen (or waits for this transaction).
func (p *Compute) AddResult(ctx context.Context, r ocean.JobResult) (bool, error) {
	ok := false
	err := p.db.InTx(ctx, func(ctx context.Context) error {
		q := p.db.Q(ctx)
		var err error
		ok, err = computeChanged(q.ExecContext(ctx, `UPDATE compute_jobs SET status=status WHERE id=? AND status IN `+computeRunningSQL, r.JobID))
		if err != nil || !ok {
			return err
		}
		_, err = q.ExecContext(ctx, `INSERT INTO compute_results(job_id,idx,name,type,size,hash) VALUES(?,?,?,?,?,?)`,
			r.JobID, r.Index, r.Name, r.Type, r.Size, r.Hash)
		return err
	})
	return ok && err == nil, err
}

func (p *Compute) Results(ctx context.Context, jobID string) ([]ocean.JobResult, error) {
	return queryAll(ctx, p.db.Q(ctx), func(s scanner) (ocean.JobResult, error) {
		r := ocean.JobResult{JobID: jobID}
		err := s.Scan(&r.Index, &r.Name, &r.Size, &r.Type)
		return r, err
	}, `SELECT idx, name, size, type FROM compute_results WHERE job_id=? ORDER BY idx`, jobID)
}

func (p *Compute) Result(ctx context.Context, owner, jobID string, idx int) (ocean.JobResult, ocean.Job, error) {
	r := ocean.JobResult{JobID: jobID, Index: idx}
	j := ocean.Job{ID: jobID, Owner: owner}
	var created string
	err := p.db.Q(ctx).QueryRowContext(ctx, `SELECT r.name, r.hash, j.created_at FROM compute_results r JOIN compute_jobs j ON j.id=r.job_id
		WHERE r.job_id=? AND r.idx=? AND j.owner=?`, jobID, idx, owner).Scan(&r.Name, &r.Hash, &created)
	if oceanNoRows(err) {
		return r, j, ocean.ErrNotFound
	}
	j.Created = store.ParseTime(created)
	return r, j, err
}

func (p *Compute) DropResults(ctx context.Context, jobID string) ([]string, error) {
	var hashes []string
	err := p.db.InTx(ctx, func(ctx context.Context) error {
		q := p.db.Q(ctx)
		var err error
		hashes, err = queryAll(ctx, q, computeScanID, `SELECT hash FROM compute_results WHERE job_id=?`, jobID)
		if err != nil {
			return err
		}
		_, err = q.ExecContext(ctx, `DELETE FROM compute_results WHERE job_id=?`, jobID)
		return err
	})
	return hashes, err
}

// computeChanged tells whether an UPDATE changed a row.
func computeChanged(res sql.Result, err error) (bool, error) {
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}
