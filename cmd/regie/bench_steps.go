package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/billing/pdf"
	"github.com/regie/regie/cmd/regie/internal/bench"
)

// machine notes what the figures were taken on.
func (b *benchRun) machine() error {
	m := &b.r.Machine
	m.Cores = runtime.NumCPU()
	m.Go = runtime.Version()
	m.MemoryGB = procMemTotalGB()
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if mm := regexp.MustCompile(`model name\s*: (.*)`).FindSubmatch(data); mm != nil {
			m.CPU = string(mm[1])
		}
	}
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.LoadBefore = strings.Join(strings.Fields(string(data))[:3], " ")
	}
	db, err := openDB(b.ctx, b.cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.GetContext(b.ctx, &m.PostgreSQL, `SELECT split_part(version(), ' on ', 1)`); err != nil {
		return err
	}
	db.GetContext(b.ctx, &m.SharedBuffers, `SHOW shared_buffers`) //nolint:errcheck // informative
	if opt, err := redis.ParseURL(b.cfg.RedisURL); err == nil {
		rdb := redis.NewClient(opt)
		if info, err := rdb.Info(b.ctx, "server").Result(); err == nil {
			if mm := regexp.MustCompile(`redis_version:(\S+)`).FindStringSubmatch(info); mm != nil {
				m.Redis = mm[1]
			}
		}
		rdb.Close()
	}
	return nil
}

// web measures the server: start-up and idle memory, logins, /factures at
// the maximum in turn with the ceilings (rounds), the pages at the maximum
// and at fixed rates, and first requests of PDFs.
func (b *benchRun) web() error {
	// its mails go nowhere: a web-only process sends none
	srv, startup, err := b.startProcess("server", b.dbURL, []string{"serve", "--web-only"}, "smtp://127.0.0.1:1?tls=none")
	if err != nil {
		return err
	}
	defer srv.stop()
	time.Sleep(2 * time.Second)
	b.r.Server = serverFigures{StartupMS: float64(startup) / float64(time.Millisecond), IdleRSSMB: srv.rssMB(),
		Command: "regie serve --web-only (start to /readyz 200; VmRSS 2 s later)"}
	b.log("server ready in %v, %.0f MB idle", startup, b.r.Server.IdleRSSMB)

	tr := bench.Transport()
	users := bench.PickUsers(bench.ShapeFor(b.p), baseURL(srv.addr), b.users, 1)
	began := time.Now()
	if err := bench.LoginAll(b.ctx, users, tr, bench.Password, 8); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	b.r.Login = loginFigures{Users: len(users), Seconds: time.Since(began).Seconds()}
	b.log("logged in %d families in %.1f s", len(users), b.r.Login.Seconds)

	if err := b.rounds(users); err != nil {
		return err
	}
	maxList, _ := medianBy(b.r.Rounds, benchRound.ratio)

	load := fmt.Sprintf("regie bench load --profile %s --users %d --workers %d --duration %s", b.p.Name, b.users, b.workers, b.dur)
	step := func(name string, req bench.Request, rate float64) bench.Result {
		w := b.workers
		if rate > 0 {
			w = 4 * b.workers // enough that a slow answer does not delay the next one
		}
		r := bench.Run(b.ctx, name, users, req, rate, w, b.dur)
		b.log("%s", r)
		b.r.Pages = append(b.r.Pages, r)
		return r
	}
	step("GET /factures/:id", bench.InvoicePage, 0)
	for _, share := range []float64{0.25, 0.5, 0.75} {
		step("GET /factures", bench.InvoicesPage, float64(int(maxList.Page.Throughput*share)))
	}
	step("GET /factures", bench.InvoicesPage, scaleRate)
	b.r.PagesCommand = load + " --rates <25%,50%,75% of the maximum>," + strconv.Itoa(scaleRate)
	if b.p.Name != "small" {
		if err := b.scale(users); err != nil {
			return err
		}
	}

	// PDFs never rendered yet: each request is the invoice's first.
	var pairs []pdfPair
	for _, u := range users {
		for _, id := range u.Invoices {
			pairs = append(pairs, pdfPair{u, id})
		}
	}
	rand.New(rand.NewPCG(3, 3)).Shuffle(len(pairs), func(i, j int) { pairs[i], pairs[j] = pairs[j], pairs[i] })
	var next atomic.Int64
	first := func(ctx context.Context, _ *bench.User, _ *rand.Rand) error {
		i := next.Add(1) - 1
		if i >= int64(len(pairs)) {
			return fmt.Errorf("no PDF left to render for the first time")
		}
		body, err := pairs[i].u.Get(ctx, "/factures/"+strconv.FormatInt(pairs[i].id, 10)+"/pdf")
		if err == nil && !bytes.HasPrefix(body, []byte("%PDF-")) {
			return fmt.Errorf("invoice %d: not a PDF", pairs[i].id)
		}
		return err
	}
	b.r.PDFFirst = bench.Run(b.ctx, "GET /factures/:id/pdf (first)", users, first, pdfRate, 4*b.workers, b.dur)
	b.log("%s", b.r.PDFFirst)
	b.r.Server.RSSAfterMB = srv.rssMB()
	b.r.Server.PeakRSSMB = procStatusMB(srv.cmd.Process.Pid, "VmHWM:")
	return nil
}

// scaleRounds is how many times scale compares the profiles: a round's
// ratio ranged from 0.93 to 1.25 within one run, for a target of 1.10.
const scaleRounds = 5

// scale compares /factures at scaleRate on this profile (users, on the
// running server) and on small (seeded afresh, with a second server): in
// turn, scaleRounds times, since the machine's speed drifts within minutes.
func (b *benchRun) scale(users []*bench.User) error {
	small := bench.Profiles["small"]
	dbURL, _, err := b.seedProfile(small)
	if err != nil {
		return err
	}
	srv, _, err := b.startProcess("server-small", dbURL, []string{"serve", "--web-only"}, "smtp://127.0.0.1:1?tls=none")
	if err != nil {
		return err
	}
	defer srv.stop()
	smallUsers := bench.PickUsers(bench.ShapeFor(small), baseURL(srv.addr), b.users, 1)
	if err := bench.LoginAll(b.ctx, smallUsers, bench.Transport(), bench.Password, 8); err != nil {
		return fmt.Errorf("login on small: %w", err)
	}
	for i := range scaleRounds {
		var r scaleRound
		r.Small = bench.Run(b.ctx, "GET /factures (small)", smallUsers, bench.InvoicesPage, scaleRate, 4*b.workers, b.dur)
		r.Profile = bench.Run(b.ctx, "GET /factures", users, bench.InvoicesPage, scaleRate, 4*b.workers, b.dur)
		b.log("scale round %d: small p50 %.2f ms, %s p50 %.2f ms: ratio %.2f", i+1, ms(r.Small.P50), b.p.Name, ms(r.Profile.P50), r.ratio())
		b.r.Scale = append(b.r.Scale, r)
	}
	return nil
}

// scaleRate and pdfRate are the fixed rates compared across profiles.
const (
	scaleRate = 200
	pdfRate   = 50
)

type pdfPair struct {
	u  *bench.User
	id int64
}

// throughputRounds is how many times rounds measures the page and the
// ceilings: within one run, a round's ratio ranged from 0.46 to 0.59.
const throughputRounds = 5

// rounds measures /factures at the maximum, the HTTP ceiling (a bare Gin
// handler serving each family's page from memory) and the database
// ceiling (pgbench running the page's transaction, 8 clients), one after
// the other, throughputRounds times. The machine's speed drifts within
// minutes (a shared VM): each round's ratio compares figures taken within
// one minute, and the report keeps the median round.
func (b *benchRun) rounds(users []*bench.User) error {
	// the ceiling serves each family its own page: their sizes vary with
	// their invoices (12 or 24 rows)
	pagesDir := filepath.Join(b.dir, "ceiling")
	if err := os.RemoveAll(pagesDir); err != nil {
		return err
	}
	if err := os.MkdirAll(pagesDir, 0o755); err != nil {
		return err
	}
	var pageBytes int
	for i, u := range users {
		body, err := u.Get(b.ctx, "/factures")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(pagesDir, fmt.Sprintf("%05d.html", i)), body, 0o644); err != nil {
			return err
		}
		pageBytes += len(body)
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(exe, "bench", "http-ceiling", "--listen", addr, "--pages", pagesDir)
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt) //nolint:errcheck // stopping
		cmd.Wait()                       //nolint:errcheck // stopping
	}()
	// the same draw as users: anonymous[i] asks for users[i]'s page
	anonymous := bench.PickUsers(bench.ShapeFor(b.p), baseURL(addr), b.users, 1)
	tr := bench.Transport()
	for i, u := range anonymous {
		u.Anonymous(tr, users[i].Invoices, i)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := anonymous[0].Get(b.ctx, "/factures"); err == nil {
			break
		} else if time.Now().After(deadline) {
			return fmt.Errorf("http ceiling: %w", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.r.HTTPCeilingCommand = fmt.Sprintf("regie bench http-ceiling --pages ceiling/, loaded like GET /factures at the maximum: "+
		"each of the %d families gets back its own page, as the server gave it (%d bytes on average)", len(users), pageBytes/len(users))
	if b.r.PgbenchScript, err = bench.PgbenchScript(bench.ShapeFor(b.p), b.first); err != nil {
		return err
	}
	for i := range throughputRounds {
		var r benchRound
		r.Page = bench.Run(b.ctx, "GET /factures", users, bench.InvoicesPage, 0, b.workers, b.dur)
		b.log("round %d: %s", i+1, r.Page)
		r.HTTP = bench.Run(b.ctx, "bare Gin, same bytes", anonymous, bench.InvoicesPage, 0, b.workers, b.dur)
		b.log("round %d: %s", i+1, r.HTTP)
		if r.DBTPS, b.r.DBCommand, err = bench.Pgbench(b.ctx, b.dir, b.dbURL, b.r.PgbenchScript, 8, int(b.dur.Seconds())); err != nil {
			return err
		}
		b.log("round %d: pgbench %.0f tps; /factures at %.2f × the combined ceiling", i+1, r.DBTPS, r.ratio())
		b.r.Rounds = append(b.r.Rounds, r)
	}
	return nil
}

// pdfRender renders the same invoice in a loop with one goroutine, then
// two, in this process.
func (b *benchRun) pdfRender() error {
	inv := benchInvoice()
	b.r.PDFRender = map[string]float64{}
	for _, run := range []struct {
		key  string
		n    int
		gogc int
	}{{"1", 1, 100}, {"2", 2, 100}, {"2-gogc400", 2, 400}} {
		n := run.n
		old := debug.SetGCPercent(run.gogc)
		var count atomic.Int64
		var wg sync.WaitGroup
		deadline := time.Now().Add(5 * time.Second)
		began := time.Now()
		var firstErr error
		var once sync.Once
		for range n {
			wg.Go(func() {
				var buf bytes.Buffer
				for time.Now().Before(deadline) {
					buf.Reset()
					if err := pdf.Render(&buf, inv); err != nil {
						once.Do(func() { firstErr = err })
						return
					}
					count.Add(1)
				}
			})
		}
		wg.Wait()
		debug.SetGCPercent(old)
		if firstErr != nil {
			return firstErr
		}
		b.r.PDFRender[run.key] = float64(count.Load()) / time.Since(began).Seconds()
		b.log("PDF render, %s: %.0f/s", run.key, b.r.PDFRender[run.key])
	}
	b.r.PDFRenderCommand = "regie bench run: pdf.Render of a 3-line invoice in a loop for 5 s, GOMAXPROCS=" + strconv.Itoa(runtime.GOMAXPROCS(0))
	return nil
}

// benchInvoice is a typical invoice: three lines.
func benchInvoice() pdf.Invoice {
	d := func(y int, m time.Month, day int) time.Time { return time.Date(y, m, day, 0, 0, 0, 0, time.UTC) }
	return pdf.Invoice{
		Commune:     pdf.Commune{Name: "Mairie de Saint-Martin-sur-Loire", Address: "1 place de la Mairie, 45000 Saint-Martin-sur-Loire", Email: "mairie@saint-martin.example.fr"},
		Family:      pdf.Family{Ref: "F000042", Name: "Famille Lefèvre", Address: "12 rue des Écoles", PostalCode: "45000", City: "Saint-Martin-sur-Loire"},
		Reference:   "2026-RS-000042",
		SeriesLabel: "Restauration scolaire",
		Period:      d(2026, 10, 1), IssueDate: d(2026, 11, 3), DueDate: d(2026, 12, 1),
		Lines: []billing.Line{
			{Position: 1, Label: "Repas enfant", QuantityMilli: 15000, UnitPriceCents: 345, TotalCents: 5175},
			{Position: 2, Label: "Goûter", QuantityMilli: 15000, UnitPriceCents: 80, TotalCents: 1200},
			{Position: 3, Label: "Repas adulte", QuantityMilli: 2000, UnitPriceCents: 590, TotalCents: 1180},
		},
		TotalCents: 7555, PortalURL: "https://saint-martin.regie.example.fr", Numcli: "001964",
	}
}

// goBenchmarks runs the Go benchmarks of the import and the settlement
// (they need the test servers: `make bench` provides them). Settlement
// runs three times and the report keeps the run of the median rate: on
// one VM, single runs read from 742 to 1,263 settled a second within an
// hour.
func (b *benchRun) goBenchmarks() error {
	for _, gb := range []struct {
		name, pkg, benchtime, count, headline string
		into                                  *goBench
	}{
		{"BenchmarkImport100k", "./billing/", "1x", "1", "ns/op", &b.r.Import},
		{"BenchmarkNotificationsSettle", "./payments/", "3000x", "3", "settled/s", &b.r.Settle},
	} {
		args := []string{"test", "-run", "XXX", "-bench", "^" + gb.name + "$", "-benchtime", gb.benchtime, "-count", gb.count, gb.pkg}
		b.log("go %s", strings.Join(args, " "))
		out, err := exec.CommandContext(b.ctx, "go", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
		}
		gb.into.Command = "go " + strings.Join(args, " ")
		gb.into.Runs = parseBenchRuns(out, gb.name)
		gb.into.Metrics, _ = medianBy(gb.into.Runs, func(m map[string]float64) float64 { return m[gb.headline] })
		b.log("%s: %v", gb.name, gb.into.Runs)
	}
	return nil
}

// parseBenchRuns reads the metrics of each result line of benchmark name
// in `go test -bench` output ("Name-2  3000  987789 ns/op  1012 settled/s").
func parseBenchRuns(out []byte, name string) []map[string]float64 {
	var runs []map[string]float64
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || !strings.HasPrefix(f[0], name) {
			continue
		}
		m := map[string]float64{}
		for i := 2; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				m[f[i+1]] = v
			}
		}
		runs = append(runs, m)
	}
	return runs
}

// procStatusMB reads a memory line (VmRSS:, VmHWM:) of /proc/<pid>/status.
func procStatusMB(pid int, field string) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, field); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

func procMemTotalGB() float64 {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	if m := regexp.MustCompile(`MemTotal:\s+(\d+) kB`).FindSubmatch(data); m != nil {
		kb, _ := strconv.ParseFloat(string(m[1]), 64)
		return kb / 1024 / 1024
	}
	return 0
}
