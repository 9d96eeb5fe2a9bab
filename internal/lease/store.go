package lease

import (
	"context"
	"time"
)

// Store is what leases keep in the metadata database (persist.Leases
// implements it): one row per lease, naming its holder and when it lapses.
type Store interface {
	// Acquire gives the lease name to holder until until, if holder has it
	// already or it lapsed before now; it reports whether holder holds it.
	Acquire(ctx context.Context, name, holder string, now, until time.Time) (bool, error)
	// Release gives up the lease name if holder has it.
	Release(ctx context.Context, name, holder string) error
}
