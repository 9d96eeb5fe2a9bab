package apierr

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"syscall"
	"testing"
)

func TestAsMapsAFullDiskTo507(t *testing.T) {
	for _, err := range []error{
		&fs.PathError{Op: "write", Path: "/data/blobs/tmp/x", Err: syscall.ENOSPC},
		fmt.Errorf("commit: %w", errors.New("database or disk is full (13)")),
	} {
		if e, ok := As(err); !ok || e.Status != http.StatusInsufficientStorage {
			t.Errorf("%v: %+v %v", err, e, ok)
		}
	}
	if e, ok := As(errors.New("boom")); ok || e.Status != http.StatusInternalServerError {
		t.Errorf("another error: %+v %v", e, ok)
	}
}
