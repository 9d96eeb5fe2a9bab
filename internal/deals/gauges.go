package deals

import (
	"context"

	"github.com/prometheus-dds/dds/internal/metrics"
)

// Gauges registers the deals by state, which the operator console shows.
func (s *Service) Gauges(m *metrics.Metrics) {
	m.Gauges("dds_deals", "Deals by state.", "state", s.Counts)
}

// Counts returns the number of deals per state, every state present.
func (s *Service) Counts(ctx context.Context) (map[string]int64, error) {
	out := map[string]int64{StateCreated: 0, StatePaying: 0, StatePaid: 0, StateCompleted: 0, StateCancelled: 0, StateExpired: 0}
	counts, err := s.store.CountByState(ctx)
	if err != nil {
		return nil, err
	}
	for st, n := range counts {
		out[st] = n
	}
	return out, nil
}
