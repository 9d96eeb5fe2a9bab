package storlets

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/blob"
	"github.com/prometheus-dds/dds/internal/store"
)

// kind describes what the endpoints of storlets and dependencies share. T is
// the record, J how the API renders it.
type kind[T record, J any] struct {
	noun       string // in messages and logs
	root       string // the URL root, for hints in messages
	ops        kindStore[T]
	render     func(T) J
	uploadWhat string // what the no-data hint says to upload
}

// kindStore are the Store methods of a kind.
type kindStore[T any] struct {
	get      func(Store, context.Context, int64) (T, error)
	all      func(Store, context.Context) ([]T, error)
	accounts func(Store, context.Context, int64, int) ([]string, error)
	delete   func(Store, context.Context, int64) error
	setData  func(Store, context.Context, int64, string, int64) error
	undeploy func(Store, context.Context, string, int64) (bool, error)
}

// record is what the shared code reads of a storlet or a dependency.
type record interface{ dataHash() string }

func (st Storlet) dataHash() string   { return st.DataHash }
func (d Dependency) dataHash() string { return d.DataHash }

var storletKind = kind[Storlet, api.Storlet]{noun: "storlet", root: "/storlets",
	ops: kindStore[Storlet]{get: Store.Storlet, all: Store.Storlets, accounts: Store.StorletAccounts,
		delete: Store.DeleteStorlet, setData: Store.SetStorletData, undeploy: Store.UndeployStorlet},
	render: storletJSON, uploadWhat: "its module"}

var depKind = kind[Dependency, api.StorletDependency]{noun: "dependency", root: "/storlets/dependencies",
	ops: kindStore[Dependency]{get: Store.Dependency, all: Store.Dependencies, accounts: Store.DependencyAccounts,
		delete: Store.DeleteDependency, setData: Store.SetDependencyData, undeploy: Store.UndeployDependency},
	render: depJSON, uploadWhat: "it"}

// id reads the record id of a path.
func (k kind[T, J]) id(r *http.Request) (int64, error) {
	s := r.PathValue("id")
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, apierr.NotFound("no %s %q (ids are positive integers)", k.noun, s)
	}
	return id, nil
}

// found says which record a lookup did not find.
func (k kind[T, J]) found(err error, id int64) error {
	if errors.Is(err, store.ErrNotFound) {
		return apierr.NotFound("no %s %v", k.noun, id)
	}
	return err
}

// get reads the record of a path.
func (k kind[T, J]) get(s *Service, r *http.Request) (T, error) {
	id, err := k.id(r)
	if err != nil {
		var zero T
		return zero, err
	}
	rec, err := k.ops.get(s.store, r.Context(), id)
	return rec, k.found(err, id)
}

// change runs fn on the current record in a transaction: what fn writes
// commits with the check it made. It returns the record as fn got it.
func (k kind[T, J]) change(ctx context.Context, s *Service, id int64, fn func(ctx context.Context, cur T) error) (cur T, err error) {
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		if cur, err = k.ops.get(s.store, ctx, id); err != nil {
			return err
		}
		return fn(ctx, cur)
	})
	return cur, err
}

// setData commits staged as the record's data, releasing the data it
// replaces, once check allows: the blob's reference and the record's
// change commit together. It returns the record as it was.
func (k kind[T, J]) setData(ctx context.Context, s *Service, id int64, staged *blob.Staged, check func(cur T) error) (cur T, err error) {
	err = s.blobs.Commit(ctx, staged, func(ctx context.Context) error {
		if cur, err = k.ops.get(s.store, ctx, id); err != nil {
			return err
		}
		if err := check(cur); err != nil {
			return err
		}
		if err := s.unref(ctx, cur.dataHash()); err != nil {
			return err
		}
		return k.ops.setData(s.store, ctx, id, staged.Hash, staged.Size)
	})
	return cur, err
}

func (k kind[T, J]) list(s *Service) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		recs, err := k.ops.all(s.store, r.Context())
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, renderAll(recs, k.render))
		return nil
	}
}

func (k kind[T, J]) show(s *Service) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		rec, err := k.get(s, r)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, k.render(rec))
		return nil
	}
}

// delete refuses (409) while the record is deployed: deleting it would
// silently change what the accounts it is deployed to read. Undeploy first.
func (k kind[T, J]) delete(s *Service) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := k.id(r)
		if err != nil {
			return err
		}
		_, err = k.change(r.Context(), s, id, func(ctx context.Context, cur T) error {
			accounts, err := k.ops.accounts(s.store, ctx, id, 10) // enough for a message
			if err != nil {
				return err
			}
			if len(accounts) > 0 {
				return apierr.Conflict("deployed", "%s %d is deployed to %s; undeploy it first (PUT %s/<account>/undeploy/%d)", k.noun, id, strings.Join(accounts, ", "), k.root, id)
			}
			if err := k.ops.delete(s.store, ctx, id); err != nil {
				return err
			}
			return s.unref(ctx, cur.dataHash())
		})
		if err != nil {
			return k.found(err, id)
		}
		s.log.Info(k.noun+" deleted", k.noun, id)
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

// target reads the account and the record id of a deploy or undeploy path.
func (k kind[T, J]) target(s *Service, r *http.Request) (auth.Principal, int64, error) {
	acct, err := s.account(r.Context(), r.PathValue("account"))
	if err != nil {
		return auth.Principal{}, 0, err
	}
	id, err := k.id(r)
	return acct, id, err
}

// hasData is the check before a deployment: the record's data is uploaded.
func (k kind[T, J]) hasData(rec T, id int64) error {
	if rec.dataHash() == "" {
		return apierr.Conflict("no_data", "%s %d has no data yet; upload %s first (PUT %s/%d/data)", k.noun, id, k.uploadWhat, k.root, id)
	}
	return nil
}

func (k kind[T, J]) undeploy(s *Service) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		acct, id, err := k.target(s, r)
		if err != nil {
			return err
		}
		ok, err := k.ops.undeploy(s.store, r.Context(), acct.ID, id)
		if err != nil {
			return err
		}
		if !ok {
			return apierr.NotFound("%s %d is not deployed to account %s", k.noun, id, acct.ID)
		}
		s.log.Info(k.noun+" undeployed", k.noun, id, "account", acct.ID)
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

// renderAll renders records as the API shows them.
func renderAll[T, J any](recs []T, render func(T) J) []J {
	out := make([]J, len(recs))
	for i, rec := range recs {
		out[i] = render(rec)
	}
	return out
}
