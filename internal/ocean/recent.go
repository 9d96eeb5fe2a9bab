package ocean

import (
	"context"
	"encoding/json"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/internal/identity"
	"github.com/prometheus-dds/dds/internal/store"
)

// RecentJobs lists the newest compute jobs of every consumer, at most limit,
// for the operator console.
func (s *Service) RecentJobs(ctx context.Context, limit int) ([]api.ConsoleJob, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, owner, did, environment, spec, status, error, created_at, COALESCE(finished_at,'')
		FROM compute_jobs ORDER BY created_at DESC, id LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []api.ConsoleJob{}
	for rows.Next() {
		var j api.ConsoleJob
		var spec, created, finished string
		if err := rows.Scan(&j.ID, &j.Consumer, &j.Dataset, &j.Environment, &spec, &j.Status, &j.Error, &created, &finished); err != nil {
			return nil, err
		}
		j.Consumer = identity.ChecksumAddress(j.Consumer)
		j.StatusText = StatusText(j.Status)
		j.CreatedAt = store.ParseTime(created)
		if finished != "" {
			f := store.ParseTime(finished)
			j.FinishedAt = &f
		}
		var sp jobSpec
		_ = json.Unmarshal([]byte(spec), &sp)
		switch {
		case sp.AlgoDID != "":
			j.Algorithm = sp.AlgoDID
		case sp.AlgoURL != "":
			j.Algorithm = "raw: " + sp.AlgoURL
		default:
			j.Algorithm = "raw code"
		}
		out = append(out, j)
	}
	return out, rows.Err()
}
