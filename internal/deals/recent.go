package deals

import (
	"context"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/internal/store"
)

// RecentDeals lists the newest deals, at most limit, for the operator
// console.
func (s *Service) RecentDeals(ctx context.Context, limit int) ([]api.ConsoleDeal, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, state, type, seller, customer, sum_sat, file_id, created_at, updated_at
		FROM deals ORDER BY created_at DESC, id LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []api.ConsoleDeal{}
	for rows.Next() {
		var d api.ConsoleDeal
		var sat int64
		var created, updated string
		if err := rows.Scan(&d.ID, &d.State, &d.Type, &d.Seller, &d.Customer, &sat, &d.File, &created, &updated); err != nil {
			return nil, err
		}
		d.Sum, d.CreatedAt, d.UpdatedAt = formatBTC(sat), store.ParseTime(created), store.ParseTime(updated)
		out = append(out, d)
	}
	return out, rows.Err()
}
