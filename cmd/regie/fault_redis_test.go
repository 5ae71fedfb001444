package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/pquerna/otp/totp"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/portal/mail/catcher"
	"github.com/regie/regie/tenant"
)

// faultStack is one `regie serve` (web and jobs) on a database of its own,
// with a Redis, an SMTP catcher and a DGFiP stand-in of its own, and a
// seeded commune.
type faultStack struct {
	t      *testing.T
	dbURL  string
	db     *sqlx.DB
	redis  *faultDaemon
	box    *catcher.Catcher
	sim    *faultSim
	secret string
	env    []string
	port   string
	fc     faultCommune
	serve  *faultDaemon
}

// newFaultStack seeds a commune of families and starts the server; extra
// environment lines override the defaults (file storage).
func newFaultStack(t *testing.T, prefix string, families int, extra ...string) *faultStack {
	t.Helper()
	s := &faultStack{t: t, secret: "fault-secret-fault-secret-fault-secret-42"}
	s.dbURL, s.db, s.redis, s.box = faultServices(t)
	s.sim = faultStartSim(t, "001964")
	s.fc = faultSeed(t, s.db, s.secret, prefix, families)
	addr := freeLocalAddr(t)
	_, s.port, _ = net.SplitHostPort(addr)
	s.env = faultServerEnv("http://localhost:"+s.port, s.dbURL, s.redis.redisURL(), "file://"+t.TempDir(),
		s.box.URL(), s.sim.url(), s.secret)
	s.env = append(append(s.env, "REGIE_LISTEN="+addr), extra...)
	s.serve = faultRegie(t, "serve", addr, s.env, "serve")
	return s
}

func (s *faultStack) communeURL() string {
	return "http://" + s.fc.tn.Slug + ".localhost:" + s.port
}

// family returns a client logged in as the i-th family.
func (s *faultStack) family(i int) *faultClient {
	s.t.Helper()
	c := newFaultClient(s.communeURL())
	if err := c.login(s.fc.families[i]); err != nil {
		s.t.Fatal(err)
	}
	return c
}

// staff returns a client logged in as the commune's administrator.
func (s *faultStack) staff() *faultClient {
	s.t.Helper()
	c := newFaultClient(s.communeURL())
	st, body, err := c.submit("/gestion/connexion", "/gestion/connexion", url.Values{"email": {s.fc.admin}, "password": {demoAdminPassword}})
	if err != nil || st != http.StatusSeeOther {
		s.t.Fatalf("staff login: %d %v\n%s", st, err, faultExcerpt(body))
	}
	code, err := totp.GenerateCode(demoTOTPSecret, time.Now())
	if err != nil {
		s.t.Fatal(err)
	}
	if st, body, err = c.submit("/gestion/connexion/code", "/gestion/connexion/code", url.Values{"code": {code}}); err != nil || st != http.StatusSeeOther {
		s.t.Fatalf("staff code: %d %v\n%s", st, err, faultExcerpt(body))
	}
	return c
}

// api returns a client of the commune's API key.
func (s *faultStack) api() *faultClient {
	c := newFaultClient(s.communeURL())
	c.bearer = s.fc.apiKey
	return c
}

// invoiceStatus reads an invoice's status from the database.
func (s *faultStack) invoiceStatus(id int64) billing.InvoiceStatus {
	s.t.Helper()
	var inv billing.Invoice
	err := tenant.WithTx(context.Background(), s.db, s.fc.tn.ID, func(tx *sqlx.Tx) (err error) {
		inv, err = billing.InvoiceByID(context.Background(), tx, s.fc.tn.ID, id)
		return err
	})
	if err != nil {
		s.t.Fatal(err)
	}
	return inv.Status
}

// startPayment posts "Accès à l'écran de paiement" for an invoice and
// returns DGFiP's operation id.
func (s *faultStack) startPayment(c *faultClient, invoiceID int64) string {
	s.t.Helper()
	page := fmt.Sprintf("/factures/%d/tipi", invoiceID)
	st, body, err := c.do(http.MethodGet, page, nil)
	if err != nil || st != http.StatusOK {
		s.t.Fatalf("GET %s: %d %v\n%s", page, st, err, faultExcerpt(body))
	}
	m := csrfRe.FindStringSubmatch(body)
	if m == nil {
		s.t.Fatalf("no form on %s", page)
	}
	req, _ := http.NewRequest(http.MethodPost, c.base+fmt.Sprintf("/factures/%d/paiement", invoiceID),
		strings.NewReader(url.Values{"csrf_token": {m[1]}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", c.ip)
	res, err := c.c.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	res.Body.Close()
	loc, _ := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusSeeOther || loc == nil || loc.Query().Get("idop") == "" {
		s.t.Fatalf("start payment of invoice %d: %d to %q", invoiceID, res.StatusCode, res.Header.Get("Location"))
	}
	return loc.Query().Get("idop")
}

// faultStandardProbes are the requests of the light load: families'
// invoice lists, the staff dashboard, the API's invoice list, and the
// login page.
func faultStandardProbes(s *faultStack, families int) []faultProbe {
	var probes []faultProbe
	for i := range families {
		probes = append(probes, faultProbe{name: fmt.Sprintf("famille %d", i), client: s.family(i),
			send: func(c *faultClient) (int, string, error) { return c.do(http.MethodGet, "/factures", nil) },
			ok: func(st int, body string) bool {
				return st == http.StatusOK && strings.Contains(body, "Mes factures") && strings.Contains(body, "37,50")
			}})
	}
	probes = append(probes,
		faultProbe{name: "gestion", client: s.staff(),
			send: func(c *faultClient) (int, string, error) { return c.do(http.MethodGet, "/gestion/factures", nil) },
			ok:   func(st int, body string) bool { return st == http.StatusOK && strings.Contains(body, "2025-RS-00-") }},
		faultProbe{name: "api", client: s.api(),
			send: func(c *faultClient) (int, string, error) { return c.do(http.MethodGet, "/api/v1/factures", nil) },
			ok:   func(st int, body string) bool { return st == http.StatusOK && strings.Contains(body, "2025-RS-00-") },
			unavailable: func(st int, body string) bool {
				var p struct {
					Code, Detail string
				}
				return st == http.StatusServiceUnavailable && json.Unmarshal([]byte(body), &p) == nil &&
					p.Code == "indisponible" && strings.Contains(p.Detail, "ne peut pas répondre")
			}},
		faultProbe{name: "accueil", client: newFaultClient(s.communeURL()),
			send: func(c *faultClient) (int, string, error) { return c.do(http.MethodGet, "/", nil) },
			ok: func(st int, body string) bool {
				return st == http.StatusOK && strings.Contains(body, "Le portail des factures")
			}},
	)
	return probes
}

// TestFault_RedisOutage stops Redis under a light load of families, staff
// and the API: while it is down, pages that need a session or a rate limit
// answer the French "Service momentanément indisponible" (the API its
// "indisponible" problem), nothing else fails, and DGFiP's callbacks still
// record a payment; within seconds of Redis's return everything answers
// again, with the same sessions. make test stops Redis for 4 seconds,
// make soak for 30.
func TestFault_RedisOutage(t *testing.T) {
	t.Parallel()
	outage := 4 * time.Second
	if faultSoak() {
		outage = 30 * time.Second
	}
	s := newFaultStack(t, "panne-redis", 4)
	payer := s.family(3)
	idOp := s.startPayment(payer, s.fc.families[3].invoices[0])
	// the form token of the payer's account page, taken before the outage
	_, account, _ := payer.do(http.MethodGet, "/compte", nil)
	token := csrfRe.FindStringSubmatch(account)
	if token == nil {
		t.Fatalf("no form on the account page:\n%s", faultExcerpt(account))
	}
	load := startFaultLoad(t, "before", faultStandardProbes(s, 3)...)
	load.waitRequests(5, 60*time.Second)

	load.setPhase("outage")
	s.redis.stop(syscall.SIGTERM)
	down := time.Now()
	// While Redis is down, DGFiP takes the payment and notifies, and the
	// payer's browser comes back: both are recorded in PostgreSQL.
	if err := s.sim.Complete(idOp, "P"); err != nil {
		t.Fatal(err)
	}
	st, body, err := payer.do(http.MethodGet, "/paiement/retour?idop="+url.QueryEscape(idOp), nil)
	if err != nil || st != http.StatusOK || !strings.Contains(body, "Paiement accepté") && !strings.Contains(body, "payée") {
		t.Errorf("return from DGFiP while Redis is down: %d %v\n%s", st, err, faultExcerpt(body))
	}
	// a family's write during the outage is refused clearly, not half done
	st, body, err = payer.do(http.MethodPost, "/compte/notifications", url.Values{"csrf_token": {token[1]}, "invoices": {"on"}})
	if err != nil || !faultUnavailablePage(st, body) {
		t.Errorf("a family's form while Redis is down: %d %v\n%s", st, err, faultExcerpt(body))
	}
	faultEventually(t, 30*time.Second, "the payment recorded while Redis is down", func() (bool, string) {
		got := s.invoiceStatus(s.fc.families[3].invoices[0])
		return got == billing.Paid, string(got)
	})
	for time.Since(down) < outage {
		time.Sleep(100 * time.Millisecond) // the outage lasts as long as the scenario says
	}
	load.waitRequests(3, 60*time.Second)

	s.redis.start()
	load.markRestored("recovery")
	worst := load.waitRecovered(30 * time.Second)
	load.setPhase("after")
	load.waitRequests(5, 60*time.Second)
	load.finish()

	load.expect("before", true)
	load.expect("outage", false)
	load.expect("after", true)
	// pages that need Redis said so, clearly
	for _, name := range []string{"famille 0", "gestion", "api"} {
		load.mu.Lock()
		tl := load.tallies["outage"][name]
		load.mu.Unlock()
		if tl == nil || tl.unavailable == 0 {
			t.Errorf("outage: %s never answered unavailable: %+v", name, tl)
		}
	}
	if worst > 10*time.Second {
		t.Errorf("the last probe answered normally %s after Redis returned, want within seconds", worst)
	}
	// the session of the payer survived the outage
	if st, body, err := payer.do(http.MethodGet, "/factures", nil); err != nil || st != http.StatusOK || !strings.Contains(body, "Payée") {
		t.Errorf("the payer's invoices after the outage: %d %v\n%s", st, err, faultExcerpt(body))
	}
	for _, ph := range []string{"before", "outage", "recovery", "after"} {
		tl := load.tally(ph)
		t.Logf("Redis %s: %d requests, %d ok, %d unavailable, %d failed (%s)", ph, tl.requests, tl.ok, tl.unavailable, tl.failed, load.report(ph))
	}
	t.Logf("Redis down %s; every probe answered normally within %s of its return; lost: 0 (payment recorded during the outage)",
		outage, worst.Round(time.Millisecond))
}
