package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/cmd/regie/internal/bench"
	"github.com/regie/regie/migrations"
)

// cmdBenchRun runs every benchmark of a profile end to end on this machine
// and rewrites the report. REGIE_DATABASE_URL names a server and a role that
// may create databases (the profile's own, regie_bench_<profile>, is
// dropped and seeded again); REGIE_REDIS_URL and REGIE_STORAGE_URL are
// those the server under test uses.
func cmdBenchRun(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("bench run", stderr)
	profile := fs.String("profile", "small", "data set: "+strings.Join(bench.ProfileNames(), "|"))
	out := fs.String("out", "BENCHMARKS.md", "the report to write")
	dataDir := fs.String("data", ".data/bench", "where results and scratch files go")
	dur := fs.Duration("duration", 15*time.Second, "length of each load step")
	users := fs.Int("users", 400, "families logged in")
	workers := fs.Int("workers", 16, "concurrent clients at the maximum rate")
	goTests := fs.Bool("go-tests", true, "also run the Go benchmarks (import, settlement) with `go test`")
	only := fs.String("only", "", "run only these steps, comma-separated ("+strings.Join(benchSteps, ",")+"); the report is not rewritten")
	if err := parseFlags(fs, args, 0, ""); err != nil {
		return err
	}
	p, ok := bench.Profiles[*profile]
	if !ok {
		return usageError(fmt.Sprintf("bench run: unknown profile %q", *profile))
	}
	cfg, err := loadConfig(env, needDatabase|needRedis|needStorage)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*dataDir, 0o755); err != nil {
		return err
	}
	b := &benchRun{ctx: ctx, p: p, cfg: cfg, env: env, dir: *dataDir, dur: *dur, users: *users, workers: *workers,
		log: func(f string, a ...any) { fmt.Fprintf(stderr, "bench: "+f+"\n", a...) }}
	b.r.Profile = p.Name
	b.r.Started = time.Now().UTC()
	steps := map[string]func() error{"machine": b.machine, "seed": b.seed, "web": b.web,
		"pdf": b.pdfRender, "publish": b.publish, "go": b.goBenchmarks}
	want := map[string]bool{}
	for _, s := range benchSteps {
		want[s] = s != "go" || *goTests
	}
	if *only != "" {
		clear(want)
		for _, s := range strings.Split(*only, ",") {
			if steps[s] == nil {
				return usageError(fmt.Sprintf("bench run: unknown step %q (%s)", s, strings.Join(benchSteps, ",")))
			}
			want[s] = true
		}
		want["machine"], want["seed"] = true, true // every step needs them
	}
	for _, name := range benchSteps {
		if !want[name] {
			continue
		}
		if err := steps[name](); err != nil {
			return fmt.Errorf("bench run: %s: %w", name, err)
		}
	}
	b.r.Finished = time.Now().UTC()
	if *only != "" {
		data, err := json.MarshalIndent(b.r, "", "  ")
		if err != nil {
			return err
		}
		_, err = stdout.Write(append(data, '\n'))
		return err
	}
	if err := b.save(); err != nil {
		return err
	}
	if err := writeReport(*dataDir, *out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s\n", *out)
	return nil
}

// benchSteps are the steps of `regie bench run`, in order.
var benchSteps = []string{"machine", "seed", "web", "pdf", "publish", "go"}

// benchRun is one run of `regie bench run`.
type benchRun struct {
	ctx     context.Context
	p       bench.Profile
	cfg     config
	env     func(string) string
	dir     string
	dur     time.Duration
	users   int
	workers int
	log     func(string, ...any)
	r       benchReport
	dbURL   string
	first   int64
}

// seed creates the profile's database afresh and seeds it.
func (b *benchRun) seed() error {
	dbURL, res, err := b.seedProfile(b.p)
	if err != nil {
		return err
	}
	b.dbURL, b.first = dbURL, res.FirstTenant
	b.r.Seed = seedFigures{Seconds: res.Elapsed.Seconds(), Rows: res.Rows, A: res.Shape.A,
		Command: "regie bench seed --profile " + b.p.Name}
	db, err := openDB(b.ctx, b.dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.GetContext(b.ctx, &b.r.Machine.DBSizeMB, `SELECT pg_database_size(current_database()) / 1048576`)
}

// seedProfile creates p's database (regie_bench_<profile>) afresh, seeds it
// and returns its URL.
func (b *benchRun) seedProfile(p bench.Profile) (string, bench.SeedResult, error) {
	name := "regie_bench_" + p.Name
	u, err := url.Parse(b.cfg.DatabaseURL)
	if err != nil {
		return "", bench.SeedResult{}, err
	}
	admin, err := openDB(b.ctx, b.cfg.DatabaseURL)
	if err != nil {
		return "", bench.SeedResult{}, err
	}
	defer admin.Close()
	for _, q := range []string{`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`, `CREATE DATABASE ` + name} {
		if _, err := admin.ExecContext(b.ctx, q); err != nil {
			return "", bench.SeedResult{}, err
		}
	}
	u.Path = "/" + name
	db, err := openDB(b.ctx, u.String())
	if err != nil {
		return "", bench.SeedResult{}, err
	}
	defer db.Close()
	if err := migrations.Apply(b.ctx, db.DB, newLogger(io.Discard)); err != nil {
		return "", bench.SeedResult{}, err
	}
	b.log("seeding profile %s", p.Name)
	res, err := bench.Seed(b.ctx, db, p, time.Now(), func(s string) { b.log("seed: %s", s) })
	if err != nil {
		return "", res, err
	}
	b.settle(admin)
	return u.String(), res, nil
}

// settle writes out what the seed left in memory before anything is
// measured: PostgreSQL's dirty buffers (CHECKPOINT), then the kernel's dirty
// pages (sync). After the france seed's VACUUM, 85 % of shared_buffers were
// still dirty (0.6 s to write): without this, the first round shared the
// machine with their write-back. A role that may not CHECKPOINT only skips
// that part, said in the log.
func (b *benchRun) settle(admin *sqlx.DB) {
	began := time.Now()
	if _, err := admin.ExecContext(b.ctx, `CHECKPOINT`); err != nil {
		b.log("settle: CHECKPOINT skipped: %v", err)
	}
	syscall.Sync()
	b.log("settle: checkpoint and sync in %.1f s", time.Since(began).Seconds())
}

// server is a `regie` process under test.
type server struct {
	cmd  *exec.Cmd
	addr string
	log  *os.File
}

// startProcess starts `regie <args>` (serve --web-only, or worker) on
// dbURL with REGIE_LISTEN on a free port and mails to smtpURL, and waits
// until its /readyz answers; it returns the time that took.
func (b *benchRun) startProcess(name, dbURL string, args []string, smtpURL string) (*server, time.Duration, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, 0, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, 0, err
	}
	logf, err := os.Create(filepath.Join(b.dir, name+".log"))
	if err != nil {
		return nil, 0, err
	}
	secret := make([]byte, 24)
	rand.Read(secret)
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(),
		"REGIE_BASE_URL="+baseURL(addr).String(), "REGIE_LISTEN="+addr, "REGIE_DATABASE_URL="+dbURL,
		"REGIE_REDIS_URL="+b.cfg.RedisURL, "REGIE_STORAGE_URL="+b.cfg.StorageURL, "REGIE_SECRET="+hex.EncodeToString(secret),
		"REGIE_SMTP_URL="+smtpURL)
	cmd.Stdout, cmd.Stderr = logf, logf
	began := time.Now()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, 0, err
	}
	s := &server{cmd: cmd, addr: addr, log: logf}
	client := &http.Client{Timeout: time.Second}
	for time.Since(began) < 30*time.Second {
		resp, err := client.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, time.Since(began), nil
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.stop()
	return nil, 0, fmt.Errorf("%s did not become ready in 30 s (see %s)", name, logf.Name())
}

// rssMB is the resident memory of the process, from /proc.
func (s *server) rssMB() float64 { return procStatusMB(s.cmd.Process.Pid, "VmRSS:") }

func (s *server) stop() {
	s.cmd.Process.Signal(os.Interrupt) //nolint:errcheck // it may be gone
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }() //nolint:errcheck // stopping
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		s.cmd.Process.Kill() //nolint:errcheck // last resort
		<-done
	}
	s.log.Close()
}

// freeAddr returns a loopback address nobody listens on.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// save writes this run's figures as JSON beside the other profile's.
func (b *benchRun) save() error {
	data, err := json.MarshalIndent(b.r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(b.dir, b.p.Name+".json"), data, 0o644)
}

// openBenchDB opens the profile's database.
func (b *benchRun) openBenchDB() (*sqlx.DB, error) {
	if b.dbURL == "" {
		return nil, errors.New("no benchmark database")
	}
	return openDB(b.ctx, b.dbURL)
}
