package portal

import (
	"context"
	"crypto/subtle"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The Prometheus metrics: those of HTTP here, the job queue read from the
// database at scrape time, and the others where they happen (payments,
// payfip, mail). /metrics serves them on every host of a web process and
// on a worker's own port.

var (
	httpRequests = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "regie_http_requests_total",
		Help: "HTTP requests, by site (commune, base, admin, paiement, unknown), route, method and status.",
	}, []string{"site", "route", "method", "status"})
	httpDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "regie_http_request_duration_seconds",
		Help:    "Duration of HTTP requests, by site and route.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"site", "route"})
)

// observeRequest records one request in the HTTP metrics. Unmatched paths
// share one route label, so that scanners cannot grow the series.
func observeRequest(site, route, method string, status int, d time.Duration) {
	if route == "" {
		route = "(none)"
	}
	httpRequests.WithLabelValues(site, route, method, strconv.Itoa(status)).Inc()
	httpDuration.WithLabelValues(site, route).Observe(d.Seconds())
}

// MetricsHandler serves the metrics of g to whoever may read them: with a
// token, requests bearing it; without, only direct connections from this
// machine (loopback, and not relayed by a proxy there).
func MetricsHandler(token string, g prometheus.Gatherer) http.Handler {
	h := promhttp.InstrumentMetricHandler(prometheus.DefaultRegisterer, promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !metricsAllowed(r, token) {
			w.Header().Set("Cache-Control", "no-store")
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func metricsAllowed(r *http.Request, token string) bool {
	if token != "" {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		return ok && subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	ip := net.ParseIP(host)
	return err == nil && ip != nil && ip.IsLoopback() &&
		r.Header.Get("X-Forwarded-For") == "" && r.Header.Get("Forwarded") == "" && r.Header.Get("X-Real-Ip") == ""
}

// jobStats is the job queue by kind and state, read from River's table at
// scrape time, at most every 15 seconds whatever the number of scrapers.
// River deletes discarded jobs after 7 days, so "discarded" counts the
// jobs that failed for good in the last week; "retryable" those failing
// now and to be tried again.
type jobStats struct {
	db   *sqlx.DB
	mu   sync.Mutex
	at   time.Time
	rows []jobStatRow
}

type jobStatRow struct {
	Kind  string `db:"kind"`
	State string `db:"state"`
	N     int    `db:"n"`
}

var jobsDesc = prometheus.NewDesc("regie_jobs",
	"Background jobs waiting, running or failed, by kind and state (available, scheduled, running, retryable, discarded).",
	[]string{"kind", "state"}, nil)

// metricsGatherer is what a server's /metrics serves: the process's
// metrics and its database's job queue.
func metricsGatherer(db *sqlx.DB) prometheus.Gatherer {
	reg := prometheus.NewRegistry()
	reg.MustRegister(&jobStats{db: db})
	return prometheus.Gatherers{prometheus.DefaultGatherer, reg}
}

func (j *jobStats) Describe(ch chan<- *prometheus.Desc) { ch <- jobsDesc }

func (j *jobStats) Collect(ch chan<- prometheus.Metric) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if time.Since(j.at) > 15*time.Second {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var rows []jobStatRow
		// Owner-level on purpose: River's table, no commune's data.
		err := j.db.SelectContext(ctx, &rows, `SELECT kind, state::text AS state, count(*) AS n FROM river_job
			WHERE state IN ('available', 'scheduled', 'running', 'retryable', 'discarded') GROUP BY 1, 2`)
		cancel()
		if err != nil {
			ch <- prometheus.NewInvalidMetric(jobsDesc, err)
			return
		}
		j.rows, j.at = rows, time.Now()
	}
	for _, r := range j.rows {
		ch <- prometheus.MustNewConstMetric(jobsDesc, prometheus.GaugeValue, float64(r.N), r.Kind, r.State)
	}
}
