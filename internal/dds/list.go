package dds

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/files"
	"github.com/prometheus-dds/dds/internal/jsonapi"
)

// Page sizes of GET /files.
const (
	defaultPage = 50
	maxPage     = 500
)

// list answers the caller's files, newest first, wherever in the network
// their records are (GET /files?page[size]=N&page[after]=ID). The cursor is
// the id of the last file of the previous page, so pages stay right while
// files are added; each node reads one page from its index after it, so a
// page costs the same however many files the caller has. There is no
// total: counting files held by several nodes once would read them all.
func (s *Service) list(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	q := r.URL.Query()
	size := defaultPage
	if v := q.Get("page[size]"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPage {
			return apierr.BadRequest("bad_page", "page[size] must be a whole number from 1 to %d", maxPage).AtParam("page[size]")
		}
		size = n
	}
	var after files.Cursor
	if id := q.Get("page[after]"); id != "" {
		f, err := s.cursorFile(r, p, id)
		if err != nil {
			return err
		}
		after = files.CursorAt(f)
	}
	// One more than a page: whether another page follows.
	var (
		list    []files.File
		missing []string
		err     error
	)
	if s.replicas != nil && !s.forwarded(r) {
		list, missing, err = s.replicas.Owned(r.Context(), p.ID, after, size+1)
	} else {
		list, err = s.files.Owned(r.Context(), p.ID, after, size+1)
	}
	if err != nil {
		return err
	}
	page := list[:min(size, len(list))]
	base := jsonapi.BaseURL(r) + "/files"
	data := make([]jsonapi.Out, 0, len(page))
	for _, f := range page {
		data = append(data, jsonapi.Out{Type: "file", ID: f.ID, Attributes: listing(f), Links: map[string]string{"self": base + "/" + f.ID}})
	}
	links := map[string]string{"self": base + "?" + r.URL.RawQuery}
	if len(list) > size {
		next := url.Values{"page[size]": {strconv.Itoa(size)}, "page[after]": {page[len(page)-1].ID}}
		links["next"] = base + "?" + next.Encode()
	}
	meta := map[string]any{}
	if len(missing) > 0 {
		meta["unreachable_nodes"] = missing // their files may be missing from the list
	}
	jsonapi.Write(w, http.StatusOK, map[string]any{"data": data, "links": links, "meta": meta})
	return nil
}

// cursorFile is the file a page[after] names: its record here, or on
// another node.
func (s *Service) cursorFile(r *http.Request, p auth.Principal, id string) (files.File, error) {
	f, _, err := s.visible(r.Context(), p, id)
	if err == nil && f.ID == "" {
		f, _, err = s.elsewhere(r, p, id)
	}
	if err != nil || f.Owner != p.ID {
		if e, ok := apierr.As(err); err == nil || (ok && e.Status == http.StatusNotFound) {
			return files.File{}, apierr.BadRequest("bad_page", "page[after] names no file of yours: use the id from the previous page's next link").AtParam("page[after]")
		}
		return files.File{}, err
	}
	return f, nil
}

// listing is a file's attributes in a list: what its record says.
func listing(f files.File) api.File {
	a := api.File{Name: f.Name, Duration: int64(f.Term / time.Second), Additional: f.Additional, State: f.State,
		Size: f.Size, ContentHash: f.Hash, MerkleRoot: f.MerkleRoot, CreatedAt: f.Created}
	if f.State == files.StateReleased {
		a.State = files.StateStored // kept by other nodes
	}
	if !f.StoredAt.IsZero() {
		a.StoredAt = &f.StoredAt
	}
	if !f.Expires.IsZero() {
		a.ExpiresAt = &f.Expires
	}
	a.Price, a.PriceExact = f.Price.Float64(), f.Price.String()
	return a
}

// cancel deletes an upload that was never paid (DELETE /files/{id}): its
// quote is closed and its content released. A paid file is kept until its
// term ends: the owner paid the network to keep it.
func (s *Service) cancel(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id := r.PathValue("id")
	f, here, err := s.visible(r.Context(), p, id)
	if err != nil {
		return err
	}
	if !here {
		_, node, err := s.elsewhere(r, p, id)
		if err != nil {
			return err
		}
		return s.forward(w, r, p, []string{node}, nil)
	}
	if p.ID != f.Owner {
		return apierr.Forbidden("only the owner of file %s may cancel it", id)
	}
	if err := s.files.Cancel(r.Context(), id); errors.Is(err, files.ErrNotPending) {
		return apierr.Conflict("not_pending", "file %s is %s: only an upload not paid yet can be cancelled; a paid file is kept until its term ends", id, f.State)
	} else if err != nil {
		return err
	}
	s.log.Info("upload cancelled", "file", id, "owner", p.Name)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
