package main

import (
	"context"
	"fmt"
	"io"
	"net"
)

// cmdWorker works background jobs only. It needs the same configuration as
// serve (mails carry links to the portal).
func cmdWorker(ctx context.Context, args []string, env func(string) string, stderr io.Writer) error {
	fs := newFlags("worker", stderr)
	listen := fs.String("listen", "", "address of the health and metrics port (default REGIE_LISTEN)")
	if err := parseFlags(fs, args, 0, ""); err != nil {
		return err
	}
	cfg, err := loadConfig(env, needServer)
	if err != nil {
		return err
	}
	if *listen != "" {
		if _, port, err := splitListen(*listen); err != nil || port == "" {
			return usageError(fmt.Sprintf("--listen must be an address such as 127.0.0.1:8081 (got %q)", *listen))
		}
		cfg.Listen = *listen
	}
	newLogger(stderr).Info("starting regie worker", "config", cfg)
	tuneGC()
	a, err := newApp(ctx, cfg, stderr, appOptions{work: true})
	if err != nil {
		return err
	}
	defer a.close()
	// The worker's port serves only health and metrics, for probes and
	// Prometheus.
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("REGIE_LISTEN %s: %w", cfg.Listen, err)
	}
	a.handler = a.web.Ops()
	return a.serve(ctx, ln, true)
}
