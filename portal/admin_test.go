package portal

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/pquerna/otp/totp"

	"github.com/regie/regie/migrations/dbtest"
	"github.com/regie/regie/portal/operator"
	"github.com/regie/regie/portal/staff"
	"github.com/regie/regie/tenant"
	"github.com/regie/regie/tenant/tenanttest"
)

// adminBrowser is a browser on admin.localhost.
func (e *env) adminBrowser(t *testing.T) *browser {
	b := e.browser(t, tenant.Tenant{Slug: "admin"})
	jar, _ := cookiejar.New(nil)
	b.jar, b.c.Jar = jar, jar
	return b
}

// newOperator creates an active operator with a TOTP secret.
func newOperator(t *testing.T, e *env) member {
	t.Helper()
	ctx := context.Background()
	m := member{Email: uniqueAddr(t, "ops"), Password: "operateur-mot-de-passe"}
	o, _, err := operator.Create(ctx, dbtest.DB(t), m.Email, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	m.ID = o.ID
	hash, _ := e.srv.hasher.Hash(ctx, m.Password)
	if err := operator.Activate(ctx, dbtest.DB(t), o.ID, hash, time.Now()); err != nil {
		t.Fatal(err)
	}
	key, _ := totp.Generate(totp.GenerateOpts{Issuer: "test", AccountName: m.Email})
	m.Secret = key.Secret()
	sealed, _ := e.srv.sealer.Seal(m.Secret)
	if _, err := operator.EnableTOTP(ctx, dbtest.DB(t), o.ID, sealed); err != nil {
		t.Fatal(err)
	}
	return m
}

func operatorLogin(t *testing.T, e *env, m member) *browser {
	t.Helper()
	b := e.adminBrowser(t)
	b.get("/connexion")
	res, body := b.post("/connexion", url.Values{"email": {m.Email}, "password": {m.Password}})
	expect(t, res, body, http.StatusSeeOther, "")
	code, _ := totp.GenerateCode(m.Secret, time.Now())
	res, body = b.post("/connexion/code", url.Values{"code": {code}})
	expect(t, res, body, http.StatusSeeOther, "/")
	return b
}

func operatorAudited(t *testing.T, action string, commune tenant.ID) {
	t.Helper()
	var n, local int
	dbtest.DB(t).Get(&n, `SELECT count(*) FROM operator_audit WHERE action = $1 AND commune_id = $2`, action, commune)
	dbtest.DB(t).Get(&local, `SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action = $2 AND actor_kind = 'operator'`, commune, "operator."+action)
	if n != 1 || local != 1 {
		t.Fatalf("%s: %d operator entries and %d commune entries, want one each", action, n, local)
	}
}

func TestOperatorConsole(t *testing.T) {
	e := sharedEnv(t)
	ops := newOperator(t, e)
	b := operatorLogin(t, e, ops)

	t.Run("CommunesList", func(t *testing.T) {
		tenanttestTest := tenanttest.MustCreate(t, dbtest.DB(t), "cons-test", func(t *tenant.Tenant) { t.Name = "Mairie de Testville" })
		res, body := b.get("/?q=testville")
		expect(t, res, body, http.StatusOK, "")
		if !strings.Contains(body, "Mairie de Testville") || !strings.Contains(body, "mode test") {
			t.Fatalf("list:\n%s", body)
		}
		_ = tenanttestTest
	})

	var created tenant.Tenant
	admin := uniqueAddr(t, "firstadmin")
	t.Run("CreateCommune", func(t *testing.T) {
		slug := "nouvelle-" + strings.ToLower(regexp.MustCompile(`[^a-z0-9]`).ReplaceAllString(strings.ToLower(t.Name()), ""))[:10]
		res, body := b.post("/communes", url.Values{"slug": {"admin"}, "name": {"X"}, "numcli": {"1"}, "protocol": {"payfip"}, "mode": {"test"}, "admin_email": {admin}})
		expect(t, res, body, http.StatusUnprocessableEntity, "")
		if !strings.Contains(body, "réservé") {
			t.Fatalf("reserved slug not explained:\n%s", body)
		}
		res, body = b.post("/communes", url.Values{"slug": {slug}, "name": {"Mairie de Nouvelle"}, "numcli": {"004321"},
			"protocol": {"payfip"}, "mode": {"test"}, "admin_email": {admin}})
		expect(t, res, body, http.StatusSeeOther, "")
		var err error
		if created, err = tenant.NewStore(dbtest.DB(t)).BySlug(context.Background(), slug); err != nil {
			t.Fatal(err)
		}
		operatorAudited(t, "commune.create", created.ID)
		link := ""
		deadline := time.Now().Add(10 * time.Second)
		for link == "" && time.Now().Before(deadline) {
			for _, m := range e.box.To(admin) {
				link = regexp.MustCompile(`http://\S+/gestion/invitation/[A-Za-z0-9_-]+`).FindString(m.Text)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if link == "" {
			t.Fatal("the first administrator got no invitation")
		}
		staffB := e.browser(t, created)
		res, body = staffB.post(link, url.Values{"password": {"admin-mot-de-passe"}, "password_confirm": {"admin-mot-de-passe"}})
		expect(t, res, body, http.StatusSeeOther, "/gestion/connexion")
	})
	t.Run("SuspendResume", func(t *testing.T) {
		family := e.browser(t, created)
		res, body := b.post("/communes/"+itoa(int64(created.ID))+"/suspendre", url.Values{})
		expect(t, res, body, http.StatusSeeOther, "")
		operatorAudited(t, "commune.suspended", created.ID)
		res, body = family.get("/")
		expect(t, res, body, http.StatusServiceUnavailable, "")
		b.post("/communes/"+itoa(int64(created.ID))+"/reprendre", url.Values{})
		operatorAudited(t, "commune.active", created.ID)
		res, body = family.get("/")
		expect(t, res, body, http.StatusOK, "")
	})
	t.Run("Domain", func(t *testing.T) {
		res, body := b.post("/communes/"+itoa(int64(created.ID))+"/domaines", url.Values{"domain": {"x.localhost"}})
		expect(t, res, body, http.StatusUnprocessableEntity, "")
		dom := "portail." + created.Slug + ".example"
		res, body = b.post("/communes/"+itoa(int64(created.ID))+"/domaines", url.Values{"domain": {dom}})
		expect(t, res, body, http.StatusSeeOther, "")
		operatorAudited(t, "commune.domain_add", created.ID)
		c := &http.Client{Transport: b.c.Transport}
		req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:"+e.port+"/", nil)
		req.Host = dom
		res2, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res2.Body.Close()
		if res2.StatusCode != http.StatusOK {
			t.Fatalf("the custom domain answers %d", res2.StatusCode)
		}
	})
	t.Run("ResetAdminTOTP", func(t *testing.T) {
		m := newMember(t, e, created, staff.Admin, false)
		res, body := b.post("/communes/"+itoa(int64(created.ID))+"/administrateurs/"+itoa(m.ID)+"/totp", url.Values{})
		expect(t, res, body, http.StatusSeeOther, "")
		operatorAudited(t, "staff.totp_reset", created.ID)
		sb := e.browser(t, created)
		res, body = sb.post("/gestion/connexion", url.Values{"email": {m.Email}, "password": {m.Password}})
		expect(t, res, body, http.StatusSeeOther, "/gestion/totp")
		// another commune's administrator is not reachable through this one
		other := tenanttest.MustCreate(t, dbtest.DB(t), "cons-other")
		om := newMember(t, e, other, staff.Admin, false)
		res, body = b.post("/communes/"+itoa(int64(created.ID))+"/administrateurs/"+itoa(om.ID)+"/totp", url.Values{})
		expect(t, res, body, http.StatusNotFound, "")
	})
	t.Run("Jobs", func(t *testing.T) {
		res, body := b.get("/jobs")
		expect(t, res, body, http.StatusOK, "")
		// a discarded job of the commune: shown, then retried
		var id int64
		err := dbtest.DB(t).Get(&id, `INSERT INTO river_job (kind, args, state, max_attempts, attempt, finalized_at, errors, queue, priority)
			VALUES ('test.never', json_build_object('tenant_id', $1::bigint)::jsonb, 'discarded', 1, 1, now(),
			ARRAY[json_build_object('at', now(), 'attempt', 1, 'error', 'SMTP injoignable', 'trace', '')::jsonb], 'held', 1) RETURNING id`, created.ID)
		if err != nil {
			t.Fatal(err)
		}
		_, body = b.get("/jobs")
		if !strings.Contains(body, "SMTP injoignable") || !strings.Contains(body, created.Slug) {
			t.Fatalf("job queue:\n%s", body)
		}
		res, body = b.post("/jobs/"+itoa(id)+"/abandonner", url.Values{})
		expect(t, res, body, http.StatusSeeOther, "/jobs")
		operatorAudited(t, "job.discard", created.ID)
	})
	t.Run("Trail", func(t *testing.T) {
		res, body := b.get("/journal")
		expect(t, res, body, http.StatusOK, "")
		if !strings.Contains(body, "commune.create") || !strings.Contains(body, ops.Email) {
			t.Fatalf("trail:\n%s", body)
		}
	})
}

// TestOperatorConsole_OnlyOperators: nobody but operators reaches the
// console, on any host.
func TestOperatorConsole_OnlyOperators(t *testing.T) {
	e := sharedEnv(t)
	tn := communeWithFamily(t, "onlyops", "Famille O", uniqueAddr(t, "o"))
	adminM := newMember(t, e, tn, staff.Admin, false)
	staffB := staffLogin(t, e, tn, adminM)
	addr := uniqueAddr(t, "fam")
	addFamily(t, tn, "F-ops", "Famille Ops", addr)
	famB := activate(t, e, tn, addr, "mot-de-passe-1")
	login(t, famB, addr, "mot-de-passe-1", false)

	paths := []string{"/", "/communes/nouvelle", "/communes/" + itoa(int64(tn.ID)), "/jobs", "/journal"}
	// a stranger, a staff administrator's cookies, a family's cookies, all
	// on the admin host
	for name, b := range map[string]*browser{"anonymous": e.adminBrowser(t), "staff": staffB, "family": famB} {
		ab := e.adminBrowser(t)
		if b != nil {
			u, _ := url.Parse("http://" + b.host + "/")
			ab.jar.SetCookies(&url.URL{Scheme: "http", Host: ab.host}, b.jar.Cookies(u))
			ab.jar.SetCookies(&url.URL{Scheme: "http", Host: ab.host, Path: "/gestion/"}, b.jar.Cookies(&url.URL{Scheme: "http", Host: b.host, Path: "/gestion/"}))
		}
		for _, p := range paths {
			res, body := ab.get(p)
			if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/connexion") {
				t.Errorf("%s on %s: %d %s", name, p, res.StatusCode, res.Header.Get("Location"))
			}
			_ = body
		}
		res, body := ab.post("/communes/"+itoa(int64(tn.ID))+"/suspendre", url.Values{})
		if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/connexion") {
			t.Errorf("%s suspending: %d", name, res.StatusCode)
		}
		_ = body
	}
	// the console's routes do not exist on a commune's host
	for _, p := range []string{"/communes/nouvelle", "/jobs", "/journal"} {
		res, body := staffB.get(p)
		expect(t, res, body, http.StatusNotFound, "")
	}
	// an operator without TOTP set up must set it up first
	ctx := context.Background()
	email := uniqueAddr(t, "newops")
	o, _, err := operator.Create(ctx, dbtest.DB(t), email, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	hash, _ := e.srv.hasher.Hash(ctx, "operateur-mot-de-passe")
	operator.Activate(ctx, dbtest.DB(t), o.ID, hash, time.Now())
	nb := e.adminBrowser(t)
	nb.get("/connexion")
	res, body := nb.post("/connexion", url.Values{"email": {email}, "password": {"operateur-mot-de-passe"}})
	expect(t, res, body, http.StatusSeeOther, "/totp")
	res, body = nb.get("/")
	expect(t, res, body, http.StatusSeeOther, "/totp")
	var st tenant.Tenant
	err = tenant.WithTx(ctx, dbtest.DB(t), tn.ID, func(tx *sqlx.Tx) error { return nil })
	_ = st
	if err != nil {
		t.Fatal(err)
	}
}
