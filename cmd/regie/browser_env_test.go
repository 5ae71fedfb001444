package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/migrations/dbtest"
	"github.com/regie/regie/payments/dgfipsim"
	"github.com/regie/regie/portal/mail/catcher"
)

// The browser tests run the product as `make demo` does — its own
// database, seeded with the demo communes, the DGFiP stand-in, a caught
// mailbox — on the test run's PostgreSQL and Redis and a free port, and
// drive Debian's Chromium through it. Each step saves a screenshot under
// test-output/browser/<test>/ (kept after a failure, and ignored by git).

// demoSite is one running demo.
type demoSite struct {
	port string
	box  *catcher.Catcher
	sim  *dgfipsim.Server
	db   *sqlx.DB
	app  *app
}

// startDemo seeds a fresh database with the demo and serves it until the
// test ends.
func startDemo(t *testing.T) *demoSite {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dbURL := dbtest.NewDatabase(t)
	// Every clone of the test schema gives the demo communes the same ids,
	// so the rate limits of earlier runs (kept in Redis, by commune and
	// address) would apply: start without them.
	rdb := dbtest.Redis(t)
	keys, err := rdb.Keys(ctx, "*ratelimit:*").Result()
	if err == nil && len(keys) > 0 {
		err = rdb.Del(ctx, keys...).Err()
	}
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	box, err := catcher.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sim := dgfipsim.New(dgfipsim.Options{Clients: demoClients, Log: newLogger(io.Discard)})
	simLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go serveUntil(ctx, simLn, sim) //nolint:errcheck // ends with the test
	env := map[string]string{
		"REGIE_BASE_URL":     "http://localhost:" + port,
		"REGIE_DATABASE_URL": dbURL,
		"REGIE_REDIS_URL":    dbtest.RedisURL(t),
		"REGIE_STORAGE_URL":  "file://" + t.TempDir(),
		"REGIE_SMTP_URL":     box.URL(),
		"REGIE_SECRET":       "browser-test-secret-browser-test-secret-0123",
		"REGIE_PAYFIP_URL":   "http://" + simLn.Addr().String(),
	}
	cfg, err := loadConfig(envOf(env), needServer)
	if err != nil {
		t.Fatal(err)
	}
	logw := io.Discard
	if os.Getenv("REGIE_TEST_LOG") != "" {
		logw = os.Stderr
	}
	a, err := newApp(ctx, cfg, logw, appOptions{work: true, jobPoll: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := seedDemo(ctx, a, sim); err != nil {
		t.Fatalf("seed the demo: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- a.serve(ctx, ln, true) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(40 * time.Second):
			t.Error("the demo did not stop")
		}
		a.close()
		sim.Close()
		box.Close()
	})
	return &demoSite{port: port, box: box, sim: sim, db: a.db, app: a}
}

// url is a page of a commune (or of the platform when slug is "").
func (d *demoSite) url(slug, path string) string {
	if slug == "" {
		return "http://localhost:" + d.port + path
	}
	return "http://" + slug + ".localhost:" + d.port + path
}

var mailLinkRe = regexp.MustCompile(`https?://\S+`)

// mailLink waits for the n-th mail to addr whose subject contains subject
// and returns its first link that contains want.
func (d *demoSite) mailLink(t *testing.T, addr, subject, want string, n int) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		seen := 0
		for _, m := range d.box.To(addr) {
			if !strings.Contains(m.Subject, subject) {
				continue
			}
			if seen++; seen < n {
				continue
			}
			for _, l := range mailLinkRe.FindAllString(m.Text, -1) {
				if strings.Contains(l, want) {
					return strings.TrimRight(l, ".,)>")
				}
			}
			t.Fatalf("mail %q to %s has no link with %q:\n%s", m.Subject, addr, want, m.Text)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no mail %q number %d to %s (got %d mails)", subject, n, addr, len(d.box.To(addr)))
	return ""
}

// mailsTo counts the mails to addr whose subject contains subject.
func (d *demoSite) mailsTo(addr, subject string) int {
	n := 0
	for _, m := range d.box.To(addr) {
		if strings.Contains(m.Subject, subject) {
			n++
		}
	}
	return n
}

// browser is one Chromium with its own profile folder, and one tab.
type browser struct {
	t       *testing.T
	ctx     context.Context
	cancel  context.CancelFunc
	profile string
	shots   string
	step    int
	width   int
	height  int
}

// chromiumPath is Debian's Chromium, which `make test` installs.
func chromiumPath(t *testing.T) string {
	p := os.Getenv("REGIE_TEST_CHROMIUM")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("Chromium not found at %s (make test installs the chromium package): %v", p, err)
	}
	return p
}

// openBrowser starts Chromium on profile (a fresh folder when ""), with a
// window of width×height.
func openBrowser(t *testing.T, profile string, width, height int) *browser {
	t.Helper()
	if profile == "" {
		profile = t.TempDir()
	}
	shots := filepath.Join("..", "..", "test-output", "browser", strings.ReplaceAll(t.Name(), "/", "-"))
	if err := os.RemoveAll(shots); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(width, height),
	)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	b := &browser{t: t, ctx: ctx, profile: profile, shots: shots, width: width, height: height}
	b.cancel = func() { cancel(); acancel() }
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), int64(height))); err != nil {
		b.cancel()
		t.Fatalf("start Chromium: %v", err)
	}
	t.Cleanup(b.close)
	return b
}

// close ends the browser gracefully, so that the profile keeps its
// cookies.
func (b *browser) close() {
	if b.cancel == nil {
		return
	}
	chromedp.Cancel(b.ctx) //nolint:errcheck // closing anyway
	b.cancel()
	b.cancel = nil
}

// do runs one step of a path: its actions, then a screenshot named after
// it. A failure names the step and keeps its screenshot.
func (b *browser) do(name string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	err := chromedp.Do(ctx, actions...)
	b.shot(name)
	if err != nil {
		b.t.Fatalf("step %q: %v (screenshot in %s)", name, err, b.shots)
	}
}

// shot saves a screenshot of the page.
func (b *browser) shot(name string) {
	b.step++
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Logf("screenshot %q: %v", name, err)
		return
	}
	file := filepath.Join(b.shots, fmt.Sprintf("%02d-%s.png", b.step, strings.ReplaceAll(name, " ", "-")))
	if err := os.WriteFile(file, buf, 0o644); err != nil {
		b.t.Logf("screenshot %q: %v", name, err)
	}
}

// eval runs JavaScript and returns its value.
func eval[T any](b *browser, js string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		b.shot("eval-failed")
		b.t.Fatalf("evaluate %.80q: %v", js, err)
	}
	return v
}

// text is the visible text of the page.
func (b *browser) text() string { return eval[string](b, `document.body.innerText`) }

// location is the page's URL.
func (b *browser) location() string { return eval[string](b, `location.href`) }

// see checks that the page shows each of wants.
func (b *browser) see(step string, wants ...string) {
	b.t.Helper()
	text := b.text()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			b.shot(step + " missing")
			b.t.Fatalf("step %q: the page (%s) does not show %q:\n%s", step, b.location(), w, text)
		}
	}
}

// submitWith clicks a button or link and waits for the page it leads to.
func submitWith[S chromedp.Selectable](sel S) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(sel, chromedp.NodeVisible))(ctx, t)
		return err
	})
}

// navigate opens a URL and waits for it to load.
func navigate(u string) chromedp.Action[chromedp.Void] { return chromedp.Navigate(u) }

// byText selects a link or button by its exact visible text.
func byText(s string) chromedp.JSPath {
	return chromedp.JSPath(fmt.Sprintf(`[...document.querySelectorAll('a, button')].find(e => e.innerText.trim() === %q)`, s))
}
