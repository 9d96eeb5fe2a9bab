package storlets

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"syscall"

	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/blob"
	"github.com/prometheus-dds/dds/internal/limits"
)

// uploadStorlet validates and compiles the module before storing it: a file
// that is not a module this node can run is refused with the reason. Modules
// are small (MaxModule), so the bytes are read into memory to compile them.
func (s *Service) uploadStorlet(w http.ResponseWriter, r *http.Request) error {
	st, err := storletKind.get(s, r)
	if err != nil {
		return err
	}
	id := st.ID
	max := s.rt.Limits().MaxModule
	src, closeSrc, err := dataReader(w, r, max+1)
	if err != nil {
		return uploadError(err, max)
	}
	defer closeSrc()
	wasm, err := readAllLimit(src, max)
	if err != nil {
		return uploadError(err, max)
	}
	mod, err := s.rt.Compile(r.Context(), wasm, st.Main)
	if err != nil {
		return dataError(err)
	}
	staged, err := s.blobs.Stage(bytes.NewReader(wasm), -1)
	if err != nil {
		mod.Close(r.Context())
		return uploadError(err, max)
	}
	defer staged.Discard()
	st, err = storletKind.setData(r.Context(), s, id, staged, func(cur Storlet) error {
		if cur.Main != st.Main {
			return apierr.Conflict("concurrent_change", "storlet %d changed while its data was uploaded; upload it again", id)
		}
		return nil
	})
	if err != nil {
		mod.Close(r.Context())
		return storletKind.found(err, id)
	}
	s.remember(staged.Hash, mod)
	st.DataHash, st.DataSize = staged.Hash, staged.Size
	s.log.Info("storlet data uploaded", "storlet", id, "size", staged.Size, "sha256", staged.Hash)
	writeJSON(w, http.StatusCreated, storletJSON(st))
	return nil
}

// uploadDep streams the file into the blob store.
func (s *Service) uploadDep(w http.ResponseWriter, r *http.Request) error {
	d, err := depKind.get(s, r)
	if err != nil {
		return err
	}
	id, max := d.ID, s.cfg.MaxDependency
	src, closeSrc, err := dataReader(w, r, max)
	if err != nil {
		return uploadError(err, max)
	}
	defer closeSrc()
	staged, err := s.blobs.Stage(src, max)
	if err != nil {
		return uploadError(err, max)
	}
	defer staged.Discard()
	d, err = depKind.setData(r.Context(), s, id, staged, func(Dependency) error { return nil })
	if err != nil {
		return depKind.found(err, id)
	}
	d.DataHash, d.DataSize = staged.Hash, staged.Size
	s.log.Info("dependency data uploaded", "dependency", id, "size", staged.Size, "sha256", staged.Hash)
	writeJSON(w, http.StatusCreated, depJSON(d))
	return nil
}

func uploadError(err error, max int64) error {
	var mb *http.MaxBytesError
	switch {
	case errors.Is(err, blob.ErrTooLarge), errors.Is(err, errTooLarge), errors.As(err, &mb):
		return apierr.New(http.StatusRequestEntityTooLarge, "too_large", "the data exceeds this node's limit of %d bytes", max)
	case errors.Is(err, syscall.ENOSPC):
		return apierr.New(http.StatusInsufficientStorage, "no_space", "the node is out of disk space")
	}
	return err
}

// dataReader returns the uploaded bytes: the raw body, or the first file
// part of a multipart/form-data body (as the original controller took it).
func dataReader(w http.ResponseWriter, r *http.Request, limit int64) (io.Reader, func(), error) {
	// Multipart framing adds a little to the data.
	body := http.MaxBytesReader(w, r.Body, limit+64<<10)
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		return body, func() {}, nil
	}
	return multipartFile(body, params["boundary"])
}

// multipartFile finds the data in a multipart body: the part named "file"
// or "data", or else the first part with a file name.
func multipartFile(body io.Reader, boundary string) (io.Reader, func(), error) {
	if boundary == "" {
		return nil, nil, apierr.BadRequest("invalid_multipart", "multipart/form-data without a boundary")
	}
	mr := multipart.NewReader(body, boundary)
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return nil, nil, apierr.BadRequest("missing_file", "the multipart body has no file part (name it \"file\")")
		}
		if err != nil {
			if c := limits.Classify(err, "the data"); c != nil {
				return nil, nil, err // uploadError words the 413
			}
			return nil, nil, apierr.BadRequest("invalid_multipart", "the multipart body is malformed: %v", err)
		}
		if n := part.FormName(); n == "file" || n == "data" || part.FileName() != "" {
			return part, func() { part.Close() }, nil
		}
		part.Close()
	}
}
