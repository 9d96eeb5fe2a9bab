package dds

import (
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/files"
	"github.com/prometheus-dds/dds/internal/filter"
	"github.com/prometheus-dds/dds/internal/jsonapi"
	"github.com/prometheus-dds/dds/internal/ledger"
	"github.com/prometheus-dds/dds/internal/money"
)

func (s *Service) info(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	f, here, err := s.visible(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	if !here {
		rec, node, err := s.elsewhere(r, p, r.PathValue("id"))
		if err != nil {
			return err
		}
		// The housekeeper knows of an open quote; any holder knows the rest.
		return s.forward(w, r, p, append([]string{s.keeper(rec, node)}, s.replicas.Readers(rec)...), nil)
	}
	var qp *ledger.Quote
	if q, err := s.ledger.OpenQuote(r.Context(), f.ID); err == nil {
		qp = &q
	} else if f.State == files.StateStored && s.replicas != nil && !s.forwarded(r) && !p.IsAdmin() {
		// An open extension quote is the housekeeper's: ask it, or answer
		// from this copy of the record when it does not answer.
		if k := s.replicas.Keeper(f); k != "" && k != s.replicas.ID() && s.replicas.Forward(w, r, k, p, nil) == nil {
			return nil
		}
	}
	jsonapi.Write(w, http.StatusOK, s.doc(r, f, qp))
	return nil
}

func (s *Service) download(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	f, here, err := s.visible(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	if !here {
		return s.proxy(w, r, p)
	}
	now := s.clock.Now()
	switch {
	case f.State == files.StatePending:
		q, err := s.ledger.OpenQuote(r.Context(), f.ID)
		if err != nil || !q.Expires.After(now) {
			return apierr.New(http.StatusGone, "quote_expired", "file %s was never paid and its quote expired; upload it again", f.ID)
		}
		jsonapi.Write(w, http.StatusPaymentRequired, s.doc(r, f, &q))
		return nil
	case f.State == files.StateAbandoned:
		return apierr.New(http.StatusGone, "quote_expired", "file %s was never paid and its quote expired; upload it again", f.ID)
	case f.State == files.StateExpired || !f.Expires.After(now):
		return apierr.New(http.StatusGone, "term_ended", "the storage term of file %s ended at %s", f.ID, f.Expires.Format(time.RFC3339))
	}
	if s.blobs.Size(f.Hash) != f.Size {
		// Missing or damaged here: heal from a replica before serving.
		s.log.Warn("stored file content is missing or damaged", "file", f.ID, "hash", f.Hash)
		if s.replicas == nil {
			return apierr.New(http.StatusServiceUnavailable, "content_unavailable", "the content of file %s is unavailable on this node and it has no replicas", f.ID)
		}
		if err := s.replicas.Heal(r.Context(), f); err != nil {
			s.log.Error("cannot heal file content", "file", f.ID, "err", err)
			return apierr.New(http.StatusServiceUnavailable, "content_unavailable", "the content of file %s is unavailable here and on its replicas; retry later", f.ID)
		}
	}
	content, err := s.blobs.Open(f.Hash)
	if err != nil {
		return err
	}
	defer content.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": f.Name}))
	// The owner's storlets transform what is read; a node that forwarded
	// the read ran them already.
	if !s.forwarded(r) {
		if handled, err := filter.Serve(w, r, s.filter, f.Owner, content, s.log); handled || err != nil {
			return err
		}
	}
	w.Header().Set("ETag", `"`+f.Hash+`"`)
	http.ServeContent(w, r, "", f.StoredAt, content)
	return nil
}

// doc renders a file. With a quote, price and duration are the quote's (the
// duration being the total term asked for); otherwise the paid ones.
func (s *Service) doc(r *http.Request, f files.File, q *ledger.Quote) jsonapi.Document {
	ctx := r.Context()
	a := api.File{Name: f.Name, Duration: int64(f.Term / time.Second), Additional: f.Additional, State: f.State,
		Size: f.Size, ContentHash: f.Hash, MerkleRoot: f.MerkleRoot, CreatedAt: f.Created}
	if !f.StoredAt.IsZero() {
		a.StoredAt = &f.StoredAt
	}
	if !f.Expires.IsZero() {
		a.ExpiresAt = &f.Expires
	}
	var meta any // absent unless there is a quote: JSON:API forbids a null meta
	price := money.Amount(0)
	if q != nil {
		price = q.Price
		a.Duration += int64(q.Duration / time.Second)
		meta = map[string]any{"quote": api.Quote{ID: q.ID, Kind: q.Kind, Price: q.Price.String(), Paid: q.Paid.String(),
			Duration: int64(q.Duration / time.Second), ExpiresAt: q.Expires, Confirmations: q.Confirmations}}
	} else {
		price = f.Price
		m := map[string]any{}
		if len(f.Confirmations) > 0 {
			m["confirmations"] = f.Confirmations
		} else if lq, err := s.ledger.LatestQuote(ctx, f.ID); err == nil {
			m["confirmations"] = lq.Confirmations
		}
		if s.replicas != nil && f.State == files.StateStored {
			m["copies"] = s.replicas.Copies(f)
		}
		if len(m) > 0 {
			meta = m
		}
	}
	a.Price, a.PriceExact = price.Float64(), price.String()
	self := jsonapi.BaseURL(r) + "/files/" + f.ID
	return jsonapi.Document{Data: jsonapi.Out{Type: "file", ID: f.ID, Attributes: a, Links: map[string]string{"self": self}, Meta: meta}}
}

// proxy answers a read of a file this node keeps no copy of from a node
// that does, streamed, with its status and headers. The reader's storlets
// run here, on the node that was asked.
func (s *Service) proxy(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	f, node, err := s.elsewhere(r, p, r.PathValue("id"))
	if err != nil {
		return err
	}
	targets := s.replicas.Readers(f)
	if len(targets) == 0 {
		targets = []string{node} // unpaid: the node that took the upload answers
	}
	if s.filter != nil && r.Method == http.MethodGet {
		content := &lazyReader{open: func() (io.ReadCloser, error) { return s.replicas.Open(r.Context(), targets[0], p, f.ID) }}
		defer content.Close()
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": f.Name}))
		if handled, err := filter.Serve(w, r, s.filter, f.Owner, content, s.log); handled || err != nil {
			return err
		}
		w.Header().Del("Content-Type")
		w.Header().Del("Content-Disposition")
	}
	return s.forward(w, r, p, targets, nil)
}

// lazyReader opens its source on the first read: a storlet that does not
// apply never reads, so nothing is fetched for it.
type lazyReader struct {
	open func() (io.ReadCloser, error)
	rc   io.ReadCloser
	err  error
}

func (l *lazyReader) Read(p []byte) (int, error) {
	if l.rc == nil && l.err == nil {
		l.rc, l.err = l.open()
	}
	if l.err != nil {
		return 0, l.err
	}
	return l.rc.Read(p)
}

func (l *lazyReader) Close() error {
	if l.rc != nil {
		return l.rc.Close()
	}
	return nil
}
