package ocean

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/httpjson"
	"github.com/prometheus-dds/dds/internal/identity"
	"github.com/prometheus-dds/dds/internal/store"
)

// unixText is a time as job objects carry it: seconds since the epoch,
// with milliseconds.
func unixText(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixNano())/1e9, 'f', 3, 64)
}

// jobs lists the jobs q selects, oldest first, with their results.
func (s *Service) jobs(ctx context.Context, q jobQuery) ([]api.ComputeJob, error) {
	query := `SELECT id, owner, did, environment, spec, status, error, created_at, COALESCE(finished_at,''), COALESCE(expires_at,'')
		FROM compute_jobs WHERE owner=?`
	args := []any{strings.ToLower(q.Owner)}
	if q.JobID != "" {
		query += ` AND id=?`
		args = append(args, q.JobID)
	}
	if q.DocumentID != "" {
		query += ` AND did=?`
		args = append(args, q.DocumentID)
	}
	rows, err := s.db.QueryContext(ctx, query+` ORDER BY created_at, seq LIMIT 1000`, args...)
	if err != nil {
		return nil, err
	}
	out := []api.ComputeJob{}
	for rows.Next() {
		var j api.ComputeJob
		var spec, created, finished, expires string
		if err := rows.Scan(&j.JobID, &j.Owner, &j.DocumentID, &j.Environment, &spec, &j.Status, &j.Error, &created, &finished, &expires); err != nil {
			rows.Close()
			return nil, err
		}
		j.Owner = identity.ChecksumAddress(j.Owner)
		j.DID = j.DocumentID
		j.StatusText = StatusText(j.Status)
		j.DateCreated = unixText(store.ParseTime(created))
		if finished != "" {
			f := unixText(store.ParseTime(finished))
			j.DateFinished = &f
		}
		if expires != "" {
			e := store.ParseTime(expires).Unix()
			j.ExpireTimestamp = &e
		}
		var sp jobSpec
		_ = json.Unmarshal([]byte(spec), &sp)
		for _, d := range sp.Datasets {
			j.InputDID = append(j.InputDID, d.DocumentID)
		}
		j.AlgoDID = sp.AlgoDID
		j.Results, j.ResultsURLs = []api.ComputeResult{}, []string{}
		out = append(out, j)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		res, err := s.results(ctx, out[i].JobID)
		if err != nil {
			return nil, err
		}
		out[i].Results = res
	}
	return out, nil
}

func (s *Service) results(ctx context.Context, jobID string) ([]api.ComputeResult, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT idx, name, size, type FROM compute_results WHERE job_id=? ORDER BY idx`, jobID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []api.ComputeResult{}
	for rows.Next() {
		var r api.ComputeResult
		if err := rows.Scan(&r.Index, &r.Filename, &r.Filesize, &r.Type); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// status lists the caller's jobs, only ever for the consumerAddress given.
// The status of one named job needs no signature (as in the real provider,
// and ocean.js sends none): its id is 128 random bits that only its owner
// was told. A list by address alone (or by address and documentId) would
// show anyone what an address computes, so it is signed like a stop:
// consumerAddress + jobId ("") + documentId + nonce, or an AuthToken.
func (s *Service) status(w http.ResponseWriter, r *http.Request) error {
	p, q, err := decodeJobQuery(w, r)
	if err != nil {
		return err
	}
	if q.JobID == "" {
		if err := s.authorize(r, q.Owner, q.Owner+q.DocumentID, p.signed); err != nil {
			return err
		}
	}
	jobs, err := s.jobs(r.Context(), q)
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, jobs)
	return nil
}

// signedJobs reads and authorizes a stop or delete: the owner signs
// consumerAddress + jobId + documentId + nonce.
//
// ocean.js 4.x's computeStop signs consumerAddress + jobId without the
// nonce. A stop of one named job is accepted signed that way too: replaying
// it can only stop that job again.
func (s *Service) signedJobs(w http.ResponseWriter, r *http.Request) (jobQuery, []api.ComputeJob, error) {
	p, q, err := decodeJobQuery(w, r)
	if err != nil {
		return q, nil, err
	}
	if q.JobID == "" && q.DocumentID == "" {
		return q, nil, apierr.BadRequest("missing_parameter", "jobId or documentId is required")
	}
	original := q.Owner + q.JobID + q.DocumentID
	if err := s.authorize(r, q.Owner, original, p.signed); err != nil {
		if e, ok := apierr.As(err); !ok || e.Status != http.StatusUnauthorized || r.Method != http.MethodPut || q.JobID == "" ||
			VerifySignature(q.Owner, original, "", p.Signature) != nil {
			return q, nil, err
		}
	}
	jobs, err := s.jobs(r.Context(), q)
	if err != nil {
		return q, nil, err
	}
	if len(jobs) == 0 {
		return q, nil, apierr.NotFound("no such compute job of %s", q.Owner)
	}
	return q, jobs, nil
}

func (s *Service) stopJobs(w http.ResponseWriter, r *http.Request) error {
	q, jobs, err := s.signedJobs(w, r)
	if err != nil {
		return err
	}
	for _, j := range jobs {
		if err := s.stopJob(r.Context(), j.JobID); err != nil {
			return err
		}
	}
	if jobs, err = s.jobs(r.Context(), q); err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, jobs)
	return nil
}

// stopJob ends a job that has not ended: it is marked stopped, then its
// run (if any) is cancelled.
func (s *Service) stopJob(ctx context.Context, id string) error {
	now := s.clock.Now()
	var stopped bool
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(`UPDATE compute_jobs SET status=?, error='', finished_at=?, expires_at=? WHERE id=? AND status IN `+activeSQL,
			StatusStopped, store.Time(now), store.Time(now.Add(s.cfg.Compute.Retention)), id)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		stopped = n == 1
		return nil
	})
	if err != nil || !stopped {
		return err
	}
	s.cancel(id, errStopped)
	s.notify(id, StatusStopped)
	s.log.Info("compute job stopped", "job", id)
	return nil
}

var (
	errStopped = errors.New("stopped by its owner")
	errDeleted = errors.New("deleted by its owner")
)

func (s *Service) cancel(id string, cause error) {
	s.mu.Lock()
	c := s.running[id]
	s.mu.Unlock()
	if c != nil {
		c(cause)
	}
}

func (s *Service) deleteJobs(w http.ResponseWriter, r *http.Request) error {
	_, jobs, err := s.signedJobs(w, r)
	if err != nil {
		return err
	}
	for i, j := range jobs {
		// A run is stopped first; the delete then removes what it left.
		s.cancel(j.JobID, errDeleted)
		err := s.db.Tx(r.Context(), func(tx *store.Tx) error {
			if err := s.dropResults(tx, j.JobID); err != nil {
				return err
			}
			_, err := tx.Exec(`DELETE FROM compute_jobs WHERE id=?`, j.JobID)
			return err
		})
		if err != nil {
			return err
		}
		s.notify(j.JobID, StatusDeleted)
		s.log.Info("compute job deleted", "job", j.JobID)
		jobs[i].Status, jobs[i].StatusText, jobs[i].Results = StatusDeleted, StatusText(StatusDeleted), []api.ComputeResult{}
	}
	httpjson.Write(w, http.StatusOK, jobs)
	return nil
}

// result streams one result of a job to its owner, who signs
// consumerAddress + jobId + index.
func (s *Service) result(w http.ResponseWriter, r *http.Request) error {
	var p resultParams
	if err := decode(w, r, &p); err != nil {
		return err
	}
	owner, jobID, index := p.ConsumerAddress, p.JobID, p.Index
	if err := address("consumerAddress", owner); err != nil {
		return err
	}
	switch {
	case jobID == "" || len(jobID) > maxIDLength:
		return apierr.BadRequest("missing_parameter", "jobId is required")
	case index == "":
		return apierr.BadRequest("missing_parameter", "index is required")
	}
	idx, err := strconv.Atoi(index)
	if err != nil || idx < 0 {
		return bad("index %q is not a non-negative integer", index)
	}
	if err := s.authorize(r, owner, owner+jobID+index, p.signed); err != nil {
		return err
	}
	var name, hash string
	var created string
	err = s.db.QueryRowContext(r.Context(), `SELECT r.name, r.hash, j.created_at FROM compute_results r JOIN compute_jobs j ON j.id=r.job_id
		WHERE r.job_id=? AND r.idx=? AND j.owner=?`, jobID, idx, strings.ToLower(owner)).Scan(&name, &hash, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return apierr.NotFound("job %s of %s has no result %d", jobID, owner, idx)
	}
	if err != nil {
		return err
	}
	f, err := s.blobs.Open(hash)
	if err != nil {
		return err
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", contentDisposition(strings.ReplaceAll(name, "/", "_"), " "))
	w.Header().Set("ETag", `"`+hash+`"`)
	http.ServeContent(w, r, "", store.ParseTime(created), f)
	return nil
}
