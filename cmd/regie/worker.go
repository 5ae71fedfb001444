package main

import (
	"context"
	"io"
)

// cmdWorker works background jobs only. It needs the same configuration as
// serve (mails carry links to the portal).
func cmdWorker(ctx context.Context, args []string, env func(string) string, stderr io.Writer) error {
	fs := newFlags("worker", stderr)
	if err := parseFlags(fs, args, 0, ""); err != nil {
		return err
	}
	cfg, err := loadConfig(env, needServer)
	if err != nil {
		return err
	}
	newLogger(stderr).Info("starting regie worker", "config", cfg)
	a, err := newApp(ctx, cfg, stderr, appOptions{work: true})
	if err != nil {
		return err
	}
	defer a.close()
	return a.runJobs(ctx)
}
