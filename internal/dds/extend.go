package dds

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/files"
	"github.com/prometheus-dds/dds/internal/jsonapi"
	"github.com/prometheus-dds/dds/internal/ledger"
	"github.com/prometheus-dds/dds/internal/limits"
)

func (s *Service) extend(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := jsonapi.CheckContentType(r); err != nil {
		return err
	}
	body, err := limits.ReadAll(w, r, jsonapi.MaxSmall, "a PATCH document")
	if err != nil {
		return err
	}
	res, err := jsonapi.Decode(bytes.NewReader(body))
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if res.Type != "file" {
		return apierr.Conflict("wrong_type", "data.type must be \"file\", not %q", res.Type).At("/data/type")
	}
	if res.ID != "" && res.ID != id {
		return apierr.Conflict("id_mismatch", "data.id %q does not match the URL's %q", res.ID, id).At("/data/id")
	}
	if _, ok := res.Attributes["data"]; ok {
		return apierr.BadRequest("immutable", "a file's content cannot be changed; upload a new file").At("/data/attributes/data")
	}
	f, here, err := s.visible(r.Context(), p, id)
	if err != nil {
		return err
	}
	if here && f.Owner != p.ID {
		// An admin may read a file on its node (support), but the term and
		// the attributes are what the owner pays for: only the owner changes them.
		return apierr.Forbidden("only the owner of file %s may extend it or change its attributes", id)
	}
	// Changes to a paid file are the housekeeper's to make and carry.
	if !here {
		rec, node, err := s.elsewhere(r, p, id)
		if err != nil {
			return err
		}
		// Should the housekeeper not answer (membership has yet to see it
		// gone), the next holder carries the change.
		return s.forward(w, r, p, append([]string{s.keeper(rec, node)}, s.replicas.Readers(rec)...), body)
	}
	if f.State == files.StateStored && s.replicas != nil && !s.forwarded(r) && !p.IsAdmin() {
		if k := s.replicas.Keeper(f); k != "" && k != s.replicas.ID() {
			return s.forward(w, r, p, append([]string{k}, s.replicas.Readers(f)...), body)
		}
	}
	now := s.clock.Now()
	if f.State == files.StateExpired || f.State == files.StateAbandoned || (f.State == files.StateStored && !f.Expires.After(now)) {
		return apierr.New(http.StatusGone, "gone", "file %s is no longer stored; upload it again", f.ID)
	}
	var name string
	if ok, err := res.Attr("name", &name); err != nil {
		return err
	} else if ok {
		if err := checkName(name); err != nil {
			return err
		}
	}
	// The requested total term; for a pending file, the quoted one.
	current := f.Term
	var open *ledger.Quote
	if q, err := s.ledger.OpenQuote(r.Context(), f.ID); err == nil {
		open = &q
	}
	if f.State == files.StatePending && open != nil {
		current = open.Duration
	}
	total, err := duration(res, current, 0)
	if err != nil {
		return err
	}
	var quoteDur time.Duration
	kind := ledger.KindExtension
	switch {
	case f.State == files.StatePending && (total != current || open == nil):
		kind, quoteDur = ledger.KindUpload, total
	case f.State == files.StateStored && total > f.Term:
		quoteDur = total - f.Term
	case f.State == files.StateStored && total < f.Term:
		return apierr.Conflict("term_shrink", "a paid term cannot be shortened: file %s is paid for %d s, asked %d s", f.ID, int64(f.Term/time.Second), int64(total/time.Second)).At("/data/attributes/duration")
	}
	var conf json.RawMessage
	expires := s.ledger.QuoteExpiry()
	if quoteDur > 0 {
		if conf, err = s.confirm(r.Context(), f, quoteDur, expires); err != nil {
			return err
		}
	}
	var q *ledger.Quote
	err = s.store.InTx(r.Context(), func(ctx context.Context) error {
		cur, err := s.files.Get(ctx, f.ID)
		if err != nil {
			return err
		}
		if cur.State != f.State || cur.Term != f.Term {
			return apierr.Conflict("concurrent_change", "file %s changed while this request ran; retry it", f.ID)
		}
		add, err := additionalAttr(res, cur.Additional)
		if err != nil {
			return err
		}
		if name == "" {
			name = cur.Name
		}
		if err := s.files.Describe(ctx, f.ID, name, add); err != nil {
			return err
		}
		f.Additional, f.Name = add, name
		if quoteDur > 0 {
			nq, err := s.ledger.NewQuote(ctx, f.ID, kind, f.Size, quoteDur, expires, conf)
			if err != nil {
				return err
			}
			q = &nq
		}
		return nil
	})
	if err != nil {
		return err
	}
	if q != nil {
		jsonapi.Write(w, http.StatusPaymentRequired, s.doc(r, f, q))
		return nil
	}
	if f.State == files.StatePending {
		q = open
	}
	jsonapi.Write(w, http.StatusOK, s.doc(r, f, q))
	return nil
}

// forward has the first of nodes that answers answer r.
func (s *Service) forward(w http.ResponseWriter, r *http.Request, p auth.Principal, nodes []string, body []byte) error {
	var err error
	for _, node := range slices.Compact(nodes) {
		if err = s.replicas.Forward(w, r, node, p, body); err == nil {
			return nil
		}
		s.log.Warn("cannot forward a request", "path", r.URL.Path, "node", node, "err", err)
	}
	return err
}
