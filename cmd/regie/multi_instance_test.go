package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/pquerna/otp/totp"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/migrations/dbtest"
	"github.com/regie/regie/portal/account"
	"github.com/regie/regie/portal/mail/catcher"
	"github.com/regie/regie/tenant"
	"github.com/regie/regie/tenant/tenanttest"
)

// process is a regie process started by a test, its JSON log lines kept.
type process struct {
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs []map[string]any
	done chan struct{}
}

func startProcess(t *testing.T, bin, name string, env []string, args ...string) *process {
	t.Helper()
	p := &process{name: name, cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Env = env
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) != nil {
				m = map[string]any{"raw": sc.Text()}
			}
			p.mu.Lock()
			p.logs = append(p.logs, m)
			p.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		p.cmd.Process.Signal(os.Interrupt) //nolint:errcheck // it may have exited
		select {
		case <-p.done:
		case <-time.After(40 * time.Second):
			p.cmd.Process.Kill() //nolint:errcheck // last resort
		}
		p.cmd.Wait() //nolint:errcheck // the exit status of a stopped process
		if t.Failed() {
			p.mu.Lock()
			for _, l := range p.logs {
				t.Logf("%s: %v", p.name, l)
			}
			p.mu.Unlock()
		}
	})
	return p
}

func (p *process) lines() []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]map[string]any(nil), p.logs...)
}

func freeLocalAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitHealthy(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		res, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s never became ready", addr)
}

// webClient is one browser talking to a commune through one instance or
// another: the same cookie jar (cookies ignore ports), the port chosen per
// request.
type webClient struct {
	t    *testing.T
	host string
	ip   string // X-Forwarded-For, as from a proxy
	c    *http.Client
}

var csrfRe = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func (w *webClient) do(port, method, path string, form url.Values) (*http.Response, string) {
	w.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, "http://"+w.host+":"+port+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("X-Forwarded-For", w.ip)
	res, err := w.c.Do(req)
	if err != nil {
		w.t.Fatalf("%s %s: %v", method, path, err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res, string(b)
}

// submit loads page on port, then posts form to action with the page's
// CSRF token.
func (w *webClient) submit(port, page, action string, form url.Values) (*http.Response, string) {
	w.t.Helper()
	_, body := w.do(port, http.MethodGet, page, nil)
	m := csrfRe.FindStringSubmatch(body)
	if m == nil {
		w.t.Fatalf("no form token on %s", page)
	}
	form.Set("csrf_token", m[1])
	return w.do(port, http.MethodPost, action, form)
}

// TestSeveralInstances runs two `regie serve --web-only` and one `regie
// worker` on one PostgreSQL and one Redis: a session opened on one instance
// goes on on the other, a commune renamed through one is renamed on the
// other within a second, and jobs enqueued through either are worked once.
func TestSeveralInstances(t *testing.T) {
	ctx := context.Background()
	// A database of its own: the worker works every job of its database,
	// and must not take those of the package's other tests.
	dbURL := dbtest.NewDatabase(t)
	db, err := openDB(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	bin := filepath.Join(t.TempDir(), "regie")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	tn := tenanttest.MustCreate(t, db, "multi")
	// Rate limits live in Redis across runs: a fresh address and client IP
	// each run.
	family := fmt.Sprintf("famille.multi.%d@example.fr", time.Now().UnixNano())
	clientIP := fmt.Sprintf("10.%d.%d.%d", time.Now().UnixNano()%250, time.Now().Unix()%250, 1+time.Now().UnixNano()%250)
	hash, err := account.NewHasher().Hash(ctx, "mot-de-passe-multi")
	if err != nil {
		t.Fatal(err)
	}
	err = tenant.WithTx(ctx, db, tn.ID, func(tx *sqlx.Tx) error {
		if _, err := billing.SaveFamily(ctx, tx, tn.ID, billing.Family{Ref: "M1", Name: "Famille Multi", Emails: []string{family}}); err != nil {
			return err
		}
		_, err := account.Activate(ctx, tx, tn.ID, family, hash)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	secret := "multi-instance-secret-multi-instance-secret"
	admin := "admin.multi@example.fr"
	if err := seedAdmin(ctx, &app{db: db, cfg: config{Secret: secret}}, tn, admin); err != nil {
		t.Fatal(err)
	}

	box, err := catcher.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	addrA, addrB, addrW := freeLocalAddr(t), freeLocalAddr(t), freeLocalAddr(t)
	_, portA, _ := net.SplitHostPort(addrA)
	_, portB, _ := net.SplitHostPort(addrB)
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"REGIE_BASE_URL=http://localhost:" + portA,
		"REGIE_DATABASE_URL=" + dbURL,
		"REGIE_REDIS_URL=" + dbtest.RedisURL(t),
		"REGIE_STORAGE_URL=file://" + t.TempDir(),
		"REGIE_SMTP_URL=" + box.URL(),
		"REGIE_SECRET=" + secret,
		"REGIE_PAYFIP_URL=http://127.0.0.1:9",
		"REGIE_TRUSTED_PROXIES=127.0.0.1/32",
	}
	a := startProcess(t, bin, "web-a", append(env, "REGIE_LISTEN="+addrA), "serve", "--web-only")
	b := startProcess(t, bin, "web-b", append(env, "REGIE_LISTEN="+addrB), "serve", "--web-only")
	w := startProcess(t, bin, "worker", env, "worker", "--listen", addrW)
	for _, addr := range []string{addrA, addrB, addrW} {
		waitHealthy(t, addr)
	}

	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 10 * time.Second,
		Transport:     &http.Transport{DialContext: tenant.DialLocalhost},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	fam := &webClient{t: t, host: tn.Slug + ".localhost", ip: clientIP, c: client}

	t.Run("session shared", func(t *testing.T) {
		res, body := fam.submit(portA, "/", "/connexion", url.Values{"email": {family}, "password": {"mot-de-passe-multi"}})
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("login on A: %d\n%s", res.StatusCode, body)
		}
		res, body = fam.do(portB, http.MethodGet, "/compte", nil)
		if res.StatusCode != http.StatusOK || !strings.Contains(body, family) {
			t.Fatalf("account page on B after login on A: %d\n%s", res.StatusCode, body)
		}
	})

	t.Run("rename seen by the other within a second", func(t *testing.T) {
		jar2, _ := cookiejar.New(nil)
		staffC := &webClient{t: t, host: tn.Slug + ".localhost", ip: clientIP, c: &http.Client{Jar: jar2, Timeout: 10 * time.Second,
			Transport: client.Transport, CheckRedirect: client.CheckRedirect}}
		// B has the commune in its cache
		if _, body := staffC.do(portB, http.MethodGet, "/", nil); !strings.Contains(body, tn.Name) {
			t.Fatalf("B does not show %q", tn.Name)
		}
		res, body := staffC.submit(portA, "/gestion/connexion", "/gestion/connexion", url.Values{"email": {admin}, "password": {demoAdminPassword}})
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("staff login: %d\n%s", res.StatusCode, body)
		}
		code, err := totp.GenerateCode(demoTOTPSecret, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if res, body = staffC.submit(portA, "/gestion/connexion/code", "/gestion/connexion/code", url.Values{"code": {code}}); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("staff code: %d\n%s", res.StatusCode, body)
		}
		renamed := "Mairie de Multiville " + strconv.FormatInt(time.Now().UnixNano()%1000, 10)
		res, body = staffC.submit(portA, "/gestion/parametres", "/gestion/parametres", url.Values{"name": {renamed}, "accent_color": {"#1f4e8c"}})
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("rename on A: %d\n%s", res.StatusCode, body)
		}
		saved := time.Now()
		for {
			_, body := staffC.do(portB, http.MethodGet, "/", nil)
			if strings.Contains(body, renamed) {
				t.Logf("B showed the new name %v after A saved it", time.Since(saved).Round(time.Millisecond))
				break
			}
			if time.Since(saved) > time.Second {
				t.Fatalf("B still shows the old name 1 s after the rename")
			}
			time.Sleep(20 * time.Millisecond)
		}
	})

	t.Run("jobs worked once", func(t *testing.T) {
		// a reset link asked on each instance: two jobs, two mails
		for _, port := range []string{portA, portB} {
			anon := &webClient{t: t, host: fam.host, ip: clientIP, c: &http.Client{Timeout: 10 * time.Second, Transport: client.Transport,
				CheckRedirect: client.CheckRedirect}}
			anon.c.Jar, _ = cookiejar.New(nil)
			res, body := anon.submit(port, "/mot-de-passe-oublie", "/mot-de-passe-oublie", url.Values{"email": {family}})
			if res.StatusCode != http.StatusSeeOther && res.StatusCode != http.StatusOK {
				t.Fatalf("reset request on %s: %d\n%s", port, res.StatusCode, body)
			}
		}
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if _, err := box.WaitFor(wctx, family, 2); err != nil {
			t.Fatalf("reset mails: %v (got %d)", err, len(box.To(family)))
		}
		time.Sleep(2 * time.Second) // time for a duplicate to show
		if n := len(box.To(family)); n != 2 {
			t.Errorf("%d mails for two requests, want 2", n)
		}
		var jobs []struct {
			Kind    string `db:"kind"`
			State   string `db:"state"`
			Attempt int    `db:"attempt"`
		}
		if err := db.Select(&jobs, `SELECT kind, state::text AS state, attempt FROM river_job
			WHERE (args->>'tenant_id')::bigint = $1 AND kind IN ('account.link_request', 'mail.send') ORDER BY id`, tn.ID); err != nil {
			t.Fatal(err)
		}
		if len(jobs) != 4 {
			t.Errorf("jobs: %+v, want 2 link requests and 2 mails", jobs)
		}
		for _, j := range jobs {
			if j.State != "completed" || j.Attempt != 1 {
				t.Errorf("job %+v, want completed at the first attempt", j)
			}
		}
	})

	t.Run("logs", func(t *testing.T) {
		for _, p := range []*process{a, b} {
			requests := 0
			for _, l := range p.lines() {
				if l["msg"] != "request" {
					continue
				}
				requests++
				if l["request_id"] == nil {
					t.Errorf("%s: request line without request_id: %v", p.name, l)
				}
				if h, _ := l["host"].(string); strings.HasPrefix(h, tn.Slug+".") && l["commune"] != tn.Slug {
					t.Errorf("%s: request line without its commune: %v", p.name, l)
				}
			}
			if requests == 0 {
				t.Errorf("%s logged no request", p.name)
			}
		}
		jobsLogged := 0
		for _, l := range w.lines() {
			if l["msg"] != "job done" && l["msg"] != "job failed" {
				continue
			}
			if l["job_kind"] == "mail.send" || l["job_kind"] == "account.link_request" {
				jobsLogged++
				if l["commune_id"] != float64(tn.ID) {
					t.Errorf("worker: job line without its commune: %v", l)
				}
			}
		}
		if jobsLogged < 4 {
			t.Errorf("worker logged %d of the 4 jobs", jobsLogged)
		}
	})
}
