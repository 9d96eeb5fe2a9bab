// Package metrics exposes the node's Prometheus metrics. Each node has its own
// registry, so several nodes can run in one process (devnet, tests).
package metrics

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/prometheus-dds/dds/internal/route"
)

// Metrics holds the node's registry and its HTTP instruments.
type Metrics struct {
	Registry *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	bytesIn  prometheus.Counter
	bytesOut prometheus.Counter
}

// New creates a registry with the process and Go collectors.
func New() *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dds_http_requests_total", Help: "HTTP requests by route and status code.",
	}, []string{"route", "code"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "dds_http_request_duration_seconds", Help: "HTTP request latency by route.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 9),
	}, []string{"route"})
	m.bytesIn = prometheus.NewCounter(prometheus.CounterOpts{Name: "dds_http_request_bytes_total", Help: "Bytes received in request bodies."})
	m.bytesOut = prometheus.NewCounter(prometheus.CounterOpts{Name: "dds_http_response_bytes_total", Help: "Bytes sent in response bodies."})
	m.Registry.MustRegister(m.requests, m.duration, m.bytesIn, m.bytesOut,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Config is who may read the metrics.
type Config struct {
	// Public serves /metrics to anyone; otherwise an admin token is needed
	// (the metrics tell how busy the node is and what it holds).
	Public bool
}

// DefaultConfig keeps the metrics to the node's admins.
func DefaultConfig() Config { return Config{} }

// RegisterFlags registers the metrics' flag.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.BoolVar(&c.Public, "metrics-public", c.Public, "serve /metrics without a token (by default it needs an admin token: Authorization: Bearer <admin token>)")
}

// Admin authenticates a request: an error if it carries no valid token,
// else whether the token is an admin's.
type Admin func(r *http.Request) (ok bool, err error)

// Handler serves the metrics in Prometheus text format: to anyone if
// cfg.Public, else to the requests admin accepts (401 without a valid token,
// 403 with another role's, in plain text as a scraper logs it).
func (m *Metrics) Handler(cfg Config, admin Admin) http.Handler {
	h := promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
	if cfg.Public {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch ok, err := admin(r); {
		case err != nil:
			w.Header().Set("WWW-Authenticate", `Bearer realm="dds metrics"`)
			http.Error(w, "metrics need an admin token (Authorization: Bearer <token>) unless the node runs with --metrics-public: "+err.Error(), http.StatusUnauthorized)
		case !ok:
			http.Error(w, "metrics need an admin token; this token has another role", http.StatusForbidden)
		default:
			h.ServeHTTP(w, r)
		}
	})
}

// Gauges registers a gauge family whose values are read at scrape time.
func (m *Metrics) Gauges(name, help, label string, read func(context.Context) (map[string]int64, error)) {
	m.Registry.MustRegister(&gaugeFunc{desc: prometheus.NewDesc(name, help, []string{label}, nil), read: read})
}

type gaugeFunc struct {
	desc *prometheus.Desc
	read func(context.Context) (map[string]int64, error)
}

func (g *gaugeFunc) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }
func (g *gaugeFunc) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	vals, err := g.read(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(g.desc, err)
		return
	}
	for k, v := range vals {
		ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, float64(v), k)
	}
}

// Wrap instruments an HTTP handler: requests by route pattern and status,
// latency, bytes in and out.
// With access not nil, every request is also logged there (method, path
// without its query, which may carry signatures, route, status, bytes,
// duration, remote address).
func (m *Metrics) Wrap(mux route.Mux, access *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		_, route := mux.Handler(r)
		if route == "" {
			route = "unmatched"
		}
		if r.Body != nil {
			r.Body = &countingBody{ReadCloser: r.Body, c: m.bytesIn}
		}
		rw := &recorder{ResponseWriter: w, status: 200}
		mux.ServeHTTP(rw, r)
		m.requests.WithLabelValues(route, strconv.Itoa(rw.status)).Inc()
		m.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
		m.bytesOut.Add(float64(rw.n))
		if access != nil {
			access.Info("request", "method", r.Method, "path", r.URL.Path, "route", route, "status", rw.status,
				"bytes", rw.n, "ms", time.Since(start).Milliseconds(), "remote", r.RemoteAddr)
		}
	})
}

type countingBody struct {
	io.ReadCloser
	c prometheus.Counter
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.c.Add(float64(n))
	return n, err
}

type recorder struct {
	http.ResponseWriter
	status int
	n      int64
	wrote  bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	r.wrote = true
	n, err := r.ResponseWriter.Write(p)
	r.n += int64(n)
	return n, err
}

// ReadFrom keeps the server's own ReadFrom reachable, so that a file served
// through the recorder (http.ServeContent) goes by sendfile(2) instead of
// being copied through a buffer.
func (r *recorder) ReadFrom(src io.Reader) (int64, error) {
	r.wrote = true
	n, err := io.Copy(r.ResponseWriter, src)
	r.n += n
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
