package portal

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/migrations/dbtest"
	"github.com/regie/regie/payments"
	"github.com/regie/regie/portal/account"
	"github.com/regie/regie/portal/staff"
	"github.com/regie/regie/tenant"
	"github.com/regie/regie/tenant/tenanttest"
)

// isoCommune is one commune of the isolation matrix with everything a
// route can name: its ids, a family logged in, an administrator logged
// in, an API key, and the words (names, references, amounts) that must
// never show on the other commune's host.
type isoCommune struct {
	t        tenant.Tenant
	family   *browser // logged in as the family
	admin    *browser // logged in as an administrator
	key      string
	ids      map[string]string // route parameter kind → an id of this commune
	secrets  []string
	invoice  int64
	keyID    int64
	staffIDs int
}

func newIsoCommune(t *testing.T, e *env, letter, pattern, amount string) *isoCommune {
	t.Helper()
	ctx := context.Background()
	db := dbtest.DB(t)
	c := &isoCommune{t: tenanttest.MustCreate(t, db, "iso-"+strings.ToLower(letter)), ids: map[string]string{}}
	family := "Famille Zorglub-" + letter
	ref := "ISO-FAM-" + letter
	addr := uniqueAddr(t, "iso"+strings.ToLower(letter))
	err := tenant.WithTx(ctx, db, c.t.ID, func(tx *sqlx.Tx) error {
		s, err := billing.CreateSeries(ctx, tx, c.t.ID, billing.Series{Code: "RS", Label: "Restauration " + letter, Pattern: pattern, NextNumber: 1})
		c.ids["series"] = itoa(s.ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	csv := "famille;nom;email;adresse;code_postal;ville;serie;periode;libelle;quantite;prix_unitaire;echeance\n" +
		fmt.Sprintf("%s;%s;%s;1 rue %s;84000;Ville%s;RS;2026-10;Repas %s;1;%s;15/11/2026\n", ref, family, addr, letter, letter, letter, amount) +
		fmt.Sprintf("%s;%s;%s;1 rue %s;84000;Ville%s;RS;2026-11;Repas %s;1;%s;15/12/2026\n", ref, family, addr, letter, letter, letter, amount)
	err = tenant.WithTx(ctx, db, c.t.ID, func(tx *sqlx.Tx) error {
		src, _, err := billing.NewCSVSource(strings.NewReader(csv), []string{"RS"})
		if err != nil {
			return err
		}
		res, err := billing.Import(ctx, tx, c.t.ID, src, billing.ImportOptions{Filename: "iso.csv"})
		if err != nil {
			return fmt.Errorf("%w %v", err, res.Errors)
		}
		c.ids["batch"] = itoa(res.BatchID)
		if _, err := billing.Publish(ctx, tx, e.jobs, c.t.ID, res.BatchID, time.Now()); err != nil {
			return err
		}
		var invs []billing.Invoice
		if err := tx.SelectContext(ctx, &invs, `SELECT id, family_id, reference FROM invoices WHERE tenant_id = $1 ORDER BY id`, c.t.ID); err != nil {
			return err
		}
		c.invoice = invs[0].ID
		c.ids["invoice"] = itoa(invs[0].ID)
		c.ids["family"] = itoa(invs[0].FamilyID)
		c.ids["family_ref"] = ref
		c.secrets = append(c.secrets, family, *invs[0].Reference, *invs[1].Reference, strings.ReplaceAll(amount, ".", ","))
		// one paid, so that payments and receipts exist
		_, err = payments.RecordCounterPayment(ctx, tx, c.t.ID, invs[1].ID, mustCents(t, amount), "cash", time.Now(), "note "+letter)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	c.family = activate(t, e, c.t, addr, "mot-de-passe-"+letter)
	login(t, c.family, addr, "mot-de-passe-"+letter, false)
	err = tenant.WithTx(ctx, db, c.t.ID, func(tx *sqlx.Tx) error {
		a, err := account.ByEmail(ctx, tx, c.t.ID, addr)
		c.ids["account"] = itoa(a.ID)
		if err != nil {
			return err
		}
		// live tokens of this commune, which the other must not honour
		if c.ids["activation_token"], err = account.NewToken(ctx, tx, c.t.ID, account.PurposeActivation, addr, time.Now()); err != nil {
			return err
		}
		if c.ids["reset_token"], err = account.NewToken(ctx, tx, c.t.ID, account.PurposeReset, addr, time.Now()); err != nil {
			return err
		}
		_, inv, err := staff.Invite(ctx, tx, c.t.ID, uniqueAddr(t, "invite"+strings.ToLower(letter)), "Invité "+letter, staff.Agent, time.Now())
		c.ids["invitation_token"] = inv
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	m := newMember(t, e, c.t, staff.Admin, true)
	c.ids["staff"] = itoa(m.ID)
	c.admin = staffLogin(t, e, c.t, m)
	k, key := newAPIKey(t, c.t, "logiciel "+letter)
	c.key, c.keyID, c.ids["apikey"] = key, k.ID, itoa(k.ID)
	// an upload of the commune (the import page's id)
	up := importUploadOK(t, c.admin, importCSVPart(fmt.Sprintf("%s;%s;;;;;RS;2026-12;Repas %s;1;%s;15/01/2027", ref, family, letter, amount)))
	c.ids["upload"] = itoa(up)
	c.staffIDs = importCount(t, c.t, `SELECT count(*) FROM staff WHERE tenant_id = $1`)
	return c
}

func mustCents(t *testing.T, amount string) int64 {
	t.Helper()
	var euros, cents int64
	if _, err := fmt.Sscanf(amount, "%d,%d", &euros, &cents); err != nil {
		t.Fatalf("amount %q: %v", amount, err)
	}
	return euros*100 + cents
}

// isoParam says, for each route parameter, which kind of id it names.
// A route with a parameter missing here fails the test: a new route must
// be covered.
func isoParam(path, param string) (string, bool) {
	switch {
	case param == "token" && strings.HasPrefix(path, "/activation/"):
		return "activation_token", true
	case param == "token" && strings.HasPrefix(path, "/mot-de-passe/"):
		return "reset_token", true
	case param == "token" && strings.HasPrefix(path, "/gestion/invitation/"):
		return "invitation_token", true
	case param == "account":
		return "account", true
	case param == "famille":
		return "family_ref", true
	case param == "staff":
		return "staff", true
	case param != "id":
		return "", false
	case strings.HasPrefix(path, "/factures/"), strings.HasPrefix(path, "/gestion/factures/"):
		return "invoice", true
	case strings.HasPrefix(path, "/gestion/familles/"):
		return "family", true
	case strings.HasPrefix(path, "/gestion/lots/"), strings.HasPrefix(path, "/api/v1/lots/"):
		return "batch", true
	case strings.HasPrefix(path, "/gestion/import/"):
		return "upload", true
	case strings.HasPrefix(path, "/gestion/equipe/"):
		return "staff", true
	case strings.HasPrefix(path, "/gestion/api/"):
		return "apikey", true
	case strings.HasPrefix(path, "/gestion/parametres/series/"):
		return "series", true
	}
	return "", false
}

// isoPublic are the commune routes anyone may open: they answer their
// page whatever the session.
var isoPublic = map[string]bool{
	"GET /": true, "GET /activation": true, "GET /mot-de-passe-oublie": true, "GET /mentions-legales": true,
	"GET /donnees-personnelles": true, "GET /accessibilite": true, "GET /theme.css": true, "GET /logo": true,
	"GET /gestion/connexion": true, "GET /api/v1/openapi.json": true, "GET /healthz": true, "HEAD /healthz": true,
	"GET /readyz": true, "GET /static/*path": true, "GET /gestion": true,
	// forms that work logged out (they refuse bad input on their own)
	"POST /connexion": true, "POST /deconnexion": true, "POST /activation": true, "POST /mot-de-passe-oublie": true,
	"POST /gestion/connexion": true, "POST /gestion/deconnexion": true,
	// the second step of a staff login and TOTP enrolment need the first
	"GET /gestion/connexion/code": true, "POST /gestion/connexion/code": true, "GET /gestion/totp": true, "POST /gestion/totp": true,
	// the payer's return from DGFiP: the operation says whose it is
	"GET /paiement/retour": true,
	"GET /metrics":         true,
}

var paramRe = regexp.MustCompile(`:([a-z_]+)`)

// TestIsolationMatrix walks every route of the commune's host and, for
// each, tries commune B's ids with A's sessions on A's host, B's sessions
// and API key on A's host, and A's sessions sent with B's Host: only
// refusals come back, and nothing of the other commune shows.
func TestIsolationMatrix(t *testing.T) {
	e := sharedEnv(t)
	a := newIsoCommune(t, e, "A", "{exer}-AAA-{numero:6}", "123,45")
	b := newIsoCommune(t, e, "B", "{exer}-BBB-{numero:6}", "987,65")

	routes := e.srv.commune.(*gin.Engine).Routes()
	covered := 0
	for _, r := range routes {
		action := r.Method + " " + r.Path
		if isoPublic[action] {
			continue
		}
		if strings.Contains(r.Path, "*") {
			t.Errorf("route %s: wildcard not covered by the isolation matrix", action)
			continue
		}
		params := paramRe.FindAllStringSubmatch(r.Path, -1)
		fill := func(c *isoCommune) string {
			path := r.Path
			for _, m := range params {
				kind, ok := isoParam(r.Path, m[1])
				if !ok {
					return ""
				}
				path = strings.Replace(path, ":"+m[1], url.PathEscape(c.ids[kind]), 1)
			}
			return path
		}
		if fill(a) == "" {
			t.Errorf("route %s: a parameter is not covered by the isolation matrix", action)
			continue
		}
		covered++
		api := strings.HasPrefix(r.Path, "/api/")
		staffRoute := strings.HasPrefix(r.Path, "/gestion")
		token := strings.Contains(r.Path, ":token")
		// An upsert by the commune's own family id names no object of B:
		// A's key creates A's family of that id.
		upsert := action == "PUT /api/v1/familles/:famille"

		// 1. A's own session (or key), B's ids, on A's host: 404.
		if len(params) > 0 && !upsert {
			via := a.family
			switch {
			case token:
				via = e.browser(t, a.t)
			case staffRoute:
				via = a.admin
			case api:
				via = e.browser(t, a.t)
			}
			path := fill(b)
			res, body := isoRequest(t, via, r.Method, path, a.key)
			isoCheck(t, "A's session, B's ids: "+r.Method+" "+path, res, body, true, a.t, b.secrets)
		}
		// 2. B's sessions and key on A's host, A's ids: refused, and
		// nothing of A... nor of B shows.
		// 3. A's sessions and key with B's Host: refused, nothing of A.
		// (A link's token is its own credential, whatever the session: a
		// session of B brings nothing to A's own link, so 2 is moot there.)
		for _, at := range []struct {
			name     string
			from, to *isoCommune
			key      string
			ids      *isoCommune
		}{
			{"B's session and key on A", b, a, b.key, a},
			{"A's session and key with the Host of B", a, b, a.key, a},
		} {
			if token && at.from == b {
				continue
			}
			for _, who := range []string{"family", "staff"} {
				via := transplant(pick(who, at.from), at.to.t)
				path := fill(at.ids)
				res, body := isoRequest(t, via, r.Method, path, at.key)
				isoCheck(t, fmt.Sprintf("%s (%s): %s %s", at.name, who, r.Method, path), res, body, false, at.to.t, at.from.secrets)
			}
		}
	}
	if covered < 50 {
		t.Fatalf("only %d routes walked", covered)
	}
	t.Logf("%d routes of the commune's host walked (the public ones apart)", covered)

	// The callbacks of paiement.<base> and the console of admin.<base> are
	// not the commune's: on a commune's host they do not exist.
	for _, path := range []string{"/notification", "/tipi", "/communes", "/jobs"} {
		res, body := a.admin.get(path)
		isoCheck(t, "platform route "+path+" on a commune's host", res, body, true, a.t, b.secrets)
	}

	// The operators' console: a commune's sessions, sent to admin.<base>,
	// open nothing there.
	for _, r := range e.srv.admin.(*gin.Engine).Routes() {
		if strings.HasPrefix(r.Path, "/connexion") || strings.HasPrefix(r.Path, "/totp") || strings.HasPrefix(r.Path, "/activation/") ||
			r.Path == "/deconnexion" || r.Path == "/healthz" || r.Path == "/readyz" || r.Path == "/metrics" || strings.HasPrefix(r.Path, "/static/") {
			continue
		}
		path := strings.NewReplacer(":id", a.ids["invoice"], ":staff", a.ids["staff"]).Replace(r.Path)
		if strings.Contains(path, ":") {
			t.Errorf("console route %s %s: a parameter is not covered by the isolation matrix", r.Method, r.Path)
			continue
		}
		for _, from := range []*browser{a.family, a.admin} {
			ab := e.adminBrowser(t)
			ab.get("/connexion")
			for _, name := range []string{familyCookie, "regie_staff"} {
				if v := from.cookie(name); v != "" {
					ab.setCookie(name, v)
				}
			}
			res, body := isoRequest(t, ab, r.Method, path, a.key)
			if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/connexion") {
				t.Errorf("a commune's session on the console: %s %s: %d %s", r.Method, path, res.StatusCode, loc)
			}
			for _, s := range append(a.secrets, b.secrets...) {
				if strings.Contains(body, s) {
					t.Errorf("console %s %s shows %q to a commune's session", r.Method, path, s)
				}
			}
		}
	}

	// and B is as it was
	var st string
	if err := dbtest.DB(t).Get(&st, `SELECT status FROM invoices WHERE tenant_id = $1 AND id = $2`, b.t.ID, b.invoice); err != nil || st != "published" {
		t.Errorf("B's invoice is %q (%v) after the walk, want published", st, err)
	}
	var revoked bool
	if err := dbtest.DB(t).Get(&revoked, `SELECT revoked_at IS NOT NULL FROM api_keys WHERE tenant_id = $1 AND id = $2`, b.t.ID, b.keyID); err != nil || revoked {
		t.Errorf("B's API key revoked after the walk (%v)", err)
	}
	if n := importCount(t, b.t, `SELECT count(*) FROM staff WHERE tenant_id = $1`); n != b.staffIDs {
		t.Errorf("B has %d staff after the walk, had %d", n, b.staffIDs)
	}
	if n := importCount(t, b.t, `SELECT count(*) FROM payments WHERE tenant_id = $1`); n != 1 {
		t.Errorf("B has %d payments after the walk, want 1", n)
	}
}

func pick(who string, c *isoCommune) *browser {
	if who == "family" {
		return c.family
	}
	return c.admin
}

// transplant returns a browser sending the session cookies of from to the
// host of to (as a forged or replayed cookie would), with its own CSRF
// token there.
func transplant(from *browser, to tenant.Tenant) *browser {
	b := from.e.browser(from.t, to)
	b.get("/")
	for _, name := range []string{familyCookie, "regie_staff"} {
		if v := from.cookie(name); v != "" {
			b.setCookie(name, v)
		}
	}
	return b
}

// isoRequest sends a request with the browser's cookies, a valid CSRF
// token for the host, and an API key.
func isoRequest(t *testing.T, b *browser, method, path, key string) (*http.Response, string) {
	t.Helper()
	var req *http.Request
	switch method {
	case http.MethodGet, http.MethodHead:
		req, _ = http.NewRequest(method, b.url(path), nil)
	default:
		if b.cookie(csrfCookie) == "" {
			b.get("/")
		}
		form := url.Values{"csrf_token": {b.e.srv.csrfToken(b.cookie(csrfCookie))}}
		body := form.Encode()
		ct := "application/x-www-form-urlencoded"
		if strings.HasPrefix(path, "/api/") {
			body, ct = `{"nom": "Intrus", "emails": [], "adresse": "", "code_postal": "", "ville": "", "lignes": []}`, "application/json"
		}
		req, _ = http.NewRequest(method, b.url(path), strings.NewReader(body))
		req.Header.Set("Content-Type", ct)
	}
	if strings.HasPrefix(path, "/api/") {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	return b.do(req)
}

// isoCheck accepts only refusals: 404 when want404 (another commune's id
// with a valid session, a platform route); otherwise 404, 403, 401, a 303
// to the login page of the same host, or 503; and no word of the foreign
// commune in the body.
func isoCheck(t *testing.T, what string, res *http.Response, body string, want404 bool, host tenant.Tenant, foreign []string) {
	t.Helper()
	for _, s := range foreign {
		if strings.Contains(body, s) {
			t.Errorf("%s: the answer shows %q of the other commune", what, s)
		}
	}
	st := res.StatusCode
	if want404 {
		if st != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", what, st)
		}
		return
	}
	switch st {
	case http.StatusNotFound, http.StatusForbidden, http.StatusUnauthorized, http.StatusServiceUnavailable:
		return
	case http.StatusSeeOther:
		loc, err := url.Parse(res.Header.Get("Location"))
		if err == nil && (loc.Host == "" || strings.HasPrefix(loc.Host, host.Slug+".")) &&
			(loc.Path == "/" || loc.Path == "/gestion/connexion") {
			return
		}
		t.Errorf("%s: 303 to %s, want the login page of %s", what, res.Header.Get("Location"), host.Slug)
	default:
		t.Errorf("%s: %d, want a refusal", what, st)
	}
}
