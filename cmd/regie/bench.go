package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/regie/regie/cmd/regie/internal/bench"
)

const benchUsage = `usage: regie bench <command> [flags]

commands:
  seed --profile small|france    fill an empty, migrated database (REGIE_DATABASE_URL) with COPY
  load [flags]                   log families in and load /factures and /factures/:id
  http-ceiling --listen ADDR --pages DIR
                                 a bare Gin handler serving DIR/*.html (the HTTP ceiling)
  serve [--pprof ADDR]           serve --web-only, with Go's profiler on ADDR
  run --profile small|france [--out BENCHMARKS.md]
                                 every benchmark end to end, then the report`

// cmdBench runs the benchmarks' commands (BENCHMARKS.md says which figure
// comes from which).
func cmdBench(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, benchUsage)
		return usageError("bench: missing command")
	}
	switch args[0] {
	case "seed":
		return cmdBenchSeed(ctx, args[1:], env, stdout, stderr)
	case "load":
		return cmdBenchLoad(ctx, args[1:], env, stdout, stderr)
	case "http-ceiling":
		return cmdBenchHTTPCeiling(ctx, args[1:], stderr)
	case "serve":
		return cmdBenchServe(ctx, args[1:], env, stderr)
	case "run":
		return cmdBenchRun(ctx, args[1:], env, stdout, stderr)
	}
	fmt.Fprintln(stderr, benchUsage)
	return usageError(fmt.Sprintf("bench: unknown command %q", args[0]))
}

// cmdBenchSeed fills an empty database with a profile's data set.
func cmdBenchSeed(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("bench seed", stderr)
	profile := fs.String("profile", "small", "data set: "+strings.Join(bench.ProfileNames(), "|"))
	if err := parseFlags(fs, args, 0, ""); err != nil {
		return err
	}
	p, ok := bench.Profiles[*profile]
	if !ok {
		return usageError(fmt.Sprintf("bench seed: unknown profile %q (%s)", *profile, strings.Join(bench.ProfileNames(), ", ")))
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
	res, err := bench.Seed(ctx, db, p, time.Now(), func(s string) { fmt.Fprintln(stderr, "seed: "+s) })
	if err != nil {
		return fmt.Errorf("bench seed: %w", err)
	}
	fmt.Fprintf(stdout, "seeded profile %s in %.1f s: %d communes, %d families, %d invoices, %d lines, %d payments (A = %d, first commune id %d)\n",
		p.Name, res.Elapsed.Seconds(), res.Rows["tenants"], res.Rows["families"], res.Rows["invoices"], res.Rows["invoice_lines"],
		res.Rows["payments"], res.Shape.A, res.FirstTenant)
	return nil
}
