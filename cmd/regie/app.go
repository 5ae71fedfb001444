package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq" // the PostgreSQL driver
	"github.com/redis/go-redis/v9"

	"github.com/regie/regie/migrations"
	"github.com/regie/regie/portal"
	"github.com/regie/regie/tenant"
)

// app is the wired product that serve, worker and demo run. newApp is the
// function tests call to boot the whole server.
type app struct {
	cfg      config
	log      *slog.Logger
	db       *sqlx.DB
	rdb      *redis.Client
	tenants  *tenant.Store
	resolver *tenant.Resolver
	web      *portal.Server
}

func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// openDB connects to PostgreSQL and checks that it answers.
func openDB(ctx context.Context, dsn string) (*sqlx.DB, error) {
	db, err := sqlx.Open("postgres", dsn)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	db.SetMaxOpenConns(40)
	db.SetMaxIdleConns(40)
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

// newApp connects everything and refuses to run on an older schema.
func newApp(ctx context.Context, cfg config, log *slog.Logger) (_ *app, err error) {
	a := &app{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	if a.db, err = openDB(ctx, cfg.DatabaseURL); err != nil {
		return nil, err
	}
	if err = migrations.Check(ctx, a.db.DB); err != nil {
		return nil, err
	}
	if a.rdb, err = openRedis(cfg.RedisURL); err != nil {
		return nil, err
	}
	a.tenants = tenant.NewStore(a.db)
	a.resolver = tenant.NewResolver(a.tenants, a.rdb, log)
	a.web, err = portal.New(portal.Options{
		BaseURL:        cfg.BaseURL,
		Secret:         []byte(cfg.Secret),
		TrustedProxies: cfg.TrustedProxies,
		PayFiPURL:      cfg.PayFiPURL,
	}, portal.Deps{
		DB:       a.db,
		Redis:    a.rdb,
		Tenants:  a.tenants,
		Resolver: a.resolver,
		Log:      log,
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

func (a *app) close() {
	if a.rdb != nil {
		a.rdb.Close()
	}
	if a.db != nil {
		a.db.Close()
	}
}

// serveHTTP serves the portal on ln until ctx ends, then lets requests in
// flight finish (up to 20 s).
func (a *app) serveHTTP(ctx context.Context, ln net.Listener) error {
	go a.resolver.Listen(ctx, nil)
	srv := &http.Server{
		Handler:           a.web,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
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
