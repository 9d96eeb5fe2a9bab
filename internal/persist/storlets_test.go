package persist_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/prometheus-dds/dds/internal/persist"
	"github.com/prometheus-dds/dds/internal/store"
	"github.com/prometheus-dds/dds/internal/storlets"
)

// storletAccounts adds the principals deployments name (they reference them).
func storletAccounts(t *testing.T, db *store.DB, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if _, err := db.ExecContext(context.Background(), `INSERT INTO principals(id,name,role,created_at) VALUES(?,?,'user',?)`,
			id, "name-"+id, store.Time(time.Now())); err != nil {
			t.Fatal(err)
		}
	}
}

func newStorlet(t *testing.T, s storlets.Store, name string) storlets.Storlet {
	t.Helper()
	st := storlets.Storlet{Name: name, Language: storlets.Language, InterfaceVersion: storlets.InterfaceVersion,
		Dependency: "dep1", ObjectMetadata: "no", Main: "_start", Created: time.Date(2026, 3, 8, 10, 36, 41, 997e6, time.UTC)}
	if err := s.CreateStorlet(context.Background(), &st); err != nil {
		t.Fatal(err)
	}
	if st.ID == 0 {
		t.Fatal("CreateStorlet set no ID")
	}
	return st
}

func newDependency(t *testing.T, s storlets.Store, name string) storlets.Dependency {
	t.Helper()
	d := storlets.Dependency{Name: name, Version: "1.0", Permissions: "0755", Created: time.Now().UTC()}
	if err := s.CreateDependency(context.Background(), &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestStorletsRecords(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := persist.NewStorlets(db)
		a := newStorlet(t, s, "a")
		b := newStorlet(t, s, "b")

		got, err := s.Storlet(ctx, a.ID)
		if err != nil || !reflect.DeepEqual(got, a) {
			t.Fatalf("Storlet = %+v, %v; want %+v", got, err, a)
		}
		if got, err := s.StorletNamed(ctx, "b"); err != nil || got.ID != b.ID {
			t.Fatalf("StorletNamed(b) = %+v, %v", got, err)
		}
		if all, err := s.Storlets(ctx); err != nil || len(all) != 2 || all[0].ID != a.ID || all[1].ID != b.ID {
			t.Fatalf("Storlets = %+v, %v; want a, b", all, err)
		}

		dup := a
		if err := s.CreateStorlet(ctx, &dup); !errors.Is(err, storlets.ErrNameTaken) {
			t.Fatalf("create with a taken name: %v", err)
		}
		b.Name = "a"
		if err := s.UpdateStorlet(ctx, b); !errors.Is(err, storlets.ErrNameTaken) {
			t.Fatalf("rename to a taken name: %v", err)
		}
		b.Name, b.Main, b.Dependency = "b2", "handle", ""
		if err := s.UpdateStorlet(ctx, b); err != nil {
			t.Fatal(err)
		}
		if err := s.SetStorletData(ctx, b.ID, "hash-b", 42); err != nil {
			t.Fatal(err)
		}
		b.DataHash, b.DataSize = "hash-b", 42
		if got, err := s.Storlet(ctx, b.ID); err != nil || !reflect.DeepEqual(got, b) {
			t.Fatalf("after update: %+v, %v; want %+v", got, err, b)
		}

		if err := s.DeleteStorlet(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		for what, err := range map[string]error{
			"Storlet":        func() error { _, err := s.Storlet(ctx, a.ID); return err }(),
			"StorletNamed":   func() error { _, err := s.StorletNamed(ctx, "a"); return err }(),
			"UpdateStorlet":  s.UpdateStorlet(ctx, a),
			"SetStorletData": s.SetStorletData(ctx, a.ID, "h", 1),
			"DeleteStorlet":  s.DeleteStorlet(ctx, a.ID),
			"Dependency":     func() error { _, err := s.Dependency(ctx, 99); return err }(),
			"UpdateDep":      s.UpdateDependency(ctx, storlets.Dependency{ID: 99, Name: "x", Version: "1"}),
		} {
			if !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s of a missing record: %v, want store.ErrNotFound", what, err)
			}
		}

		d := newDependency(t, s, "dep1")
		if err := s.CreateDependency(ctx, &storlets.Dependency{Name: "dep1", Version: "2"}); !errors.Is(err, storlets.ErrNameTaken) {
			t.Fatalf("dependency with a taken name: %v", err)
		}
		d.Version = "2.0"
		if err := s.UpdateDependency(ctx, d); err != nil {
			t.Fatal(err)
		}
		if all, err := s.Dependencies(ctx); err != nil || len(all) != 1 || all[0].Version != "2.0" || !all[0].Created.Equal(d.Created) {
			t.Fatalf("Dependencies = %+v, %v", all, err)
		}
	})
}

func TestStorletsDeployments(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := persist.NewStorlets(db)
		storletAccounts(t, db, "acct1", "acct2")
		a, b := newStorlet(t, s, "a"), newStorlet(t, s, "b")
		now := time.Now()

		if got, err := s.Deployments(ctx, "acct1"); err != nil || len(got) != 0 {
			t.Fatalf("Deployments before any = %+v, %v", got, err)
		}
		// Deploy order is run order, whatever the ids; a redeploy keeps
		// its place and takes the new parameters.
		for _, dep := range []struct {
			acct   string
			id     int64
			params string
		}{{"acct1", b.ID, "x=1"}, {"acct1", a.ID, ""}, {"acct2", a.ID, "y=2"}, {"acct1", b.ID, "x=3"}} {
			if err := s.DeployStorlet(ctx, dep.acct, dep.id, dep.params, now); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.Deployments(ctx, "acct1")
		if err != nil || len(got) != 2 || got[0].ID != b.ID || got[0].Params != "x=3" || got[1].ID != a.ID || !got[0].Deployed {
			t.Fatalf("Deployments(acct1) = %+v, %v; want b (x=3), a", got, err)
		}
		if p, err := s.DeployedParams(ctx, "acct2", a.ID); err != nil || p != "y=2" {
			t.Fatalf("DeployedParams = %q, %v", p, err)
		}
		if _, err := s.DeployedParams(ctx, "acct2", b.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("DeployedParams of a storlet not deployed: %v", err)
		}
		if accts, err := s.StorletAccounts(ctx, a.ID, 10); err != nil || !reflect.DeepEqual(accts, []string{"acct1", "acct2"}) {
			t.Fatalf("StorletAccounts = %v, %v", accts, err)
		}
		if accts, err := s.StorletAccounts(ctx, a.ID, 1); err != nil || !reflect.DeepEqual(accts, []string{"acct1"}) {
			t.Fatalf("StorletAccounts limited to 1 = %v, %v", accts, err)
		}

		if ok, err := s.UndeployStorlet(ctx, "acct1", b.ID); err != nil || !ok {
			t.Fatalf("undeploy = %v, %v", ok, err)
		}
		if ok, err := s.UndeployStorlet(ctx, "acct1", b.ID); err != nil || ok {
			t.Fatalf("second undeploy = %v, %v; want false", ok, err)
		}
		if st, err := s.Storlet(ctx, b.ID); err != nil || st.Deployed {
			t.Fatalf("undeployed storlet: %+v, %v", st, err)
		}
		// A storlet deployed after an undeploy runs last.
		if err := s.DeployStorlet(ctx, "acct1", b.ID, "", now); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Deployments(ctx, "acct1"); err != nil || len(got) != 2 || got[0].ID != a.ID || got[1].ID != b.ID {
			t.Fatalf("Deployments after redeploy = %+v, %v; want a, b", got, err)
		}

		d := newDependency(t, s, "dep1")
		for range 2 {
			if err := s.DeployDependency(ctx, "acct1", d.ID, now); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := s.DeployedDependencies(ctx, "acct1"); err != nil || len(got) != 1 || got[0].ID != d.ID || !got[0].Deployed {
			t.Fatalf("DeployedDependencies = %+v, %v", got, err)
		}
		if _, err := s.DeployedDependencyData(ctx, "acct1", "dep1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("data of a dependency with none: %v", err)
		}
		if err := s.SetDependencyData(ctx, d.ID, "hash-d", 7); err != nil {
			t.Fatal(err)
		}
		if h, err := s.DeployedDependencyData(ctx, "acct1", "dep1"); err != nil || h != "hash-d" {
			t.Fatalf("DeployedDependencyData = %q, %v", h, err)
		}
		if _, err := s.DeployedDependencyData(ctx, "acct2", "dep1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("data of a dependency not deployed there: %v", err)
		}
		if accts, err := s.DependencyAccounts(ctx, d.ID, 10); err != nil || !reflect.DeepEqual(accts, []string{"acct1"}) {
			t.Fatalf("DependencyAccounts = %v, %v", accts, err)
		}

		want := storlets.Counts{Storlets: 2, Dependencies: 1, StorletDeployments: 3, DependencyDeployments: 1}
		if c, err := s.Counts(ctx); err != nil || c != want {
			t.Fatalf("Counts = %+v, %v; want %+v", c, err, want)
		}
		if ok, err := s.UndeployDependency(ctx, "acct1", d.ID); err != nil || !ok {
			t.Fatalf("UndeployDependency = %v, %v", ok, err)
		}
		if err := s.DeleteDependency(ctx, d.ID); err != nil {
			t.Fatal(err)
		}
	})
}

func TestStorletsInTx(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := persist.NewStorlets(db)
		storletAccounts(t, db, "acct1")
		failed := errors.New("refused")
		var id int64
		err := s.InTx(ctx, func(ctx context.Context) error {
			st := storlets.Storlet{Name: "x", Language: "wasm", InterfaceVersion: "1.0", Main: "_start"}
			if err := s.CreateStorlet(ctx, &st); err != nil {
				return err
			}
			id = st.ID
			// Reads in the transaction see its writes.
			if _, err := s.Storlet(ctx, id); err != nil {
				return err
			}
			if err := s.SetStorletData(ctx, id, "h", 1); err != nil {
				return err
			}
			if err := s.DeployStorlet(ctx, "acct1", id, "", time.Now()); err != nil {
				return err
			}
			return failed
		})
		if !errors.Is(err, failed) {
			t.Fatal(err)
		}
		if _, err := s.Storlet(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("storlet of a rolled back transaction: %v", err)
		}
		if c, err := s.Counts(ctx); err != nil || c != (storlets.Counts{}) {
			t.Fatalf("after rollback: %+v, %v; want nothing", c, err)
		}
	})
}
