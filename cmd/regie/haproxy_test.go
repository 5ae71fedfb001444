package main

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/regie/regie/billing"
)

// haproxyConfig balances three regie servers: health checks on /readyz,
// and a request whose server is gone (connection refused, or cut before
// any answer) goes to another one.
const haproxyConfig = `global
	maxconn 2000
defaults
	mode http
	timeout connect 1s
	timeout client 30s
	timeout server 30s
	timeout check 1s
	retries 3
	option redispatch 1
	retry-on conn-failure empty-response
	option forwardfor
frontend portail
	bind %s
	default_backend regie
backend regie
	balance roundrobin
	option httpchk GET /readyz
	http-check expect status 200
	default-server inter 300ms fall 1 rise 2
%s`

// TestHAProxy_ThreeInstances runs three `regie serve` behind haproxy while
// families log in, read their invoices and pay them; one instance is
// killed (-9) and restarted in the middle (make soak: every instance in
// turn, over two minutes). No request fails, no family has to log in
// again, and every payment DGFiP took is recorded once.
func TestHAProxy_ThreeInstances(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		bin = "/usr/sbin/haproxy"
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("haproxy is not installed (deploy/local/test-env.sh installs it): %v", err)
	}
	families, run, kills := 12, 24*time.Second, 1
	if faultSoak() {
		families, run, kills = 40, 2*time.Minute, 3
	}
	dbURL, db, rd, box := faultServices(t)
	sim := faultStartSim(t, "001964")
	secret := "haproxy-secret-haproxy-secret-haproxy-4242"
	fc := faultSeed(t, db, secret, "repartition", families)

	front := freeLocalAddr(t)
	_, frontPort, _ := net.SplitHostPort(front)
	env := append(faultServerEnv("http://localhost:"+frontPort, dbURL, rd.redisURL(), "file://"+t.TempDir(), box.URL(), sim.url(), secret),
		"REGIE_JOB_RESCUE_AFTER=10s")
	names := []string{"a", "b", "c"}
	instances := make([]*faultDaemon, 3)
	var servers strings.Builder
	for i, n := range names {
		addr := freeLocalAddr(t)
		instances[i] = faultRegie(t, "regie-"+n, addr, append(append([]string(nil), env...), "REGIE_LISTEN="+addr), "serve")
		fmt.Fprintf(&servers, "\tserver %s %s check\n", n, addr)
	}
	cfgPath := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(haproxyConfig, front, servers.String())), 0o644); err != nil {
		t.Fatal(err)
	}
	hap := &faultDaemon{t: t, name: "haproxy", addr: front, log: filepath.Join(t.TempDir(), "haproxy.log"),
		env: []string{"PATH=" + os.Getenv("PATH")}, argv: []string{bin, "-db", "-f", cfgPath}}
	hap.start()
	t.Cleanup(func() {
		hap.stop(syscall.SIGTERM)
		if t.Failed() {
			hap.dumpLog()
		}
	})
	base := "http://" + fc.tn.Slug + ".localhost:" + frontPort
	waitHealthy(t, front)

	var requests, failures, relogins, paid atomic.Int64
	var mu sync.Mutex
	var samples []string
	fail := func(format string, args ...any) {
		failures.Add(1)
		mu.Lock()
		if len(samples) < 10 {
			samples = append(samples, time.Now().Format("15:04:05.000 ")+fmt.Sprintf(format, args...))
		}
		mu.Unlock()
	}
	deadline := time.Now().Add(run)
	var wg sync.WaitGroup
	var idOps sync.Map // invoice id → DGFiP operation
	for i, fam := range fc.families {
		wg.Go(func() {
			c := newFaultClient(base)
			if err := c.login(fam); err != nil {
				fail("login %d: %v", i, err)
				return
			}
			rng := rand.New(rand.NewPCG(uint64(i), 42))
			payAt := time.Now().Add(time.Duration(rng.Int64N(int64(run * 3 / 4))))
			inv := fam.invoices[0]
			payed := false
			get := func(path, want string) {
				requests.Add(1)
				st, body, err := c.do(http.MethodGet, path, nil)
				switch {
				case err != nil:
					fail("GET %s: %v", path, err)
				case st == http.StatusSeeOther:
					relogins.Add(1)
					fail("GET %s: sent to log in again (session lost)", path)
				case st != http.StatusOK || !strings.Contains(body, want):
					fail("GET %s: %d %s", path, st, faultExcerpt(body))
				}
			}
			for time.Now().Before(deadline) {
				get("/factures", "Mes factures")
				get(fmt.Sprintf("/factures/%d", inv), "37,50")
				if !payed && time.Now().After(payAt) {
					payed = true
					requests.Add(2)
					_, page, err := c.do(http.MethodGet, fmt.Sprintf("/factures/%d/tipi", inv), nil)
					m := csrfRe.FindStringSubmatch(page)
					if err != nil || m == nil {
						fail("payment page of %d: %v %s", inv, err, faultExcerpt(page))
						continue
					}
					req, _ := http.NewRequest(http.MethodPost, base+fmt.Sprintf("/factures/%d/paiement", inv),
						strings.NewReader(url.Values{"csrf_token": {m[1]}}.Encode()))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					req.Header.Set("X-Forwarded-For", c.ip)
					res, err := c.c.Do(req)
					if err != nil {
						fail("start payment of %d: %v", inv, err)
						continue
					}
					res.Body.Close()
					loc, _ := url.Parse(res.Header.Get("Location"))
					if res.StatusCode != http.StatusSeeOther || loc == nil || loc.Query().Get("idop") == "" {
						fail("start payment of %d: %d to %q", inv, res.StatusCode, res.Header.Get("Location"))
						continue
					}
					idOp := loc.Query().Get("idop")
					idOps.Store(inv, idOp)
					// the payer pays on DGFiP's page; DGFiP notifies through
					// haproxy and the browser comes back through it
					if err := sim.Complete(idOp, "P"); err != nil {
						fail("pay %s: %v", idOp, err)
						continue
					}
					paid.Add(1)
					get("/paiement/retour?idop="+url.QueryEscape(idOp), "Paiement")
				}
				time.Sleep(100 * time.Millisecond) // a family reading the page
			}
		})
	}

	// kill an instance (-9) in the middle, then start it again
	var downtimes []string
	for k := range kills {
		at := time.Duration(k+1) * run / time.Duration(kills+1)
		for time.Until(deadline.Add(-run+at)) > 0 {
			time.Sleep(50 * time.Millisecond)
		}
		victim := instances[(k+1)%3]
		killed := time.Now()
		victim.stop(syscall.SIGKILL)
		time.Sleep(2 * time.Second) // the instance stays down a moment
		victim.start()
		waitHealthy(t, victim.addr)
		downtimes = append(downtimes, fmt.Sprintf("%s down %s", victim.name, time.Since(killed).Round(100*time.Millisecond)))
	}
	wg.Wait()

	// every payment DGFiP took is recorded once, through whichever
	// instance or worker settled it
	var settle time.Duration
	idOps.Range(func(k, v any) bool {
		inv := k.(int64)
		d := faultEventually(t, 2*time.Minute, fmt.Sprintf("invoice %d paid", inv), func() (bool, string) {
			var st string
			err := db.Get(&st, `SELECT status FROM invoices WHERE tenant_id = $1 AND id = $2`, fc.tn.ID, inv)
			return err == nil && st == string(billing.Paid), st
		})
		settle = max(settle, d)
		var n int
		if err := db.Get(&n, `SELECT count(*) FROM payments WHERE tenant_id = $1 AND invoice_id = $2`, fc.tn.ID, inv); err != nil || n != 1 {
			t.Errorf("invoice %d has %d payments (%v), want 1", inv, n, err)
		}
		return true
	})
	// every instance took its share, the restarted ones included
	var shares []string
	for _, in := range instances {
		b, err := os.ReadFile(in.log)
		if err != nil {
			t.Fatal(err)
		}
		n := strings.Count(string(b), `"msg":"request"`)
		if n == 0 {
			t.Errorf("%s served no request", in.name)
		}
		shares = append(shares, fmt.Sprintf("%s %d", in.name, n))
	}
	if failures.Load() > 0 {
		t.Errorf("%d of %d requests failed: %q", failures.Load(), requests.Load(), samples)
	}
	if relogins.Load() > 0 {
		t.Errorf("%d requests found the session gone", relogins.Load())
	}
	if paid.Load() == 0 {
		t.Error("no family paid")
	}
	t.Logf("haproxy, 3 instances, %d families for %s: %d requests (%s), %d failed, %d sessions lost; %s; %d payments, all recorded once (last settled %s after the load)",
		families, run, requests.Load(), strings.Join(shares, ", "), failures.Load(), relogins.Load(), strings.Join(downtimes, ", "), paid.Load(), settle.Round(time.Millisecond))
}
