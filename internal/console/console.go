// Package console is the operator console: one page, served by the node
// under /console/, that an admin signs in to with a token. The page reads
// the node's existing admin APIs (GET /network, GET /storlets, GET /metrics)
// and the few read-only endpoints below /console/api/ that no face offers:
// storage, money per day, the files held here with their copies, and the
// newest compute jobs and deals. The
// page's assets are embedded, need no build step, and run under a strict
// Content-Security-Policy (no inline script or style): the token typed in
// lives in the tab's sessionStorage only.
package console

import (
	"context"
	"embed"
	"flag"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus-dds/dds/api"
	"github.com/prometheus-dds/dds/internal/apierr"
	"github.com/prometheus-dds/dds/internal/auth"
	"github.com/prometheus-dds/dds/internal/clock"
	"github.com/prometheus-dds/dds/internal/files"
	"github.com/prometheus-dds/dds/internal/jsonapi"
	"github.com/prometheus-dds/dds/internal/ledger"
	"github.com/prometheus-dds/dds/internal/money"
	"github.com/prometheus-dds/dds/internal/route"
)

//go:embed web
var web embed.FS

// CSP is the page's Content-Security-Policy: everything from the node
// itself, nothing inline, no framing.
const CSP = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// MaxDays bounds the money chart's period.
const MaxDays = 366

// Config configures the console.
type Config struct {
	DataDir string // whose file system's room the storage view shows
}

// DefaultConfig is the console's configuration.
func DefaultConfig() Config { return Config{} }

// RegisterFlags registers the console's flags: none yet (the data
// directory is the node's).
func (c *Config) RegisterFlags(*flag.FlagSet) {}

// Auth authenticates the caller.
type Auth interface {
	Bearer(r *http.Request) (auth.Principal, error)
}

// Ledger is what the money view adds up.
type Ledger interface {
	Statement(ctx context.Context, from, to time.Time) (ledger.Statement, error)
	Flows(ctx context.Context, from, to time.Time) (quoted, paid money.Amount, err error)
}

// Files lists the files held here, with their holders, a page at a time,
// and counts them.
type Files interface {
	StoredAfter(ctx context.Context, after string, limit int) ([]files.File, error)
	StoredTotals(ctx context.Context) (n, bytes int64, err error)
	CopiesPerNode(ctx context.Context) (map[string]int64, error)
}

// Blobs tells how much content the node keeps.
type Blobs interface {
	Usage(ctx context.Context) (objects int64, bytes int64, err error)
}

// Counter is a face's items by state (its gauge's source).
type Counter interface {
	Counts(ctx context.Context) (map[string]int64, error)
}

// Jobs lists the newest compute jobs.
type Jobs interface {
	RecentJobs(ctx context.Context, limit int) ([]api.ConsoleJob, error)
}

// Deals lists the newest deals.
type Deals interface {
	RecentDeals(ctx context.Context, limit int) ([]api.ConsoleDeal, error)
}

// MaxList bounds the jobs, deals and files lists.
const MaxList = 500

// Deps are the console's dependencies.
type Deps struct {
	Auth   Auth
	Ledger Ledger
	Files  Files
	Blobs  Blobs
	// Assets counts the DEP-7 assets ("registered") for the storage view;
	// nil: not shown.
	Assets Counter
	Jobs   Jobs
	Deals  Deals
	Clock  clock.Clock
	Log    *slog.Logger
}

// Service is the console.
type Service struct {
	cfg    Config
	deps   Deps
	static http.Handler
}

// New returns the console.
func New(_ context.Context, cfg Config, deps Deps) (*Service, error) {
	sub, err := fs.Sub(web, "web")
	if err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, deps: deps, static: http.StripPrefix("/console/", http.FileServerFS(sub))}, nil
}

// Routes adds the page and its admin endpoints.
func (s *Service) Routes(mux route.Mux) {
	mux.HandleFunc("GET /console", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/console/", http.StatusMovedPermanently)
	})
	mux.HandleFunc("GET /console/", s.page)
	mux.HandleFunc("GET /console/api/storage", s.admin(s.storage))
	mux.HandleFunc("GET /console/api/money", s.admin(s.money))
	mux.HandleFunc("GET /console/api/files", s.admin(s.files))
	mux.HandleFunc("GET /console/api/jobs", s.admin(s.jobs))
	mux.HandleFunc("GET /console/api/deals", s.admin(s.deals))
	mux.HandleFunc("GET /console/api/", func(w http.ResponseWriter, r *http.Request) {
		jsonapi.WriteError(w, s.deps.Log, apierr.NotFound("no console endpoint %s %s", r.Method, r.URL.Path))
	})
}

// page serves the embedded assets, under the policy that keeps a script
// injected into the page from running.
func (s *Service) page(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
	s.static.ServeHTTP(w, r)
}

// RedirectBrowsers sends a browser asking for / (Accept: text/html) to the
// console; API clients asking for / keep next's answer.
func RedirectBrowsers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead) &&
			strings.Contains(r.Header.Get("Accept"), "text/html") {
			w.Header().Add("Vary", "Accept")
			http.Redirect(w, r, "/console/", http.StatusSeeOther)
			return
		}
		next.ServeHTTP(w, r)
	})
}

type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// admin answers only this node's admins.
func (s *Service) admin(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := s.deps.Auth.Bearer(r)
		if err == nil && !p.IsAdmin() {
			err = apierr.Forbidden("the console needs this node's admin token")
		}
		if err == nil {
			w.Header().Set("Cache-Control", "no-store")
			err = h(w, r)
		}
		if err != nil {
			jsonapi.WriteError(w, s.deps.Log, err)
		}
	}
}

func (s *Service) storage(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	st := api.ConsoleStorage{At: s.deps.Clock.Now().UTC()}
	var err error
	if st.DiskTotal, st.DiskFree, st.DiskUsed, err = disk(s.cfg.DataDir); err != nil {
		return err
	}
	if st.Blobs, st.BlobBytes, err = s.deps.Blobs.Usage(ctx); err != nil {
		return err
	}
	dds := api.ConsoleFace{Face: "dds"}
	if dds.Items, dds.Bytes, err = s.deps.Files.StoredTotals(ctx); err != nil {
		return err
	}
	st.Faces = append(st.Faces, dds)
	if st.Copies, err = s.deps.Files.CopiesPerNode(ctx); err != nil {
		return err
	}
	if s.deps.Assets != nil {
		n, err := s.deps.Assets.Counts(ctx)
		if err != nil {
			return err
		}
		st.Faces = append(st.Faces, api.ConsoleFace{Face: "dep7", Items: n["registered"], Bytes: -1})
	}
	jsonapi.Write(w, http.StatusOK, jsonapi.Document{Data: jsonapi.Out{Type: "storage", Attributes: st}})
	return nil
}

// money answers ?days=N (default 14) days up to today, oldest first.
func (s *Service) money(w http.ResponseWriter, r *http.Request) error {
	days := 14
	if v := r.URL.Query().Get("days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxDays {
			return apierr.BadRequest("bad_days", "days must be a whole number from 1 to %d, not %q", MaxDays, v).AtParam("days")
		}
		days = n
	}
	ctx := r.Context()
	today := s.deps.Clock.Now().UTC().Truncate(24 * time.Hour)
	out := make([]jsonapi.Out, 0, days)
	for i := days - 1; i >= 0; i-- {
		from := today.AddDate(0, 0, -i)
		to := from.AddDate(0, 0, 1)
		quoted, paid, err := s.deps.Ledger.Flows(ctx, from, to)
		if err != nil {
			return err
		}
		st, err := s.deps.Ledger.Statement(ctx, from, to)
		if err != nil {
			return err
		}
		day := from.Format(time.DateOnly)
		out = append(out, jsonapi.Out{Type: "day", ID: day, Attributes: api.ConsoleDay{Day: day,
			Quoted: quoted.String(), Paid: paid.String(), Accrued: st.Amount.String(), Stored: st.Size}})
	}
	jsonapi.Write(w, http.StatusOK, map[string]any{"data": out})
	return nil
}

// files answers a page of the files held here in id order: ?limit=N
// (default 50) after ?after=ID, with links.next while there may be more.
func (s *Service) files(w http.ResponseWriter, r *http.Request) error {
	n, err := limit(r)
	if err != nil {
		return err
	}
	after := r.URL.Query().Get("after")
	held, err := s.deps.Files.StoredAfter(r.Context(), after, n)
	if err != nil {
		return err
	}
	out := make([]jsonapi.Out, 0, len(held))
	for _, f := range held {
		cf := api.ConsoleFile{Name: f.Name, Owner: f.Owner, Size: f.Size, State: f.State, ExpiresAt: f.Expires,
			Holders: make([]api.ConsoleHolder, 0, len(f.Holders))}
		for _, h := range f.Holders {
			cf.Holders = append(cf.Holders, api.ConsoleHolder{Node: h.Node, State: h.State, Share: h.Share})
		}
		out = append(out, jsonapi.Out{Type: "file", ID: f.ID, Attributes: cf})
	}
	doc := map[string]any{"data": out}
	if len(held) == n {
		q := url.Values{"after": {held[n-1].ID}, "limit": {strconv.Itoa(n)}}
		doc["links"] = map[string]string{"next": "/console/api/files?" + q.Encode()}
	}
	jsonapi.Write(w, http.StatusOK, doc)
	return nil
}

// limit reads ?limit=N, 1 to MaxList, default 50.
func limit(r *http.Request) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return 50, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxList {
		return 0, apierr.BadRequest("bad_limit", "limit must be a whole number from 1 to %d, not %q", MaxList, v).AtParam("limit")
	}
	return n, nil
}

func (s *Service) jobs(w http.ResponseWriter, r *http.Request) error {
	n, err := limit(r)
	if err != nil {
		return err
	}
	jobs, err := s.deps.Jobs.RecentJobs(r.Context(), n)
	if err != nil {
		return err
	}
	out := make([]jsonapi.Out, 0, len(jobs))
	for _, j := range jobs {
		out = append(out, jsonapi.Out{Type: "job", ID: j.ID, Attributes: j})
	}
	jsonapi.Write(w, http.StatusOK, map[string]any{"data": out})
	return nil
}

func (s *Service) deals(w http.ResponseWriter, r *http.Request) error {
	n, err := limit(r)
	if err != nil {
		return err
	}
	deals, err := s.deps.Deals.RecentDeals(r.Context(), n)
	if err != nil {
		return err
	}
	out := make([]jsonapi.Out, 0, len(deals))
	for _, d := range deals {
		out = append(out, jsonapi.Out{Type: "deal", ID: d.ID, Attributes: d})
	}
	jsonapi.Write(w, http.StatusOK, map[string]any{"data": out})
	return nil
}
