package storlets

import (
	"bytes"
	"context"
	"net/http"
	"sort"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/filter"
	"github.com/prometheus-dds/dds/internal/limits"
)

func (s *Service) listDeployedStorlets(w http.ResponseWriter, r *http.Request) error {
	return listDeployed(s, w, r, func(ctx context.Context, account string) ([]api.Storlet, error) {
		deployed, err := s.store.Deployments(ctx, account)
		out := make([]api.Storlet, len(deployed))
		for i, d := range deployed {
			out[i] = storletJSON(d.Storlet)
			out[i].Params = &d.Params
		}
		return out, err
	})
}

func (s *Service) listDeployedDeps(w http.ResponseWriter, r *http.Request) error {
	return listDeployed(s, w, r, func(ctx context.Context, account string) ([]api.StorletDependency, error) {
		deployed, err := s.store.DeployedDependencies(ctx, account)
		return renderAll(deployed, depJSON), err
	})
}

// listDeployed answers with what list finds deployed to the path's account.
func listDeployed[J any](s *Service, w http.ResponseWriter, r *http.Request, list func(ctx context.Context, account string) ([]J, error)) error {
	acct, err := s.account(r.Context(), r.PathValue("account"))
	if err != nil {
		return err
	}
	out, err := list(r.Context(), acct.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Service) deployStorlet(w http.ResponseWriter, r *http.Request) error {
	acct, id, err := storletKind.target(s, r)
	if err != nil {
		return err
	}
	var body struct {
		Params any `json:"params"`
	}
	raw, err := limits.ReadAll(w, r, maxMeta, "a deploy document")
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := parseMeta(raw, &body); err != nil {
			return err
		}
	}
	params, err := deployParams(body.Params)
	if err != nil {
		return err
	}
	now := s.clock.Now()
	st, err := storletKind.change(r.Context(), s, id, func(ctx context.Context, st Storlet) error {
		if err := storletKind.hasData(st, id); err != nil {
			return err
		}
		return s.store.DeployStorlet(ctx, acct.ID, id, params, now)
	})
	if err != nil {
		return storletKind.found(err, id)
	}
	s.log.Info("storlet deployed", "storlet", id, "account", acct.ID, "params", params)
	writeJSON(w, http.StatusCreated, api.StorletDeployment{Account: acct.ID, StorletID: id, Name: st.Name, Params: params})
	return nil
}

// deployParams reads "params": a query string (as the spec says), or, for
// convenience, a JSON object of strings.
func deployParams(v any) (string, error) {
	var ps []filter.Param
	switch p := v.(type) {
	case nil:
		return "", nil
	case string:
		var err error
		if ps, err = filter.ParseParams(p); err != nil {
			return "", err
		}
	case map[string]any:
		keys := make([]string, 0, len(p))
		for k := range p {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			val, ok := p[k].(string)
			if !ok {
				return "", apierr.BadRequest("invalid_params", "params.%s must be a string", k).At("/params/" + k)
			}
			param := filter.Param{Key: k, Value: val}
			if err := filter.CheckParam(param); err != nil {
				return "", err
			}
			ps = append(ps, param)
		}
	default:
		return "", apierr.BadRequest("invalid_params", "params must be a query string such as \"select=user_id\"").At("/params")
	}
	return filter.FormatParams(ps), nil
}

func (s *Service) deployDep(w http.ResponseWriter, r *http.Request) error {
	acct, id, err := depKind.target(s, r)
	if err != nil {
		return err
	}
	now := s.clock.Now()
	d, err := depKind.change(r.Context(), s, id, func(ctx context.Context, d Dependency) error {
		if err := depKind.hasData(d, id); err != nil {
			return err
		}
		return s.store.DeployDependency(ctx, acct.ID, id, now)
	})
	if err != nil {
		return depKind.found(err, id)
	}
	s.log.Info("dependency deployed", "dependency", id, "account", acct.ID)
	writeJSON(w, http.StatusCreated, api.StorletDeployment{Account: acct.ID, DependencyID: id, Name: d.Name})
	return nil
}
