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
	rows, err := s.db.QueryContext(ctx, `SELECT state, COUNT(*) FROM deals GROUP BY state`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var st string
		var n int64
		if err := rows.Scan(&st, &n); err != nil {
			return nil, err
		}
		out[st] = n
	}
	return out, rows.Err()
}
