package storlets

import (
	"context"
	"net/http"

	"github.com/prometheus-dds/dds/internal/apierr"
)

func (s *Service) createStorlet(w http.ResponseWriter, r *http.Request) error {
	var m storletMeta
	if err := decodeMeta(w, r, &m); err != nil {
		return err
	}
	if m.Name == nil {
		return apierr.BadRequest("missing_field", "field \"name\" is required").At("/name")
	}
	st := Storlet{Language: Language, InterfaceVersion: InterfaceVersion, ObjectMetadata: "no", Main: "_start", Created: s.clock.Now()}
	if err := m.apply(&st); err != nil {
		return err
	}
	if err := s.store.CreateStorlet(r.Context(), &st); err != nil {
		return uniqueErr(err, "storlet", st.Name)
	}
	s.log.Info("storlet created", "storlet", st.ID, "name", st.Name)
	writeJSON(w, http.StatusCreated, storletJSON(st))
	return nil
}

func (s *Service) updateStorlet(w http.ResponseWriter, r *http.Request) error {
	id, err := storletKind.id(r)
	if err != nil {
		return err
	}
	var m storletMeta
	if err := decodeMeta(w, r, &m); err != nil {
		return err
	}
	cur, err := storletKind.get(s, r)
	if err != nil {
		return err
	}
	st := cur
	if err := m.apply(&st); err != nil {
		return err
	}
	if st.DataHash != "" && st.Main != cur.Main {
		// A new main must be a function the uploaded module exports.
		if _, err := s.module(r.Context(), st.DataHash, st.Main); err != nil {
			return dataError(err)
		}
	}
	_, err = storletKind.change(r.Context(), s, id, func(ctx context.Context, now Storlet) error {
		if now.DataHash != cur.DataHash || now.Main != cur.Main {
			return apierr.Conflict("concurrent_change", "storlet %d changed while this request ran; retry it", id)
		}
		st.Deployed = now.Deployed
		return s.store.UpdateStorlet(ctx, st)
	})
	if err != nil {
		return uniqueErr(storletKind.found(err, id), "storlet", st.Name)
	}
	writeJSON(w, http.StatusOK, storletJSON(st))
	return nil
}

func (s *Service) createDep(w http.ResponseWriter, r *http.Request) error {
	var m depMeta
	if err := decodeMeta(w, r, &m); err != nil {
		return err
	}
	if m.Name == nil {
		return apierr.BadRequest("missing_field", "field \"name\" is required").At("/name")
	}
	if m.Version == nil {
		return apierr.BadRequest("missing_field", "field \"version\" is required (any version string, such as \"1.0\")").At("/version")
	}
	d := Dependency{Created: s.clock.Now()}
	if err := m.apply(&d); err != nil {
		return err
	}
	if err := s.store.CreateDependency(r.Context(), &d); err != nil {
		return uniqueErr(err, "dependency", d.Name)
	}
	s.log.Info("dependency created", "dependency", d.ID, "name", d.Name)
	writeJSON(w, http.StatusCreated, depJSON(d))
	return nil
}

func (s *Service) updateDep(w http.ResponseWriter, r *http.Request) error {
	id, err := depKind.id(r)
	if err != nil {
		return err
	}
	var m depMeta
	if err := decodeMeta(w, r, &m); err != nil {
		return err
	}
	var d Dependency
	_, err = depKind.change(r.Context(), s, id, func(ctx context.Context, cur Dependency) error {
		d = cur
		if err := m.apply(&d); err != nil {
			return err
		}
		return s.store.UpdateDependency(ctx, d)
	})
	if err != nil {
		return uniqueErr(depKind.found(err, id), "dependency", d.Name)
	}
	writeJSON(w, http.StatusOK, depJSON(d))
	return nil
}
