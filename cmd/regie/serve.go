package main

import (
	"context"
	"fmt"
	"io"
	"net"

	"github.com/regie/regie/migrations"
)

// cmdServe runs the web server, and the job worker unless --web-only.
func cmdServe(ctx context.Context, args []string, env func(string) string, stderr io.Writer) error {
	fs := newFlags("serve", stderr)
	webOnly := fs.Bool("web-only", false, "serve web requests only; leave jobs to `regie worker`")
	if err := parseFlags(fs, args, 0, ""); err != nil {
		return err
	}
	cfg, err := loadConfig(env, needServer)
	if err != nil {
		return err
	}
	newLogger(stderr).Info("starting regie serve", "config", cfg, "web_only", *webOnly)
	tuneGC()
	a, err := newApp(ctx, cfg, stderr, appOptions{work: !*webOnly})
	if err != nil {
		return err
	}
	defer a.close()
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("REGIE_LISTEN %s: %w", cfg.Listen, err)
	}
	return a.serve(ctx, ln, !*webOnly)
}

// cmdMigrate applies the migrations; it needs the database alone.
func cmdMigrate(ctx context.Context, args []string, env func(string) string, stderr io.Writer) error {
	fs := newFlags("migrate", stderr)
	if err := parseFlags(fs, args, 0, ""); err != nil {
		return err
	}
	cfg, err := loadConfig(env, needDatabase)
	if err != nil {
		return err
	}
	db, err := openDB(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	return migrations.Apply(ctx, db.DB, newLogger(stderr))
}
