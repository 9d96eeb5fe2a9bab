package node

import (
	"context"
	"errors"
	"io"
	"mime"
	"path/filepath"

	"github.com/prometheus-dds/dds/internal/assets"
	"github.com/prometheus-dds/dds/internal/blob"
	"github.com/prometheus-dds/dds/internal/files"
	"github.com/prometheus-dds/dds/internal/ocean"
	"github.com/prometheus-dds/dds/internal/store"
)

// ddsFiles serves stored DDS files as the Ocean face's native "dds" file type.
type ddsFiles struct {
	files *files.Registry
	blobs *blob.Store
}

func (f ddsFiles) Stat(ctx context.Context, id string) (ocean.LocalObject, error) {
	file, err := f.files.StoredFile(ctx, id)
	if err != nil {
		return ocean.LocalObject{}, err
	}
	o := ocean.LocalObject{Owner: file.Owner, Name: file.Name, Size: file.Size, Checksum: file.Hash, ModTime: file.StoredAt}
	if o.ContentType = mime.TypeByExtension(filepath.Ext(o.Name)); o.ContentType == "" {
		o.ContentType = "application/octet-stream"
	}
	return o, nil
}

func (f ddsFiles) Open(ctx context.Context, id string) (io.ReadSeekCloser, ocean.LocalObject, error) {
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

// dep7Assets serves DEP-7 assets with content as the Ocean face's native "dep7"
// file type.
type dep7Assets struct {
	assets *assets.Service
	blobs  *blob.Store
}

func (d dep7Assets) Stat(ctx context.Context, id string) (ocean.LocalObject, error) {
	a, err := d.assets.Lookup(ctx, id)
	if err != nil || a.BlobHash == "" {
		return ocean.LocalObject{}, store.ErrNotFound
	}
	o := ocean.LocalObject{Name: a.Meta.Name, ContentType: a.Meta.ContentType, Size: a.Size, Owner: a.Owner,
		Checksum: a.BlobHash, ModTime: a.UploadedAt}
	if o.Name == "" {
		o.Name = a.ID
	}
	if o.ContentType == "" {
		o.ContentType = "application/octet-stream"
	}
	return o, nil
}

func (d dep7Assets) Open(ctx context.Context, id string) (io.ReadSeekCloser, ocean.LocalObject, error) {
	o, err := d.Stat(ctx, id)
	if err != nil {
		return nil, o, err
	}
	rc, err := d.blobs.Open(o.Checksum)
	if err != nil {
		return nil, o, errors.Join(store.ErrNotFound, err)
	}
	return rc, o, nil
}
