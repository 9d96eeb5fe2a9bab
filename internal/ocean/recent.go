package ocean

import (
	"context"
	"encoding/json"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/internal/identity"
)

// RecentJobs lists the newest compute jobs of every consumer, at most limit,
// for the operator console.
func (s *Service) RecentJobs(ctx context.Context, limit int) ([]api.ConsoleJob, error) {
	stored, err := s.jobStore.RecentJobs(ctx, limit)
	if err != nil {
		return nil, err
	}
	out := []api.ConsoleJob{}
	for _, sj := range stored {
		j := api.ConsoleJob{ID: sj.ID, Consumer: identity.ChecksumAddress(sj.Owner), Dataset: sj.DID, Environment: sj.Environment,
			Status: sj.Status, StatusText: StatusText(sj.Status), Error: sj.Error, CreatedAt: sj.Created}
		if !sj.Finished.IsZero() {
			f := sj.Finished
			j.FinishedAt = &f
		}
		var sp jobSpec
		_ = json.Unmarshal(sj.Spec, &sp)
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
	return out, nil
}
