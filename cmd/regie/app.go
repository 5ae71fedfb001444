package main

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq" // the PostgreSQL driver
	"github.com/redis/go-redis/v9"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/rivertype"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/billing/docstore"
	"github.com/regie/regie/migrations"
	"github.com/regie/regie/payments"
	"github.com/regie/regie/payments/payfip"
	"github.com/regie/regie/portal"
	"github.com/regie/regie/portal/mail"
	"github.com/regie/regie/tenant"
	"github.com/regie/regie/tenant/pgdb"
)

// app is the wired product that serve, worker and demo run. newApp is the
// function tests call to boot the whole server.
type app struct {
	cfg      config
	log      *slog.Logger
	logw     io.Writer
	db       *sqlx.DB
	rdb      *redis.Client
	tenants  *tenant.Store
	resolver *tenant.Resolver
	jobs     *river.Client[*sql.Tx]
	docs     docstore.Store
	payments *payments.Service
	web      *portal.Server
	// handler is what the HTTP server serves: the portal, wrapped by the
	// demo to add its mailbox.
	handler http.Handler
	// limits are the HTTP server's timeouts; tests shorten them.
	limits httpLimits
}

// httpLimits bound what a slow or hostile client can hold: the time to
// send the headers, the whole request, to take the response, and between
// two requests on a kept-alive connection; and the size of the headers.
type httpLimits struct {
	readHeader, read, write, idle time.Duration
	maxHeaderBytes                int
}

var defaultHTTPLimits = httpLimits{
	readHeader:     10 * time.Second,
	read:           2 * time.Minute, // the whole request, an import's upload included
	write:          2 * time.Minute, // the whole response, the payments export included
	idle:           2 * time.Minute,
	maxHeaderBytes: 64 << 10,
}

// appOptions change how newApp wires the product.
type appOptions struct {
	// work makes this process work background jobs (serve without
	// --web-only, worker, demo).
	work bool
	// sender replaces SMTP (tests only).
	sender mail.Sender
	// jobPoll is how often River looks for jobs inserted by other
	// processes; zero means 250 ms.
	jobPoll time.Duration
}

func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// maxConns is how many PostgreSQL connections a process opens (openDB);
// one that only serves pages opens fewer (webConns).
const maxConns = 40

// webConns is how many PostgreSQL connections a process that only serves
// pages opens: 8 a core (GOMAXPROCS at start), at least 16, at most
// maxConns. A family's page holds one for a statement or a short
// transaction, so a few per core keep the cores busy; more only let a burst
// open new connections, and PostgreSQL spends milliseconds of CPU starting
// each one. On 2 cores, france profile, 10-s steps at 2,047/s (about half
// the maximum of "Mes factures", two thirds of an invoice's page): with
// 40, bursts opened 24 connections at once and every request waited, p99
// 39, 110 and 83 ms in three steps of four (7.8 in the fourth); with 16,
// 4.8-23.9 ms; with 8 or 12, 6.5-11.5 ms. The maximum throughput did not
// move (4,497-4,865 "Mes factures" a second). The floor is for the
// requests that hold one longer: a staff CSV export streams in its
// transaction, an API retry waits on its idempotency key's lock.
func webConns() int {
	return max(16, min(maxConns, 8*runtime.GOMAXPROCS(0)))
}

// openDB connects to PostgreSQL and checks that it answers.
func openDB(ctx context.Context, dsn string) (*sqlx.DB, error) {
	db, err := pgdb.Open(dsn)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("database %s: %w", redactURL(dsn), err)
	}
	return db, nil
}

// openRedis returns a client for the Redis URL; it does not require Redis to
// answer yet (readyz reports it).
func openRedis(raw string) (*redis.Client, error) {
	opt, err := redis.ParseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("REGIE_REDIS_URL: %w", err)
	}
	opt.DialTimeout = 2 * time.Second
	opt.ReadTimeout = 2 * time.Second
	opt.WriteTimeout = 2 * time.Second
	return redis.NewClient(opt), nil
}

// The garbage collector's settings of `regie serve` and `regie worker`
// (tuneGC), where GOGC or GOMEMLIMIT does not say otherwise. Their live
// heap is small (about 10 MB while serving pages), so Go's default (a
// cycle each time the heap doubles) ran a dozen cycles a second at the
// maximum load: 9 % of the server's CPU.
// A heap five times the live one halves that; the soft limit keeps a burst
// of logins (19 MiB of argon2id memory each, four at once) from growing
// the heap fivefold too. "Mes factures" at the maximum, four A/B pairs:
// 2,618-2,982/s with Go's default, 3,169-3,455/s with these; the peak RSS
// over 400 logins then the load stayed at 234 MB.
const (
	gcPercent     = 400
	gcMemoryLimit = 192 << 20
)

// tuneGC applies gcPercent and gcMemoryLimit, each unless the environment
// sets its variable. The commands that serve call it first; it changes the
// whole process, so newApp (which tests call) does not.
func tuneGC() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(gcMemoryLimit)
	}
}

// newApp connects everything and refuses to run on an older schema. Logs go
// to logw as JSON.
func newApp(ctx context.Context, cfg config, logw io.Writer, opts appOptions) (_ *app, err error) {
	log := newLogger(logw)
	a := &app{cfg: cfg, log: log, logw: logw, limits: defaultHTTPLimits}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	if a.db, err = openDB(ctx, cfg.DatabaseURL); err != nil {
		return nil, err
	}
	if !opts.work {
		n := webConns()
		a.db.SetMaxOpenConns(n)
		a.db.SetMaxIdleConns(n)
	}
	if err = migrations.Check(ctx, a.db.DB); err != nil {
		return nil, err
	}
	if a.rdb, err = openRedis(cfg.RedisURL); err != nil {
		return nil, err
	}
	if a.docs, err = docstore.Open(ctx, cfg.StorageURL); err != nil {
		return nil, err
	}
	a.tenants = tenant.NewStore(a.db)
	a.resolver = tenant.NewResolver(a.tenants, a.rdb, log)
	a.payments = &payments.Service{
		DB:      a.db,
		PayFiP:  payfip.New(cfg.PayFiPURL.String(), nil),
		BaseURL: cfg.BaseURL,
		Log:     log,
	}
	if a.jobs, err = a.newJobs(opts); err != nil {
		return nil, err
	}
	a.payments.Jobs = a.jobs
	a.web, err = portal.New(portal.Options{
		BaseURL:           cfg.BaseURL,
		Secret:            []byte(cfg.Secret),
		TrustedProxies:    cfg.TrustedProxies,
		PayFiPURL:         cfg.PayFiPURL,
		PasswordMinLength: cfg.PasswordMinLength,
		TIPIAllowedIPs:    cfg.TIPIAllowedIPs,
		MetricsToken:      cfg.MetricsToken,
	}, portal.Deps{
		DB:       a.db,
		Redis:    a.rdb,
		Tenants:  a.tenants,
		Resolver: a.resolver,
		Jobs:     a.jobs,
		Docs:     a.docs,
		Payments: a.payments,
		Log:      log,
	})
	if err != nil {
		return nil, err
	}
	a.handler = a.web
	return a, nil
}

// newJobs builds the River client: insert-only for a web-only process,
// with every package's workers otherwise.
func (a *app) newJobs(opts appOptions) (*river.Client[*sql.Tx], error) {
	cfg := &river.Config{
		Logger:            slog.New(slog.NewJSONHandler(a.logw, &slog.HandlerOptions{Level: slog.LevelWarn})),
		PollOnly:          true, // the database/sql driver cannot LISTEN
		FetchPollInterval: cmp.Or(opts.jobPoll, 250*time.Millisecond),
	}
	if opts.work {
		sender := opts.sender
		if sender == nil {
			smtp, err := mail.NewSMTP(a.cfg.SMTPURL, a.cfg.MailFrom)
			if err != nil {
				return nil, err
			}
			sender = smtp
		}
		workers := river.NewWorkers()
		if err := portal.AddWorkers(workers, portal.WorkerDeps{
			DB: a.db, Tenants: a.tenants, Sender: sender, Docs: a.docs, BaseURL: a.cfg.BaseURL, Log: a.log,
		}); err != nil {
			return nil, err
		}
		if err := payments.AddWorkers(workers, a.payments); err != nil {
			return nil, err
		}
		if err := billing.AddWorkers(workers, a.db); err != nil {
			return nil, err
		}
		cfg.Workers = workers
		cfg.Middleware = []rivertype.Middleware{&jobLog{log: a.log}}
		// River fetches at most once per FetchCooldown (100 ms by default)
		// up to the free workers: 20 workers and the default capped a
		// publication's mails at 200 a second, with the cores half idle.
		cfg.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 50}}
		cfg.FetchCooldown = 10 * time.Millisecond
		// A job left running by a killed worker waits this long before
		// another process works it again (River's default: an hour).
		if r := a.cfg.JobRescueAfter; r > 0 {
			cfg.RescueStuckJobsAfter = r
			if r < time.Minute { // River wants the jobs' timeout below it
				cfg.JobTimeout = r / 2
			}
		}
		cfg.PeriodicJobs = append(payments.PeriodicJobs(), billing.PeriodicJobs()...)
	}
	c, err := river.NewClient(riverdatabasesql.New(a.db.DB), cfg)
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	return c, nil
}

// runJobs works jobs until ctx ends, then lets running jobs finish (up to
// 30 s).
func (a *app) runJobs(ctx context.Context) error {
	if err := a.jobs.Start(ctx); err != nil {
		return fmt.Errorf("jobs: %w", err)
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return a.jobs.Stop(sctx)
}

func (a *app) close() {
	if a.rdb != nil {
		a.rdb.Close()
	}
	if a.db != nil {
		a.db.Close()
	}
}

// serve runs the web server on ln, and the job worker too when work is set,
// until ctx ends.
func (a *app) serve(ctx context.Context, ln net.Listener, work bool) error {
	if !work {
		return a.serveHTTP(ctx, ln)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobsDone := make(chan error, 1)
	go func() { jobsDone <- a.runJobs(ctx) }()
	err := a.serveHTTP(ctx, ln)
	cancel()
	return errors.Join(err, <-jobsDone)
}

// serveHTTP serves the portal on ln until ctx ends, then lets requests in
// flight finish (up to 20 s).
func (a *app) serveHTTP(ctx context.Context, ln net.Listener) error {
	go a.resolver.Listen(ctx, nil)
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: a.limits.readHeader,
		ReadTimeout:       a.limits.read,
		WriteTimeout:      a.limits.write,
		IdleTimeout:       a.limits.idle,
		MaxHeaderBytes:    a.limits.maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	a.log.Info("listening", "addr", ln.Addr().String(), "base_url", a.cfg.BaseURL.String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
