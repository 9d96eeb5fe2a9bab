package storlets

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/store"
)

// kind describes what the endpoints of storlets and dependencies share. T is
// the record, J how the API renders it.
type kind[T record, J any] struct {
	noun       string // in messages and logs
	root       string // the URL root, for hints in messages
	table      table[T]
	render     func(T) J
	uploadWhat string // what the no-data hint says to upload
}

var storletKind = kind[Storlet, api.Storlet]{noun: "storlet", root: "/storlets", table: storletTable,
	render: storletJSON, uploadWhat: "its module"}

var depKind = kind[Dependency, api.StorletDependency]{noun: "dependency", root: "/storlets/dependencies", table: depTable,
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
	rec, err := k.table.get(r.Context(), s.store.db, id)
	return rec, k.found(err, id)
}

func (k kind[T, J]) list(s *Service) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		recs, err := k.table.all(r.Context(), s.store.db)
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
		err = k.table.remove(r.Context(), s.store, id, func(accounts []string) error {
			if len(accounts) > 0 {
				return apierr.Conflict("deployed", "%s %d is deployed to %s; undeploy it first (PUT %s/<account>/undeploy/%d)", k.noun, id, strings.Join(accounts, ", "), k.root, id)
			}
			return nil
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
		ok, err := k.table.undeploy(r.Context(), s.store.db, acct.ID, id)
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
