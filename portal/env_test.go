package portal

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/rivertype"

	"github.com/regie/regie/billing/docstore"
	"github.com/regie/regie/migrations/dbtest"
	"github.com/regie/regie/payments"
	"github.com/regie/regie/payments/dgfipsim"
	"github.com/regie/regie/payments/payfip"
	"github.com/regie/regie/portal/mail"
	"github.com/regie/regie/portal/mail/catcher"
	"github.com/regie/regie/tenant"
)

// env is the portal under test with everything real: PostgreSQL, Redis, an
// SMTP server and a River client working the portal's jobs. There is one per
// test process: River works every job of the database, so a second client
// would steal the first one's jobs.
type env struct {
	docs    *docstore.Folder
	docsDir string
	sim     *dgfipsim.Server
	simTS   *httptest.Server
	pay     *payments.Service
	srv     *Server
	ts      *httptest.Server
	box     *catcher.Catcher
	jobs    *river.Client[*sql.Tx]
	port    string
}

var (
	envOnce sync.Once
	theEnv  *env
	envErr  error
)

// fastRetry retries failed jobs after 100 ms, so outage tests stay short.
type fastRetry struct{}

func (fastRetry) NextRetry(*rivertype.JobRow) time.Time {
	return time.Now().Add(100 * time.Millisecond)
}

func sharedEnv(t *testing.T) *env {
	t.Helper()
	db := dbtest.DB(t)
	redisURL := dbtest.RedisURL(t)
	envOnce.Do(func() {
		e := &env{}
		// the environment outlives the test that builds it: its own client
		opt, err := redis.ParseURL(redisURL)
		if err != nil {
			envErr = err
			return
		}
		rdb := redis.NewClient(opt)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			envErr = err
			return
		}
		_, e.port, _ = net.SplitHostPort(ln.Addr().String())
		base, _ := url.Parse("http://localhost:" + e.port)
		if e.box, envErr = catcher.Start("127.0.0.1:0"); envErr != nil {
			return
		}
		sender, err := mail.NewSMTP(e.box.URL(), "portail@example.fr")
		if err != nil {
			envErr = err
			return
		}
		log := slog.New(slog.DiscardHandler)
		store := tenant.NewStore(db)
		if e.docsDir, envErr = os.MkdirTemp("", "regie-portal-docs-"); envErr != nil {
			return
		}
		docs, err := docstore.NewFolder(e.docsDir)
		if err != nil {
			envErr = err
			return
		}
		e.docs = docs

		// the DGFiP stand-in, whose notifications reach paiement.localhost
		e.sim = dgfipsim.New(dgfipsim.Options{Clients: map[string]string{"001964": "MAIRIE DE TEST", "002741": "MAIRIE B"}})
		e.simTS = httptest.NewServer(e.sim)
		e.pay = &payments.Service{DB: db, PayFiP: payfip.New(e.simTS.URL, nil), BaseURL: base, Log: log}
		workers := river.NewWorkers()
		if envErr = AddWorkers(workers, WorkerDeps{DB: db, Tenants: store, Sender: sender, Docs: docs, BaseURL: base, Log: log}); envErr != nil {
			return
		}
		if envErr = payments.AddWorkers(workers, e.pay); envErr != nil {
			return
		}
		e.jobs, envErr = river.NewClient(riverdatabasesql.New(db.DB), &river.Config{
			Workers: workers, Queues: map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 10}},
			PollOnly: true, FetchCooldown: 10 * time.Millisecond, FetchPollInterval: 20 * time.Millisecond, RetryPolicy: fastRetry{}, Logger: log,
		})
		if envErr != nil {
			return
		}
		e.pay.Jobs = e.jobs
		if envErr = e.jobs.Start(context.Background()); envErr != nil {
			return
		}
		payfipURL, _ := url.Parse(e.simTS.URL)
		// Each test browser comes through the "proxy" 127.0.0.1 with its own
		// X-Forwarded-For, so that per-IP limits see distinct people.
		e.srv, envErr = New(Options{BaseURL: base, Secret: []byte("test-secret-test-secret-test-secret!"), PayFiPURL: payfipURL,
			PasswordMinLength: 8, TrustedProxies: []string{"127.0.0.1/32"}},
			Deps{DB: db, Redis: rdb, Tenants: store, Resolver: tenant.NewResolver(store, rdb, log), Jobs: e.jobs, Docs: docs, Payments: e.pay, Log: log})
		if envErr != nil {
			return
		}
		e.ts = httptest.NewUnstartedServer(e.srv)
		e.ts.Listener.Close()
		e.ts.Listener = ln
		e.ts.Start()
		theEnv = e
	})
	if envErr != nil {
		t.Fatalf("test environment: %v", envErr)
	}
	return theEnv
}

// browser is one person's browser: a cookie jar, on one commune's host,
// that does not follow redirects so tests see them.
type browser struct {
	t    *testing.T
	e    *env
	host string
	ip   string // X-Forwarded-For
	c    *http.Client
	jar  *cookiejar.Jar
}

func (e *env) browser(t *testing.T, tn tenant.Tenant) *browser {
	jar, _ := cookiejar.New(nil)
	ip := fmt.Sprintf("10.%d.%d.%d", rand.IntN(256), rand.IntN(256), 1+rand.IntN(254))
	return &browser{t: t, e: e, host: tn.Slug + ".localhost:" + e.port, ip: ip, jar: jar, c: &http.Client{
		Jar:       jar,
		Transport: &http.Transport{DialContext: tenant.DialLocalhost},
		Timeout:   10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

// on returns a browser sharing this one's cookies but asking another host.
func (b *browser) on(tn tenant.Tenant) *browser {
	c := *b
	c.host = tn.Slug + ".localhost:" + b.e.port
	return &c
}

func (b *browser) url(path string) string {
	if strings.HasPrefix(path, "http") {
		u, _ := url.Parse(path)
		return "http://" + b.host + u.RequestURI()
	}
	return "http://" + b.host + path
}

func (b *browser) do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	req.Header.Set("X-Forwarded-For", b.ip)
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res, string(body)
}

func (b *browser) get(path string) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.url(path), nil)
	return b.do(req)
}

// post submits a form, with this browser's CSRF token unless the form has
// one.
func (b *browser) post(path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	if _, ok := form["csrf_token"]; !ok {
		if b.cookie(csrfCookie) == "" {
			b.get("/")
		}
		form.Set("csrf_token", b.e.srv.csrfToken(b.cookie(csrfCookie)))
	}
	req, _ := http.NewRequest(http.MethodPost, b.url(path), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

func (b *browser) cookie(name string) string {
	u, _ := url.Parse("http://" + b.host + "/")
	for _, c := range b.jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

func (b *browser) setCookie(name, value string) {
	u, _ := url.Parse("http://" + b.host + "/")
	b.jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

// expect checks a response's status and, for a redirect, its target path.
func expect(t *testing.T, res *http.Response, body string, status int, location string) {
	t.Helper()
	if res.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d\n%s", res.Request.Method, res.Request.URL, res.StatusCode, status, body)
	}
	if location != "" {
		got := res.Header.Get("Location")
		if u, err := url.Parse(got); err == nil && u.Host != "" {
			got = u.RequestURI()
		}
		if got != location {
			t.Fatalf("%s %s: Location %q, want %q", res.Request.Method, res.Request.URL, got, location)
		}
	}
}

var linkRe = regexp.MustCompile(`http://\S+/(activation|mot-de-passe)/[A-Za-z0-9_-]+`)

// mailedLink waits for the n-th mail to addr carrying an activation or
// reset link (other mails, such as publication ones, do not count) and
// returns the link.
func (e *env) mailedLink(t *testing.T, addr string, n int) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var links []string
		for _, m := range e.box.To(addr) {
			if link := linkRe.FindString(m.Text); link != "" {
				if !strings.Contains(m.HTML, link) {
					t.Fatalf("the HTML part of %q lacks the link %s", m.Subject, link)
				}
				links = append(links, link)
			}
		}
		if len(links) >= n {
			return links[n-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d mail(s) with a link to %s, want %d", len(links), addr, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// linksTo counts the mails to addr that carry an activation or reset link.
func (e *env) linksTo(addr string) int {
	n := 0
	for _, m := range e.box.To(addr) {
		if linkRe.MatchString(m.Text) {
			n++
		}
	}
	return n
}

// waitJobs waits until every job of a kind whose args mention needle is
// completed.
func (e *env) waitJobs(t *testing.T, kind, needle string) {
	t.Helper()
	db := dbtest.DB(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var open, done int
		db.Get(&open, `SELECT count(*) FROM river_job WHERE kind = $1 AND args::text LIKE '%' || $2 || '%' AND state <> 'completed'`, kind, needle)
		db.Get(&done, `SELECT count(*) FROM river_job WHERE kind = $1 AND args::text LIKE '%' || $2 || '%' AND state = 'completed'`, kind, needle)
		if open == 0 && done > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("jobs %s for %s: %d still open, %d done", kind, needle, open, done)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
