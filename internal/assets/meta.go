package assets

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"

	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/httpjson"
	"github.com/prometheus-dds/dds/internal/limits"
)

// readMetadata reads a metadata body whatever its Content-Type (clients send
// text/plain so that nothing re-serialises the JSON on the way).
func readMetadata(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	return limits.ReadAll(w, r, MaxMetadata, "metadata")
}

// postMetadata registers an asset: POST /api/v1/meta/data answers its id as a
// JSON string, with 200 (what starfish-py and starfish-java accept).
func (s *Service) postMetadata(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	doc, err := readMetadata(w, r)
	if err != nil {
		return err
	}
	id := AssetID(doc)
	if _, err := s.register(r, p, id, doc); err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, id)
	return nil
}

// putMetadata registers an asset under an id the client computed: 400 if the
// body does not hash to it; 201 when new, 200 when it was registered already.
func (s *Service) putMetadata(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, err := parseID(r.PathValue("id"))
	if err != nil {
		return err
	}
	doc, err := readMetadata(w, r)
	if err != nil {
		return err
	}
	if got := AssetID(doc); got != id {
		return apierr.BadRequest("id_mismatch", "the SHA3-256 of the body is %s, not the asset id %s in the path (hash the exact bytes you send)", got, id)
	}
	created, err := s.register(r, p, id, doc)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		w.Header().Set("Location", "/api/v1/meta/data/"+id)
	}
	httpjson.Write(w, status, id)
	return nil
}

// register stores metadata unless it is there already (the same bytes are
// the same asset, whoever sends them; the first sender owns it).
func (s *Service) register(r *http.Request, p auth.Principal, id string, doc []byte) (created bool, err error) {
	md, err := ParseMetadata(doc)
	if err != nil {
		return false, err
	}
	created, err = s.store.Register(r.Context(), Asset{ID: id, Owner: p.ID, Metadata: doc, Meta: md, Created: s.clock.Now()})
	if created {
		s.log.Info("asset registered", "asset", id, "owner", p.Name, "type", md.Type)
	}
	return created, err
}

// getMetadata answers the metadata exactly as it was registered, so that its
// hash is the asset id.
func (s *Service) getMetadata(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, err := parseID(r.PathValue("id"))
	if err != nil {
		return err
	}
	a, err := s.readable(r.Context(), p, id)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("ETag", `"`+id+`"`)
	http.ServeContent(w, r, "", a.Created, bytes.NewReader(a.Metadata))
	return nil
}

// deleteAsset removes a registration and its content (the owner or an admin).
func (s *Service) deleteAsset(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, err := parseID(r.PathValue("id"))
	if err != nil {
		return err
	}
	err = s.store.InTx(r.Context(), func(ctx context.Context) error {
		a, err := s.owned(ctx, p, id)
		if err != nil {
			return err
		}
		if err := s.store.Delete(ctx, id); err != nil {
			return err
		}
		if a.BlobHash != "" {
			return s.blobs.Unref(ctx, a.BlobHash)
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.log.Info("asset deleted", "asset", id, "by", p.Name)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// owned reads an asset (in ctx's transaction) and checks that p may change
// it.
func (s *Service) owned(ctx context.Context, p auth.Principal, id string) (Asset, error) {
	a, err := s.asset(ctx, id)
	if err != nil {
		return Asset{}, err
	}
	if a.Owner != p.ID && !p.IsAdmin() {
		shared, err := s.store.SharedWith(ctx, id, p.ID)
		if err != nil {
			return Asset{}, err
		}
		if a.Access != Public && !shared {
			return Asset{}, notReadable(p, id) // who may not see it learns nothing more
		}
		return Asset{}, apierr.Forbidden("asset %s belongs to the principal that registered it", id)
	}
	return a, nil
}

// listIDs answers the ids of the assets p may read as a JSON array, oldest
// first, streamed so that a large registry needs no memory.
func (s *Service) listIDs(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	return s.stream(w, r, p, false, '[', ']', func(bw *bufio.Writer, id string, _ []byte) {
		bw.WriteString(`"` + id + `"`)
	})
}

// index answers a map from asset id to metadata of the assets p may read
// (GET /api/v1/meta/index, which starfish-py lists metadata with).
func (s *Service) index(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	return s.stream(w, r, p, true, '{', '}', func(bw *bufio.Writer, id string, doc []byte) {
		bw.WriteString(`"` + id + `":`)
		bw.Write(bytes.TrimSpace(doc)) // registered metadata is a valid JSON object
	})
}

func (s *Service) stream(w http.ResponseWriter, r *http.Request, p auth.Principal, withMetadata bool, open, close byte, item func(*bufio.Writer, string, []byte)) error {
	w.Header().Set("Content-Type", "application/json")
	sw := &sentWriter{w: w}
	bw := bufio.NewWriterSize(sw, 32<<10)
	bw.WriteByte(open)
	n := 0
	err := s.store.EachReadable(r.Context(), p.ID, withMetadata, func(id string, doc []byte) error {
		if n > 0 {
			bw.WriteByte(',')
		}
		n++
		item(bw, id, doc)
		return nil
	})
	if err != nil {
		if !sw.sent {
			return err // nothing sent yet: a clean error answer
		}
		// Part of the list is out: cut the connection so the client sees a
		// failure, not a short list.
		s.log.Error("assets: listing failed midway", "err", err)
		panic(http.ErrAbortHandler)
	}
	bw.WriteByte(close)
	bw.WriteByte('\n')
	bw.Flush() // a failed write means the client went away: nobody to tell
	return nil
}

// sentWriter notes whether anything was written.
type sentWriter struct {
	w    io.Writer
	sent bool
}

func (s *sentWriter) Write(p []byte) (int, error) {
	s.sent = true
	return s.w.Write(p)
}
