package ocean

import (
	"context"
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
)

// unixText is a time as job objects carry it: seconds since the epoch,
// with milliseconds.
func unixText(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixNano())/1e9, 'f', 3, 64)
}

// jobs lists the jobs q selects, oldest first, with their results.
func (s *Service) jobs(ctx context.Context, q jobQuery) ([]api.ComputeJob, error) {
	stored, err := s.jobStore.Jobs(ctx, JobFilter{Owner: strings.ToLower(q.Owner), ID: q.JobID, DID: q.DocumentID})
	if err != nil {
		return nil, err
	}
	out := []api.ComputeJob{}
	for _, sj := range stored {
		j := api.ComputeJob{JobID: sj.ID, Owner: identity.ChecksumAddress(sj.Owner), DocumentID: sj.DID, DID: sj.DID,
			Environment: sj.Environment, Status: sj.Status, StatusText: StatusText(sj.Status), Error: sj.Error,
			DateCreated: unixText(sj.Created)}
		if !sj.Finished.IsZero() {
			f := unixText(sj.Finished)
			j.DateFinished = &f
		}
		if !sj.Expires.IsZero() {
			e := sj.Expires.Unix()
			j.ExpireTimestamp = &e
		}
		var sp jobSpec
		_ = json.Unmarshal(sj.Spec, &sp)
		for _, d := range sp.Datasets {
			j.InputDID = append(j.InputDID, d.DocumentID)
		}
		j.AlgoDID = sp.AlgoDID
		j.ResultsURLs = []string{}
		if j.Results, err = s.results(ctx, j.JobID); err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, nil
}

func (s *Service) results(ctx context.Context, jobID string) ([]api.ComputeResult, error) {
	stored, err := s.jobStore.Results(ctx, jobID)
	if err != nil {
		return nil, err
	}
	out := []api.ComputeResult{}
	for _, r := range stored {
		out = append(out, api.ComputeResult{Index: r.Index, Filename: r.Name, Filesize: r.Size, Type: r.Type})
	}
	return out, nil
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
	stopped, err := s.jobStore.Stop(ctx, id, now, now.Add(s.cfg.Compute.Retention))
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
		err := s.jobStore.InTx(r.Context(), func(ctx context.Context) error {
			if err := s.dropResults(ctx, j.JobID); err != nil {
				return err
			}
			return s.jobStore.DeleteJob(ctx, j.JobID)
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
	res, job, err := s.jobStore.Result(r.Context(), strings.ToLower(owner), jobID, idx)
	if errors.Is(err, ErrNotFound) {
		return apierr.NotFound("job %s of %s has no result %d", jobID, owner, idx)
	}
	if err != nil {
		return err
	}
	name, hash := res.Name, res.Hash
	f, err := s.blobs.Open(hash)
	if err != nil {
		return err
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", contentDisposition(strings.ReplaceAll(name, "/", "_"), " "))
	w.Header().Set("ETag", `"`+hash+`"`)
	http.ServeContent(w, r, "", job.Created, f)
	return nil
}
