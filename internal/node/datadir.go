package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/clock"
	"github.com/prometheus-dds/dds/internal/identity"
	"github.com/prometheus-dds/dds/internal/persist"
	"github.com/prometheus-dds/dds/internal/pgp"
	"github.com/prometheus-dds/dds/internal/store"
)

// The data directory holds the node's keys and secrets, each in a file of
// its own (mode 0600), beside the metadata store and the blob store. The
// node owns them all: parts are handed keys, never paths.

// secretFiles are the secrets every process of a node must share.
var secretFiles = []string{"node.key", "secret.key", "deal-pgp.asc"}

// secretStore keeps the node's secrets in the metadata database, for every
// process of the node (persist.Secrets implements it).
type secretStore interface {
	// Secret is the secret name; store.ErrNotFound if none was published.
	Secret(ctx context.Context, name string) (string, error)
	// PublishSecret stores value as the secret name, unless one is stored
	// already (then the stored one stays).
	PublishSecret(ctx context.Context, name, value string) error
}

// adoptSecrets writes into dataDir the node's secrets that the metadata
// store has and the directory lacks; a directory holding a different
// secret belongs to another node and is refused.
func adoptSecrets(ctx context.Context, db secretStore, dataDir string) error {
	for _, name := range secretFiles {
		shared, err := db.Secret(ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			continue
		} else if err != nil {
			return err
		}
		path := filepath.Join(dataDir, name)
		own, err := os.ReadFile(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if err := identity.WriteSecret(path, []byte(shared)); err != nil {
				return err
			}
		case err != nil:
			return err
		case string(own) != shared:
			return fmt.Errorf("node: %s is not the %s of the node whose metadata store this is: this data directory belongs to another node (give each process of a node an empty data directory, or its own)", path, name)
		}
	}
	return nil
}

// publishSecrets stores the data directory's secrets in the metadata store,
// where another process of the node finds them; if another process
// published a different one first, this one must not run as the same node.
func publishSecrets(ctx context.Context, db secretStore, dataDir string) error {
	for _, name := range secretFiles {
		own, err := os.ReadFile(filepath.Join(dataDir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return err
		}
		if err := db.PublishSecret(ctx, name, string(own)); err != nil {
			return err
		}
	}
	// Created at the same time as another process's? Then one of them
	// differs now: refuse it, and a restart adopts the published one.
	return adoptSecrets(ctx, db, dataDir)
}

// OpenDB opens the metadata store, meta (a postgres:// URL or a SQLite
// file) or "" for the data directory's own SQLite file, and brings its
// schema up to date.
func OpenDB(ctx context.Context, meta, dataDir string) (*store.DB, error) {
	if meta == "" {
		meta = filepath.Join(dataDir, "meta.db")
	}
	return store.OpenSchema(ctx, meta)
}

// LoadKey loads the node key of a data directory, creating it the first time.
func LoadKey(dataDir string) (*identity.Key, error) {
	k, _, err := identity.LoadOrCreate(filepath.Join(dataDir, "node.key"))
	return k, err
}

func loadKey(dataDir string, log *slog.Logger) (*identity.Key, error) {
	path := filepath.Join(dataDir, "node.key")
	k, created, err := identity.LoadOrCreate(path)
	if err == nil && created {
		log.Info("created node key", "path", path, "node", k.ID())
	}
	return k, err
}

// OpenAuth opens the principals and tokens of a data directory (also for the
// commands that manage them while the node runs). Changes are signed with the
// node key, so the network takes them.
func OpenAuth(ctx context.Context, dataDir string, db *store.DB, c clock.Clock, key *identity.Key) (*auth.Service, error) {
	secretPath := filepath.Join(dataDir, "secret.key")
	raw, err := os.ReadFile(secretPath)
	if errors.Is(err, fs.ErrNotExist) {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		if err := identity.WriteSecret(secretPath, []byte(hex.EncodeToString(b)+"\n")); err != nil {
			return nil, err
		}
		raw = []byte(hex.EncodeToString(b))
	} else if err != nil {
		return nil, err
	}
	secret, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil || len(secret) != 32 {
		return nil, fmt.Errorf("node: %s is not 32 hex-encoded bytes", secretPath)
	}
	return auth.New(ctx, auth.Config{Secret: secret}, auth.Deps{Store: persist.NewAuth(db), Clock: c, Signer: key})
}

// OpenAccounts opens the accounts of a node's data directory for a command
// that manages them while the node may run (SQLite lets both write); the
// changes are signed with the node's key, so the network takes them. A
// directory where no node has started is refused: accounts made there would
// belong to no node.
func OpenAccounts(ctx context.Context, dataDir, meta string) (a *auth.Service, closeFn func(), err error) {
	need := []string{"node.key"}
	if meta == "" {
		need = append(need, "meta.db")
	}
	for _, f := range need {
		if _, err := os.Stat(filepath.Join(dataDir, f)); err != nil {
			return nil, nil, fmt.Errorf("%s is not a node's data directory (no %s): start the node once with 'dds serve --data %s', or pass the --data of a node", dataDir, f, dataDir)
		}
	}
	db, err := OpenDB(ctx, meta, dataDir)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			db.Close()
		}
	}()
	key, err := LoadKey(dataDir)
	if err != nil {
		return nil, nil, err
	}
	if a, err = OpenAuth(ctx, dataDir, db, clock.Real{}, key); err != nil {
		return nil, nil, err
	}
	return a, func() { db.Close() }, nil
}

// ensureAdmin creates the first admin and its token on first start.
func ensureAdmin(ctx context.Context, dataDir string, a *auth.Service, log *slog.Logger) error {
	admins, err := a.CountRole(ctx, auth.RoleAdmin)
	if err != nil || admins > 0 {
		return err
	}
	p, err := a.CreatePrincipal(ctx, "admin", auth.RoleAdmin)
	if err != nil {
		return err
	}
	tok, err := a.IssueToken(ctx, p.ID, "first start")
	if err != nil {
		return err
	}
	path := filepath.Join(dataDir, "admin.token")
	if err := identity.WriteSecret(path, []byte(tok+"\n")); err != nil {
		return err
	}
	log.Info("created the admin account; its token is in the file", "path", path)
	return nil
}

// loadPGP loads the deal module's OpenPGP key, creating it the first time.
func loadPGP(dataDir string, key *identity.Key, c clock.Clock, log *slog.Logger) (*pgp.Key, error) {
	path := filepath.Join(dataDir, "deal-pgp.asc")
	k, created, err := pgp.LoadOrCreate(path, "Prometheus DDS node "+key.ID(), c.Now())
	if err == nil && created {
		log.Info("created the deal module's OpenPGP key", "path", path, "fingerprint", k.Fingerprint())
	}
	return k, err
}

// lockDir takes an exclusive lock on the data directory, so two nodes never
// share one.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("node: data directory %s is in use by another dds process", dir)
	}
	return f, nil
}

// CopyMeta copies the metadata of the node whose data directory is dataDir
// from the database from ("" for its SQLite file) into the empty database to:
// the way to move a node to PostgreSQL. The data directory stays the
// node's (keys, local blobs); the node must be stopped, which the directory's
// lock checks. It returns the rows copied per table.
func CopyMeta(ctx context.Context, dataDir, from, to string) (map[string]int64, error) {
	if to == "" {
		return nil, errors.New("node: name the database to copy into (a postgres:// URL, or a SQLite file)")
	}
	if from == to || (from == "" && to == filepath.Join(dataDir, "meta.db")) {
		return nil, errors.New("node: the source and the destination are the same database")
	}
	if from == "" {
		if _, err := os.Stat(filepath.Join(dataDir, "meta.db")); err != nil {
			return nil, fmt.Errorf("node: %s has no metadata to copy (is it a node's data directory?): %w", dataDir, err)
		}
	}
	lock, err := lockDir(dataDir)
	if err != nil {
		return nil, fmt.Errorf("%w: stop it before copying its metadata", err)
	}
	defer lock.Close()
	src, err := OpenDB(ctx, from, dataDir)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	dst, err := store.Open(to)
	if err != nil {
		return nil, err
	}
	defer dst.Close()
	return store.Copy(ctx, src, dst)
}
