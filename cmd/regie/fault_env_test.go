package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/migrations/dbtest"
	"github.com/regie/regie/payments/dgfipsim"
	"github.com/regie/regie/portal/account"
	"github.com/regie/regie/portal/apikey"
	"github.com/regie/regie/portal/mail/catcher"
	"github.com/regie/regie/tenant"
	"github.com/regie/regie/tenant/tenanttest"
)

// This file holds what the fault, chaos and load-balancer tests of package
// main share: the regie binary built once, throwaway servers the tests may
// stop and start (Redis, PostgreSQL, versitygw, the SMTP catcher, the DGFiP
// stand-in), a commune seeded with families and invoices, and HTTP clients
// that report errors instead of failing the test, so that an outage can be
// counted.

// faultSoak reports a `make soak` run (long outages, more load).
func faultSoak() bool { return os.Getenv("REGIE_SOAK") != "" }

var (
	faultBinOnce sync.Once
	faultBin     string
	faultBinErr  error
)

// faultBinary builds the regie binary once for the package's process tests.
func faultBinary(t *testing.T) string {
	t.Helper()
	faultBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "regie-fault-bin-")
		if err != nil {
			faultBinErr = err
			return
		}
		faultBin = filepath.Join(dir, "regie")
		out, err := exec.Command("go", "build", "-o", faultBin, ".").CombinedOutput()
		if err != nil {
			faultBinErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if faultBinErr != nil {
		t.Fatal(faultBinErr)
	}
	return faultBin
}

// faultFreePort returns a loopback port nobody listens on now.
func faultFreePort(t *testing.T) int {
	t.Helper()
	_, p, _ := net.SplitHostPort(freeLocalAddr(t))
	n, _ := strconv.Atoi(p)
	return n
}

// faultWaitPort waits until something accepts connections on addr.
func faultWaitPort(t *testing.T, addr string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s after %s: %v", addr, within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// faultDaemon is a server process a test starts, stops and starts again
// with the same command line.
type faultDaemon struct {
	t    *testing.T
	name string
	addr string
	argv []string
	env  []string
	log  string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// start runs the command and waits until it accepts connections.
func (d *faultDaemon) start() {
	d.t.Helper()
	lf, err := os.OpenFile(d.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		d.t.Fatal(err)
	}
	cmd := exec.Command(d.argv[0], d.argv[1:]...)
	cmd.Env = d.env
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		lf.Close()
		d.t.Fatalf("start %s: %v", d.name, err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait() //nolint:errcheck // stopped on purpose
		lf.Close()
		close(done)
	}()
	d.mu.Lock()
	d.cmd, d.done = cmd, done
	d.mu.Unlock()
	faultWaitPort(d.t, d.addr, 60*time.Second)
}

// stop sends sig and waits until the process has exited.
func (d *faultDaemon) stop(sig syscall.Signal) {
	d.mu.Lock()
	cmd, done := d.cmd, d.done
	d.cmd = nil
	d.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(sig) //nolint:errcheck // it may be gone
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill() //nolint:errcheck // last resort
		<-done
	}
}

// faultRegie starts a regie process (serve or worker) listening on addr,
// stopped at the end of the test; when the test fails, its log's last
// lines other than requests are printed.
func faultRegie(t *testing.T, name, addr string, env []string, args ...string) *faultDaemon {
	t.Helper()
	d := &faultDaemon{t: t, name: name, addr: addr, env: env, log: filepath.Join(t.TempDir(), name+".log"),
		argv: append([]string{faultBinary(t)}, args...)}
	d.start()
	waitHealthy(t, addr)
	t.Cleanup(func() {
		d.stop(syscall.SIGTERM)
		if t.Failed() {
			d.dumpLog()
		}
	})
	return d
}

// dumpLog prints the last lines of the process's log that are not request
// lines.
func (d *faultDaemon) dumpLog() {
	b, err := os.ReadFile(d.log)
	if err != nil {
		return
	}
	var keep []string
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" && !strings.Contains(l, `"msg":"request"`) {
			keep = append(keep, l)
		}
	}
	keep = keep[max(0, len(keep)-40):]
	d.t.Logf("%s log (last %d lines other than requests):\n%s", d.name, len(keep), strings.Join(keep, "\n"))
}

// faultServices starts what a test of regie processes runs them on: a
// database of its own (and a connection to it), a Redis of its own and a
// mailbox, all closed when the test ends.
func faultServices(t *testing.T) (dbURL string, db *sqlx.DB, rd *faultDaemon, box *catcher.Catcher) {
	t.Helper()
	dbURL = dbtest.NewDatabase(t)
	db, err := openDB(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	rd = faultRedisServer(t)
	if box, err = catcher.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(box.Close)
	return dbURL, db, rd, box
}

// faultRedisServer starts a Redis of the test's own on a free port. It
// keeps an append-only file, as a production Redis holding sessions does,
// so that a stop and a start keep what was written.
func faultRedisServer(t *testing.T) *faultDaemon {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not installed (deploy/local/test-env.sh installs it): %v", err)
	}
	dir := t.TempDir()
	port := faultFreePort(t)
	d := &faultDaemon{t: t, name: "redis", addr: fmt.Sprintf("127.0.0.1:%d", port), log: filepath.Join(dir, "redis.log"),
		argv: []string{bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "",
			"--appendonly", "yes", "--appendfsync", "always"}}
	d.start()
	t.Cleanup(func() { d.stop(syscall.SIGKILL) })
	return d
}

func (d *faultDaemon) redisURL() string { return "redis://" + d.addr + "/0" }

// faultSim is the DGFiP stand-in on a fixed address, which a test can stop
// (connections refused) and start again.
type faultSim struct {
	*dgfipsim.Server
	addr string

	mu  sync.Mutex
	srv *http.Server
}

func faultStartSim(t *testing.T, numcli string) *faultSim {
	t.Helper()
	s := &faultSim{
		Server: dgfipsim.New(dgfipsim.Options{Clients: map[string]string{numcli: "MAIRIE DE PANNEVILLE"}}),
		addr:   freeLocalAddr(t),
	}
	s.start(t)
	t.Cleanup(func() { s.stop(); s.Close() })
	return s
}

func (s *faultSim) url() string { return "http://" + s.addr }

func (s *faultSim) start(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		t.Fatalf("stand-in on %s: %v", s.addr, err)
	}
	srv := &http.Server{Handler: s.Server, ReadHeaderTimeout: 10 * time.Second}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	go srv.Serve(ln) //nolint:errcheck // ends with stop
}

func (s *faultSim) stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// faultFamily is a family with an activated account and its invoices.
type faultFamily struct {
	email, password string
	invoices        []int64
}

// faultCommune is a commune seeded for the fault tests: families with
// accounts, one published invoice each, a staff administrator and an API
// key.
type faultCommune struct {
	tn       tenant.Tenant
	families []faultFamily
	admin    string
	apiKey   string
}

const faultPassword = "mot-de-passe-panne"

// faultSeed creates a commune with n families in db, each with an
// activated account and one published invoice of 37,50 €. Publishing
// queues the "facture disponible" mails, which a worker then sends.
func faultSeed(t *testing.T, db *sqlx.DB, secret, prefix string, n int) faultCommune {
	t.Helper()
	ctx := context.Background()
	tn := tenanttest.MustCreate(t, db, prefix, func(tn *tenant.Tenant) { tn.Numcli = "001964" })
	jobs, err := river.NewClient(riverdatabasesql.New(db.DB), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	hash, err := account.NewHasher().Hash(ctx, faultPassword)
	if err != nil {
		t.Fatal(err)
	}
	stamp := time.Now().UnixNano()
	fc := faultCommune{tn: tn, admin: fmt.Sprintf("admin.%d@%s.example.fr", stamp, prefix)}
	var b strings.Builder
	b.WriteString("famille;nom;email;adresse;code_postal;ville;serie;periode;libelle;quantite;prix_unitaire;echeance\n")
	for i := range n {
		// fresh addresses each run: rate limits are kept by address
		email := fmt.Sprintf("famille%03d.%d@%s.example.fr", i, stamp, prefix)
		fc.families = append(fc.families, faultFamily{email: email, password: faultPassword})
		fmt.Fprintf(&b, "P%04d;Famille Panne %03d;%s;%d rue des Pannes;84000;Panneville;RS;10/2025;Repas;15;2,50;15/12/2099\n", i, i, email, i+1)
	}
	err = tenant.WithTx(ctx, db, tn.ID, func(tx *sqlx.Tx) error {
		if _, err := billing.CreateSeries(ctx, tx, tn.ID, billing.Series{Code: "RS", Label: "Restauration scolaire",
			Pattern: "{exer}-RS-00-{numero:7}", NextNumber: 8001516}); err != nil {
			return err
		}
		src, herrs, err := billing.NewCSVSource(strings.NewReader(b.String()), []string{"RS"})
		if err != nil {
			return fmt.Errorf("%w %v", err, herrs)
		}
		res, err := billing.Import(ctx, tx, tn.ID, src, billing.ImportOptions{Filename: "pannes.csv"})
		if err != nil {
			return fmt.Errorf("%w %v", err, res.Errors)
		}
		if _, err := billing.Publish(ctx, tx, jobs, tn.ID, res.BatchID, time.Now()); err != nil {
			return err
		}
		for i := range fc.families {
			if _, err := account.Activate(ctx, tx, tn.ID, fc.families[i].email, hash); err != nil {
				return err
			}
			const q = `SELECT i.id FROM invoices i JOIN families f ON f.tenant_id = i.tenant_id AND f.id = i.family_id
				WHERE i.tenant_id = $1 AND f.ref = $2`
			if err := tx.SelectContext(ctx, &fc.families[i].invoices, q, tn.ID, fmt.Sprintf("P%04d", i)); err != nil {
				return err
			}
		}
		_, key, err := apikey.Create(ctx, tx, tn.ID, "logiciel de facturation", "test")
		fc.apiKey = key
		return err
	})
	if err != nil {
		t.Fatalf("seed %s: %v", prefix, err)
	}
	if err := seedAdmin(ctx, &app{db: db, cfg: config{Secret: secret}}, tn, fc.admin); err != nil {
		t.Fatal(err)
	}
	return fc
}

// faultServerEnv is the environment of a regie process of the fault tests.
func faultServerEnv(base, dbURL, redisURL, storage, smtpURL, payfipURL, secret string) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"AWS_ACCESS_KEY_ID=" + os.Getenv("AWS_ACCESS_KEY_ID"),
		"AWS_SECRET_ACCESS_KEY=" + os.Getenv("AWS_SECRET_ACCESS_KEY"),
		"REGIE_BASE_URL=" + base,
		"REGIE_DATABASE_URL=" + dbURL,
		"REGIE_REDIS_URL=" + redisURL,
		"REGIE_STORAGE_URL=" + storage,
		"REGIE_SMTP_URL=" + smtpURL,
		"REGIE_SECRET=" + secret,
		"REGIE_PAYFIP_URL=" + payfipURL,
		"REGIE_TRUSTED_PROXIES=127.0.0.1/32",
	}
}

// faultClient is one browser (or the billing software) talking to a
// commune: its own cookies, a client address of its own (rate limits are
// per address), errors returned rather than fatal.
type faultClient struct {
	base   string // http://<slug>.localhost:<port>
	ip     string
	bearer string
	c      *http.Client
}

var faultIPSeq sync.Mutex
var faultIPNext = time.Now().UnixNano()

// faultNewIP returns a client address no earlier run used recently.
func faultNewIP() string {
	faultIPSeq.Lock()
	defer faultIPSeq.Unlock()
	faultIPNext++
	n := faultIPNext
	return fmt.Sprintf("10.%d.%d.%d", 1+n/62500%250, 1+n/250%250, 1+n%250)
}

func newFaultClient(base string) *faultClient {
	jar, _ := cookiejar.New(nil)
	return &faultClient{base: base, ip: faultNewIP(), c: &http.Client{Jar: jar, Timeout: 20 * time.Second,
		Transport:     &http.Transport{DialContext: tenant.DialLocalhost, MaxIdleConnsPerHost: 4},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// do sends one request and returns the status and body.
func (f *faultClient) do(method, path string, form url.Values) (int, string, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, f.base+path, body)
	if err != nil {
		return 0, "", err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("X-Forwarded-For", f.ip)
	if f.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+f.bearer)
	}
	res, err := f.c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, string(b), err
}

// submit loads page and posts form to action with the page's CSRF token.
func (f *faultClient) submit(page, action string, form url.Values) (int, string, error) {
	st, body, err := f.do(http.MethodGet, page, nil)
	if err != nil {
		return st, body, err
	}
	m := csrfRe.FindStringSubmatch(body)
	if m == nil {
		return st, body, fmt.Errorf("no form token on %s (status %d)", page, st)
	}
	form.Set("csrf_token", m[1])
	return f.do(http.MethodPost, action, form)
}

// login logs a family in.
func (f *faultClient) login(fam faultFamily) error {
	st, body, err := f.submit("/", "/connexion", url.Values{"email": {fam.email}, "password": {fam.password}})
	if err == nil && st != http.StatusSeeOther {
		err = fmt.Errorf("login of %s: status %d\n%s", fam.email, st, faultExcerpt(body))
	}
	return err
}

// faultExcerpt shortens a page for a failure message.
func faultExcerpt(body string) string {
	if i := strings.Index(body, "<main"); i >= 0 {
		body = body[i:]
	}
	if len(body) > 600 {
		body = body[:600] + "…"
	}
	return body
}

// faultUnavailablePage reports the French page of a service momentarily
// unavailable.
func faultUnavailablePage(status int, body string) bool {
	return status == http.StatusServiceUnavailable && strings.Contains(body, "Service momentanément indisponible")
}

// faultEventually polls cond until it holds or within passes, and returns
// how long it took.
func faultEventually(t *testing.T, within time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		ok, saw := cond()
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("%s: not within %s; saw %s", what, within, saw)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// faultOutcome classifies one answer during a fault scenario.
type faultOutcome int

const (
	faultOK          faultOutcome = iota // the normal answer
	faultUnavailable                     // the clear "service momentanément indisponible" answer
	faultFailed                          // anything else: an error, a 500, a wrong page
)

// faultProbe is one kind of request of the load and how to read its
// answer.
type faultProbe struct {
	name   string
	client *faultClient
	send   func(*faultClient) (int, string, error)
	ok     func(status int, body string) bool
	// unavailable recognises the clear answer of a service momentarily
	// unavailable; nil means the family pages' French page.
	unavailable func(status int, body string) bool
}

// faultTally counts one phase's answers of one probe.
type faultTally struct {
	requests, ok, unavailable, failed int
	samples                           []string
}

// faultLoad runs probes in a loop, a few at a time, and counts their
// answers by phase; it notes, after a service returns, when each probe
// answered normally again.
type faultLoad struct {
	t      *testing.T
	probes []faultProbe

	mu        sync.Mutex
	phase     string
	tallies   map[string]map[string]*faultTally // phase → probe → tally
	recovered map[string]time.Duration          // probe → first normal answer after the restore
	restored  time.Time

	stop chan struct{}
	wg   sync.WaitGroup
}

func startFaultLoad(t *testing.T, phase string, probes ...faultProbe) *faultLoad {
	l := &faultLoad{t: t, probes: probes, phase: phase, tallies: map[string]map[string]*faultTally{},
		recovered: map[string]time.Duration{}, stop: make(chan struct{})}
	for _, p := range probes {
		l.wg.Go(func() {
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				st, body, err := p.send(p.client)
				l.count(p, st, body, err)
				select {
				case <-l.stop:
					return
				case <-time.After(150 * time.Millisecond): // light load, not a benchmark
				}
			}
		})
	}
	t.Cleanup(l.finish)
	return l
}

func (l *faultLoad) count(p faultProbe, st int, body string, err error) {
	unavailable := p.unavailable
	if unavailable == nil {
		unavailable = faultUnavailablePage
	}
	out := faultFailed
	switch {
	case err != nil:
	case p.ok(st, body):
		out = faultOK
	case unavailable(st, body):
		out = faultUnavailable
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	byProbe := l.tallies[l.phase]
	if byProbe == nil {
		byProbe = map[string]*faultTally{}
		l.tallies[l.phase] = byProbe
	}
	tl := byProbe[p.name]
	if tl == nil {
		tl = &faultTally{}
		byProbe[p.name] = tl
	}
	tl.requests++
	switch out {
	case faultOK:
		tl.ok++
		if _, seen := l.recovered[p.name]; !seen && !l.restored.IsZero() {
			l.recovered[p.name] = time.Since(l.restored)
		}
	case faultUnavailable:
		tl.unavailable++
	default:
		tl.failed++
		if len(tl.samples) < 3 {
			if err != nil {
				tl.samples = append(tl.samples, err.Error())
			} else {
				tl.samples = append(tl.samples, fmt.Sprintf("%d %s", st, faultExcerpt(body)))
			}
		}
	}
}

// setPhase starts counting under a new phase name.
func (l *faultLoad) setPhase(phase string) {
	l.mu.Lock()
	l.phase = phase
	l.mu.Unlock()
}

// markRestored notes the moment the failed service came back.
func (l *faultLoad) markRestored(phase string) {
	l.mu.Lock()
	l.phase = phase
	l.restored = time.Now()
	l.recovered = map[string]time.Duration{}
	l.mu.Unlock()
}

// waitRecovered waits until every probe answered normally since the
// restore, and returns the longest time one took.
func (l *faultLoad) waitRecovered(within time.Duration) time.Duration {
	l.t.Helper()
	var worst time.Duration
	faultEventually(l.t, within, "every probe answering normally again", func() (bool, string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		worst = 0
		for _, p := range l.probes {
			d, ok := l.recovered[p.name]
			if !ok {
				return false, fmt.Sprintf("%s not yet; tallies %s", p.name, l.describe(l.phase))
			}
			worst = max(worst, d)
		}
		return true, ""
	})
	return worst
}

// waitRequests waits until every probe has sent n requests in the phase.
func (l *faultLoad) waitRequests(n int, within time.Duration) {
	l.t.Helper()
	faultEventually(l.t, within, fmt.Sprintf("%d requests of each probe", n), func() (bool, string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, p := range l.probes {
			if tl := l.tallies[l.phase][p.name]; tl == nil || tl.requests < n {
				return false, l.describe(l.phase)
			}
		}
		return true, ""
	})
}

func (l *faultLoad) finish() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// tally returns the counts of a phase, all probes together.
func (l *faultLoad) tally(phase string) faultTally {
	l.mu.Lock()
	defer l.mu.Unlock()
	var sum faultTally
	for _, tl := range l.tallies[phase] {
		sum.requests += tl.requests
		sum.ok += tl.ok
		sum.unavailable += tl.unavailable
		sum.failed += tl.failed
		sum.samples = append(sum.samples, tl.samples...)
	}
	return sum
}

// describe lists a phase's counts by probe; call with l.mu held.
func (l *faultLoad) describe(phase string) string {
	var b strings.Builder
	for _, p := range l.probes {
		tl := l.tallies[phase][p.name]
		if tl == nil {
			fmt.Fprintf(&b, "%s: none; ", p.name)
			continue
		}
		fmt.Fprintf(&b, "%s: %d requests, %d ok, %d unavailable, %d failed %q; ", p.name, tl.requests, tl.ok, tl.unavailable, tl.failed, tl.samples)
	}
	return b.String()
}

// report returns a phase's counts by probe.
func (l *faultLoad) report(phase string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.describe(phase)
}

// expect checks a phase: no failed answer, and, when wantOK, no
// "unavailable" answer either.
func (l *faultLoad) expect(phase string, wantOK bool) {
	l.t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range l.probes {
		tl := l.tallies[phase][p.name]
		switch {
		case tl == nil || tl.requests == 0:
			l.t.Errorf("%s: %s sent no request", phase, p.name)
		case tl.failed > 0:
			l.t.Errorf("%s: %s: %d of %d answers failed: %q", phase, p.name, tl.failed, tl.requests, tl.samples)
		case wantOK && tl.unavailable > 0:
			l.t.Errorf("%s: %s: %d of %d answers said unavailable", phase, p.name, tl.unavailable, tl.requests)
		}
	}
}
