package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/alicebob/miniredis/v2"

	"github.com/regie/regie/migrations"
	"github.com/regie/regie/payments/dgfipsim"
	"github.com/regie/regie/portal/mail/catcher"
)

// demoDir holds what the demo writes: its PostgreSQL cluster when it has to
// start one, its documents and its log.
const demoDir = ".data/demo"

// cmdDemo runs the whole product with embedded defaults: it recreates the
// regie_demo database, seeds two communes, and serves on :8080 with an
// in-memory Redis and a mail catcher. Ctrl-C stops everything it started.
func cmdDemo(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", stderr)
	if err := parseFlags(fs, args, 0, ""); err != nil {
		return err
	}
	cfg, err := loadConfig(env, 0)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(demoDir, 0o755); err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(demoDir, "regie.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()

	server, stopPG, err := demoPostgres(ctx, env, filepath.Join(demoDir, "postgres"), stderr)
	if err != nil {
		return err
	}
	defer stopPG()
	if cfg.DatabaseURL, err = recreateDatabase(ctx, server, "regie_demo"); err != nil {
		return err
	}
	db, err := openDB(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	err = migrations.Apply(ctx, db.DB, newLogger(logFile))
	db.Close()
	if err != nil {
		return err
	}

	mr, err := miniredis.Run()
	if err != nil {
		return fmt.Errorf("embedded redis: %w", err)
	}
	defer mr.Close()
	mailbox, err := catcher.Start("127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("mail catcher: %w", err)
	}
	defer mailbox.Close()
	docs, err := filepath.Abs(filepath.Join(demoDir, "docs"))
	if err != nil {
		return err
	}
	if err := os.RemoveAll(docs); err != nil {
		return err
	}
	cfg.StorageURL = "file://" + docs
	cfg.RedisURL = "redis://" + mr.Addr() + "/0"
	cfg.SMTPURL = mailbox.URL()
	sim := dgfipsim.New(dgfipsim.Options{Clients: demoClients, Log: newLogger(logFile)})
	defer sim.Close()
	simLn, err := net.Listen("tcp", "127.0.0.1:8090")
	if err != nil {
		return fmt.Errorf("DGFiP stand-in on 127.0.0.1:8090 (is another demo running?): %w", err)
	}
	go serveUntil(ctx, simLn, sim) //nolint:errcheck // ends with the demo
	cfg.PayFiPURL, _ = url.Parse("http://" + simLn.Addr().String())
	cfg.Secret = "demo-secret-not-for-production-use-0123456789"

	a, err := newApp(ctx, cfg, logFile, appOptions{work: true})
	if err != nil {
		return err
	}
	defer a.close()
	a.handler = demoMailbox(a.handler, cfg.BaseURL.Hostname(), mailbox)
	if err := seedDemo(ctx, a, sim); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s (is another demo running?): %w", cfg.Listen, err)
	}
	printDemo(stdout, cfg)
	return a.serve(ctx, ln, true)
}

func printDemo(w io.Writer, cfg config) {
	base := cfg.BaseURL
	commune := func(slug string) string {
		u := *base
		u.Host = slug + "." + u.Host
		return u.String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nRégie demo is running (logs in %s).\n\n", filepath.Join(demoDir, "regie.log"))
	fmt.Fprintf(&b, "  %-45s Mairie de Démonstration: numcli 001964, PayFiP in test mode\n", commune("demo"))
	fmt.Fprintf(&b, "  %-45s   Famille Martin: famille.martin@example.fr, not yet activated (use \"Activer mon compte\")\n", "")
	fmt.Fprintf(&b, "  %-45s   back office: admin@demo.example.fr / %s, TOTP secret %s\n", commune("demo")+"/gestion/", demoAdminPassword, demoTOTPSecret)
	fmt.Fprintf(&b, "  %-45s Mairie de Villes-sur-Auzon: numcli 002741\n", commune("villes-sur-auzon"))
	fmt.Fprintf(&b, "  %-45s find your commune\n", base.String())
	admin := *base
	admin.Host = "admin." + admin.Host
	fmt.Fprintf(&b, "  %-45s operators' console: %s / %s, TOTP secret %s\n", admin.String(), demoOperator, demoOperatorPassword, demoTOTPSecret)
	fmt.Fprintf(&b, "  %-45s caught mails (and %s/_demo/mails.json)\n", base.String()+"/_demo/mails", base.String())
	fmt.Fprintf(&b, "  %-45s the DGFiP stand-in: test cards 4242 4242 4242 4242 (accepted), 4000 0000 0000 0002 (refused)\n", cfg.PayFiPURL.String())
	fmt.Fprintf(&b, "\nCtrl-C stops everything.\n")
	fmt.Fprint(w, b.String())
}
