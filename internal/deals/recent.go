package deals

import (
	"context"

	"github.com/prometheus-dds/dds/api"
)

// RecentDeals lists the newest deals, at most limit, for the operator
// console.
func (s *Service) RecentDeals(ctx context.Context, limit int) ([]api.ConsoleDeal, error) {
	ds, err := s.store.RecentDeals(ctx, limit)
	if err != nil {
		return nil, err
	}
	out := make([]api.ConsoleDeal, 0, len(ds))
	for _, d := range ds {
		out = append(out, api.ConsoleDeal{ID: d.ID, State: d.State, Type: d.Type, Seller: d.Seller, Customer: d.Customer,
			Sum: formatBTC(d.Sum), File: d.FileID, CreatedAt: d.Created, UpdatedAt: d.Updated})
	}
	return out, nil
}
