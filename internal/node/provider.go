package node

import (
	"context"
	"errors"
	"io"
	"mime"
	"path/filepath"

	"github.com/prometheus-dds/dds/internal/blob"
	"github.com/prometheus-dds/dds/internal/provider"
	"github.com/prometheus-dds/dds/internal/store"
)

// ddsFiles serves stored DDS files as the provider's native "dds" file type.
type ddsFiles struct {
	db    *store.DB
	blobs *blob.Store
}

func (f ddsFiles) Stat(ctx context.Context, id string) (provider.LocalObject, error) {
	var o provider.LocalObject
	var stored string
	err := f.db.QueryRowContext(ctx, `SELECT owner_id, name, size, content_hash, COALESCE(stored_at,'') FROM files WHERE id=? AND state='stored'`, id).
		Scan(&o.Owner, &o.Name, &o.Size, &o.Checksum, &stored)
	if err != nil {
		return o, store.NotFound(err)
	}
	o.ModTime = store.ParseTime(stored)
	if o.ContentType = mime.TypeByExtension(filepath.Ext(o.Name)); o.ContentType == "" {
		o.ContentType = "application/octet-stream"
	}
	return o, nil
}

func (f ddsFiles) Open(ctx context.Context, id string) (io.ReadSeekCloser, provider.LocalObject, error) {
	o, err := f.Stat(ctx, id)
	if err != nil {
		return nil, o, err
	}
	rc, err := f.blobs.Open(o.Checksum)
	if err != nil {
		return nil, o, errors.Join(store.ErrNotFound, err)
	}
	return rc, o, nil
}
