package persist_test

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus-dds/dds/internal/persist"
	"github.com/prometheus-dds/dds/internal/store"
)

func TestSecrets(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := persist.NewSecrets(db)
		if _, err := s.Secret(ctx, "node.key"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unpublished secret: %v; want ErrNotFound", err)
		}
		for _, v := range []string{"first", "second"} {
			if err := s.PublishSecret(ctx, "node.key", v); err != nil {
				t.Fatal(err)
			}
		}
		if v, err := s.Secret(ctx, "node.key"); err != nil || v != "first" {
			t.Fatalf("secret = %q, %v; want the first published", v, err)
		}
	})
}
