package storlets

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/sandbox"
)

type moduleKey struct{ hash, entry string }

// compiled is a module compiled once, on first use.
type compiled struct {
	once sync.Once
	mod  *sandbox.Module
	err  error
}

// module returns the compiled module of a blob, compiling it on first use.
func (s *Service) module(ctx context.Context, hash, entry string) (*sandbox.Module, error) {
	key := moduleKey{hash, entry}
	s.mu.Lock()
	c, ok := s.modules[key]
	if !ok {
		c = &compiled{}
		s.modules[key] = c
	}
	s.mu.Unlock()
	c.once.Do(func() {
		c.mod, c.err = s.compileBlob(ctx, hash, entry)
	})
	if c.err != nil {
		s.mu.Lock()
		if s.modules[key] == c {
			delete(s.modules, key) // let a later request try again
		}
		s.mu.Unlock()
	}
	return c.mod, c.err
}

func (s *Service) compileBlob(ctx context.Context, hash, entry string) (*sandbox.Module, error) {
	f, err := s.blobs.Open(hash)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	wasm, err := readAllLimit(f, s.rt.Limits().MaxModule)
	if err != nil {
		return nil, err
	}
	return s.rt.Compile(context.WithoutCancel(ctx), wasm, entry)
}

// remember caches a module compiled at upload.
func (s *Service) remember(hash string, m *sandbox.Module) {
	c := &compiled{mod: m}
	c.once.Do(func() {})
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.modules[moduleKey{hash, m.Entry()}]; ok {
		m.Close(context.Background()) // the same content, compiled already
		return
	}
	s.modules[moduleKey{hash, m.Entry()}] = c
}

// dataError maps a compile failure to a 400 that says why.
func dataError(err error) error {
	var ie *sandbox.InvalidModuleError
	if errors.As(err, &ie) {
		return apierr.BadRequest("invalid_module", "the data is not a module this node can run: %s", ie.Reason)
	}
	return err
}

var errTooLarge = errors.New("too large")

func readAllLimit(r io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, errTooLarge
	}
	return b, nil
}
