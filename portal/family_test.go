package portal

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/migrations/dbtest"
	"github.com/regie/regie/portal/session"
	"github.com/regie/regie/tenant"
	"github.com/regie/regie/tenant/tenanttest"
)

// communeWithFamily creates a commune with one family listing addrs.
func communeWithFamily(t *testing.T, prefix, familyName string, addrs ...string) tenant.Tenant {
	t.Helper()
	db := dbtest.DB(t)
	tn := tenanttest.MustCreate(t, db, prefix, func(t *tenant.Tenant) { t.Name = "Mairie de " + strings.ToUpper(prefix[:1]) + prefix[1:] })
	addFamily(t, tn, "F-"+prefix, familyName, addrs...)
	return tn
}

func addFamily(t *testing.T, tn tenant.Tenant, ref, name string, addrs ...string) {
	t.Helper()
	err := tenant.WithTx(context.Background(), dbtest.DB(t), tn.ID, func(tx *sqlx.Tx) error {
		_, err := billing.SaveFamily(context.Background(), tx, tn.ID, billing.Family{Ref: ref, Name: name, Emails: addrs})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// uniqueAddr returns an address no other test uses.
func uniqueAddr(t *testing.T, who string) string {
	return who + "." + strings.ToLower(strings.NewReplacer("/", ".", "_", ".").Replace(t.Name())) + "@example.fr"
}

// activate runs the activation flow to its end and returns the browser on
// the login page.
func activate(t *testing.T, e *env, tn tenant.Tenant, addr, password string) *browser {
	t.Helper()
	b := e.browser(t, tn)
	res, body := b.post("/activation", url.Values{"email": {addr}})
	expect(t, res, body, http.StatusSeeOther, "/activation?envoye=1")
	link := e.mailedLink(t, addr, e.linksTo(addr)+1)
	res, body = b.post(link, url.Values{"password": {password}, "password_confirm": {password}})
	expect(t, res, body, http.StatusSeeOther, "/")
	return b
}

func login(t *testing.T, b *browser, addr, password string, remember bool) {
	t.Helper()
	form := url.Values{"email": {addr}, "password": {password}}
	if remember {
		form.Set("remember", "1")
	}
	res, body := b.post("/connexion", form)
	expect(t, res, body, http.StatusSeeOther, "/factures")
}

func TestFamilyFlow(t *testing.T) {
	e := sharedEnv(t)
	addr := uniqueAddr(t, "martin")
	tn := communeWithFamily(t, "flow", "Famille Martin", addr)
	b := e.browser(t, tn)

	// Le portail des factures → Activer mon compte → Mon adresse → Activation
	res, body := b.get("/activation")
	expect(t, res, body, http.StatusOK, "")
	for _, w := range []string{"Activer mon compte", "Mon adresse", ">Activation<", "spam"} {
		if !strings.Contains(body, w) {
			t.Errorf("activation page lacks %q", w)
		}
	}
	res, body = b.post("/activation", url.Values{"email": {strings.ToUpper(addr)}})
	expect(t, res, body, http.StatusSeeOther, "/activation?envoye=1")
	_, body = b.get("/activation?envoye=1")
	if !strings.Contains(body, "courriers indésirables (spam)") || !strings.Contains(body, "une autre adresse") || !strings.Contains(body, addr) {
		t.Errorf("confirmation lacks the guide's advice:\n%s", body)
	}

	// the mail: French, the commune as sender name, its contact as Reply-To,
	// a link on the commune's host
	link := e.mailedLink(t, addr, 1)
	m := e.box.To(addr)[0]
	if m.FromName != tn.Name || !strings.Contains(m.Subject, "Activez votre compte") || !strings.HasPrefix(link, "http://"+tn.Slug+".localhost:") {
		t.Errorf("mail: from %q subject %q link %s", m.FromName, m.Subject, link)
	}

	// the link asks for the password twice; "Enregistrer"
	res, body = b.get(link)
	expect(t, res, body, http.StatusOK, "")
	for _, w := range []string{"Au moins 8 caractères", `name="password"`, `name="password_confirm"`, "Enregistrer", addr} {
		if !strings.Contains(body, w) {
			t.Errorf("password page lacks %q", w)
		}
	}
	res, body = b.post(link, url.Values{"password": {"soleil-2026"}, "password_confirm": {"soleil-2026"}})
	expect(t, res, body, http.StatusSeeOther, "/")
	res, body = b.get("/")
	if !strings.Contains(body, "Votre compte est activé") || !strings.Contains(body, `value="`+addr+`"`) {
		t.Fatalf("after activation the login page should say so and hold the address:\n%s", body)
	}

	// log in; the session works; log out
	login(t, b, addr, "soleil-2026", false)
	res, body = b.get("/factures")
	expect(t, res, body, http.StatusOK, "")
	if !strings.Contains(body, "Mes factures") || !strings.Contains(body, "Famille Martin") {
		t.Fatalf("factures:\n%s", body)
	}
	res, body = b.get("/compte")
	if !strings.Contains(body, addr) || !strings.Contains(body, "(cette session)") {
		t.Fatalf("compte:\n%s", body)
	}
	res, body = b.post("/deconnexion", url.Values{})
	expect(t, res, body, http.StatusSeeOther, "/")
	res, body = b.get("/factures")
	expect(t, res, body, http.StatusSeeOther, "/?next=%2Ffactures")

	// the link served once
	res, body = b.get(link)
	expect(t, res, body, http.StatusNotFound, "")
	if !strings.Contains(body, "Ce lien n'est plus valable") || !strings.Contains(body, `action="/activation"`) {
		t.Fatalf("used link page should offer a new one:\n%s", body)
	}
}

// TestActivation_SameAnswer: a known and an unknown address get the same
// status, the same page and the same kind of redirect.
func TestActivation_SameAnswer(t *testing.T) {
	e := sharedEnv(t)
	known := uniqueAddr(t, "known")
	unknown := uniqueAddr(t, "nobody")
	tn := communeWithFamily(t, "same", "Famille Connue", known)

	page := func(addr string) (int, string, string) {
		b := e.browser(t, tn)
		res, body := b.post("/activation", url.Values{"email": {addr}})
		loc := res.Header.Get("Location")
		res2, body2 := b.get(loc)
		norm := strings.ReplaceAll(body+body2, addr, "ADDR")
		norm = regexp.MustCompile(`value="[A-Za-z0-9_-]{40,}"`).ReplaceAllString(norm, `value="TOKEN"`)
		return res.StatusCode*1000 + res2.StatusCode, loc, norm
	}
	s1, l1, b1 := page(known)
	s2, l2, b2 := page(unknown)
	if s1 != s2 || l1 != l2 || b1 != b2 {
		t.Fatalf("known and unknown addresses differ: %d %s vs %d %s\n--- known\n%s\n--- unknown\n%s", s1, l1, s2, l2, b1, b2)
	}
	e.mailedLink(t, known, 1)
	e.waitJobs(t, "account.link_request", unknown)
	if n := len(e.box.To(unknown)); n != 0 {
		t.Fatalf("%d mail(s) went to an unknown address", n)
	}
}

func TestActivation_OtherCommune(t *testing.T) {
	e := sharedEnv(t)
	addr := uniqueAddr(t, "a")
	communeWithFamily(t, "cma", "Famille A", addr)
	b := communeWithFamily(t, "cmb", "Famille B", uniqueAddr(t, "b"))
	br := e.browser(t, b)
	res, body := br.post("/activation", url.Values{"email": {addr}})
	expect(t, res, body, http.StatusSeeOther, "/activation?envoye=1")
	e.waitJobs(t, "account.link_request", addr)
	if n := len(e.box.To(addr)); n != 0 {
		t.Fatalf("commune B mailed an activation link to commune A's family (%d mails)", n)
	}
}

// TestAccount_SeesEveryFamilyOfItsAddress: two separated parents each get
// their account; a grandparent sees both families that list her.
func TestAccount_SeesEveryFamilyOfItsAddress(t *testing.T) {
	e := sharedEnv(t)
	mum, dad, granny := uniqueAddr(t, "mum"), uniqueAddr(t, "dad"), uniqueAddr(t, "granny")
	tn := communeWithFamily(t, "multi", "Famille Durand", mum, dad, granny)
	addFamily(t, tn, "F-other", "Famille Roux", granny)

	for _, c := range []struct {
		addr      string
		see, miss []string
	}{
		{mum, []string{"Famille Durand"}, []string{"Famille Roux"}},
		{dad, []string{"Famille Durand"}, []string{"Famille Roux"}},
		{granny, []string{"Famille Durand", "Famille Roux"}, nil},
	} {
		b := activate(t, e, tn, c.addr, "mot-de-passe-1")
		login(t, b, c.addr, "mot-de-passe-1", false)
		_, body := b.get("/factures")
		for _, w := range c.see {
			if !strings.Contains(body, w) {
				t.Errorf("%s does not see %s", c.addr, w)
			}
		}
		for _, w := range c.miss {
			if strings.Contains(body, w) {
				t.Errorf("%s sees %s", c.addr, w)
			}
		}
	}
}

func TestSession_RefusedOnOtherCommune(t *testing.T) {
	e := sharedEnv(t)
	addr := uniqueAddr(t, "x")
	a := communeWithFamily(t, "sessa", "Famille A", addr)
	other := communeWithFamily(t, "sessb", "Famille B", addr) // same address, other commune
	b := activate(t, e, a, addr, "mot-de-passe-1")
	login(t, b, addr, "mot-de-passe-1", false)
	token := b.cookie(familyCookie)

	ob := e.browser(t, other)
	ob.setCookie(familyCookie, token)
	res, body := ob.get("/factures")
	expect(t, res, body, http.StatusSeeOther, "/?next=%2Ffactures")
	res, body = ob.get("/compte")
	expect(t, res, body, http.StatusSeeOther, "/?next=%2Fcompte")
	// and still valid at home
	res, body = b.get("/factures")
	expect(t, res, body, http.StatusOK, "")
}

func TestLogin(t *testing.T) {
	e := sharedEnv(t)
	addr := uniqueAddr(t, "login")
	tn := communeWithFamily(t, "login", "Famille Login", addr)
	b := activate(t, e, tn, addr, "bon-mot-de-passe")

	t.Run("WrongPasswordAndUnknownAddressSameMessage", func(t *testing.T) {
		res1, body1 := b.post("/connexion", url.Values{"email": {addr}, "password": {"mauvais"}})
		res2, body2 := b.post("/connexion", url.Values{"email": {uniqueAddr(t, "ghost")}, "password": {"mauvais"}})
		if res1.StatusCode != http.StatusUnauthorized || res2.StatusCode != http.StatusUnauthorized {
			t.Fatalf("statuses %d %d, want 401", res1.StatusCode, res2.StatusCode)
		}
		if !strings.Contains(body1, errBadLogin) || !strings.Contains(body2, errBadLogin) {
			t.Fatal("the generic message is missing")
		}
	})
	t.Run("RotatesSession", func(t *testing.T) {
		login(t, b, addr, "bon-mot-de-passe", false)
		first := b.cookie(familyCookie)
		login(t, b, addr, "bon-mot-de-passe", false)
		second := b.cookie(familyCookie)
		if first == second {
			t.Fatal("the session token did not change at login")
		}
		if _, err := e.srv.sessions.Get(context.Background(), first); err != session.ErrNotFound {
			t.Fatalf("the old session still works: %v", err)
		}
	})
	t.Run("StoredUnderHash", func(t *testing.T) {
		login(t, b, addr, "bon-mot-de-passe", false)
		token := b.cookie(familyCookie)
		rdb := dbtest.Redis(t)
		keys, _ := rdb.Keys(context.Background(), "session:*").Result()
		for _, k := range keys {
			v, _ := rdb.Get(context.Background(), k).Result()
			if strings.Contains(k, token) || strings.Contains(v, token) {
				t.Fatal("the raw session token is in Redis")
			}
		}
		if n, _ := rdb.Exists(context.Background(), "session:"+session.Hash(token)).Result(); n != 1 {
			t.Fatal("no session under the token's hash")
		}
	})
	t.Run("RememberMe", func(t *testing.T) {
		for _, remember := range []bool{false, true} {
			form := url.Values{"email": {addr}, "password": {"bon-mot-de-passe"}}
			if remember {
				form.Set("remember", "1")
			}
			res, body := b.post("/connexion", form)
			expect(t, res, body, http.StatusSeeOther, "/factures")
			var c *http.Cookie
			for _, x := range res.Cookies() {
				if x.Name == familyCookie {
					c = x
				}
			}
			if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Domain != "" {
				t.Fatalf("cookie %+v", c)
			}
			if remember && c.MaxAge != int((30*24*time.Hour).Seconds()) {
				t.Errorf("remember: Max-Age %d, want 30 days", c.MaxAge)
			}
			if !remember && (c.MaxAge != 0 || !c.Expires.IsZero()) {
				t.Errorf("plain login: the cookie outlives the browser (Max-Age %d, Expires %v)", c.MaxAge, c.Expires)
			}
			s, err := e.srv.sessions.Get(context.Background(), c.Value)
			if err != nil {
				t.Fatal(err)
			}
			want := 2 * time.Hour
			if remember {
				want = 30 * 24 * time.Hour
			}
			if got := time.Until(s.ExpiresAt); got < want-time.Minute || got > want {
				t.Errorf("remember=%v: session ends in %v, want %v", remember, got, want)
			}
		}
	})
	t.Run("Next", func(t *testing.T) {
		_, body := e.browser(t, tn).get("/?next=%2Fcompte")
		if !strings.Contains(body, `name="next" value="/compte"`) {
			t.Fatal("the login form lost next")
		}
		res, _ := b.post("/connexion", url.Values{"email": {addr}, "password": {"bon-mot-de-passe"}, "next": {"/compte"}})
		expect(t, res, "", http.StatusSeeOther, "/compte")
		for _, evil := range []string{"//evil.example/x", "https://evil.example/", "/\\evil.example", "http:/evil", "javascript:alert(1)", "/\r\nSet-Cookie:x", "\\\\evil"} {
			res, _ := b.post("/connexion", url.Values{"email": {addr}, "password": {"bon-mot-de-passe"}, "next": {evil}})
			if loc := res.Header.Get("Location"); loc != "/factures" {
				t.Errorf("next %q led to %q", evil, loc)
			}
		}
	})
	t.Run("DisabledAccount", func(t *testing.T) {
		a2 := uniqueAddr(t, "disabled")
		addFamily(t, tn, "F-dis", "Famille Dis", a2)
		bb := activate(t, e, tn, a2, "bon-mot-de-passe")
		dbtest.DB(t).MustExec(`UPDATE family_accounts SET disabled_at = now() WHERE tenant_id = $1 AND email = $2`, tn.ID, a2)
		res, body := bb.post("/connexion", url.Values{"email": {a2}, "password": {"bon-mot-de-passe"}})
		expect(t, res, body, http.StatusUnauthorized, "")
	})
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/factures/12":         "/factures/12",
		"/factures?x=1":        "/factures?x=1",
		"":                     "",
		"factures":             "",
		"//evil.example":       "",
		"/\\evil.example":      "",
		"https://evil.example": "",
		"/ok\nSet-Cookie: x":   "",
		"/%2F%2Fevil":          "/%2F%2Fevil",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestActivationLink(t *testing.T) {
	e := sharedEnv(t)
	addr := uniqueAddr(t, "link")
	tn := communeWithFamily(t, "links", "Famille Lien", addr)
	b := e.browser(t, tn)
	b.post("/activation", url.Values{"email": {addr}})
	link := e.mailedLink(t, addr, 1)

	t.Run("PasswordRulesKeepTheLink", func(t *testing.T) {
		res, body := b.post(link, url.Values{"password": {"court"}, "password_confirm": {"court"}})
		expect(t, res, body, http.StatusUnprocessableEntity, "")
		if !strings.Contains(body, "au moins 8 caractères (il en contient 5)") {
			t.Fatalf("no length error:\n%s", body)
		}
		res, body = b.post(link, url.Values{"password": {"assez-long-1"}, "password_confirm": {"assez-long-2"}})
		expect(t, res, body, http.StatusUnprocessableEntity, "")
		if !strings.Contains(body, "ne sont pas identiques") {
			t.Fatalf("no mismatch error:\n%s", body)
		}
		res, body = b.get(link)
		expect(t, res, body, http.StatusOK, "")
	})
	t.Run("SecondLinkStaysValidUntilOneIsUsed", func(t *testing.T) {
		b.post("/activation", url.Values{"email": {addr}})
		second := e.mailedLink(t, addr, 2)
		if second == link {
			t.Fatal("the same link was mailed twice")
		}
		res, body := b.get(link)
		expect(t, res, body, http.StatusOK, "")
		res, body = b.post(second, url.Values{"password": {"assez-long-1"}, "password_confirm": {"assez-long-1"}})
		expect(t, res, body, http.StatusSeeOther, "/")
		res, body = b.get(link)
		expect(t, res, body, http.StatusNotFound, "")
	})
	t.Run("Expired", func(t *testing.T) {
		a2 := uniqueAddr(t, "late")
		addFamily(t, tn, "F-late", "Famille Tard", a2)
		b.post("/activation", url.Values{"email": {a2}})
		late := e.mailedLink(t, a2, 1)
		e.srv.now = func() time.Time { return time.Now().Add(48*time.Hour + time.Minute) }
		defer func() { e.srv.now = time.Now }()
		res, body := b.get(late)
		expect(t, res, body, http.StatusNotFound, "")
		if !strings.Contains(body, "Ce lien n'est plus valable") || !strings.Contains(body, `value="`+a2+`"`) {
			t.Fatalf("expired link page:\n%s", body)
		}
	})
	t.Run("Garbage", func(t *testing.T) {
		res, body := b.get("/activation/not-a-token")
		expect(t, res, body, http.StatusNotFound, "")
	})
}

func TestAlreadyActiveGetsAReminder(t *testing.T) {
	e := sharedEnv(t)
	addr := uniqueAddr(t, "again")
	tn := communeWithFamily(t, "again", "Famille Encore", addr)
	b := activate(t, e, tn, addr, "mot-de-passe-1")
	b.post("/activation", url.Values{"email": {addr}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msgs, err := e.box.WaitFor(ctx, addr, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msgs[1].Subject, "déjà activé") || linkRe.MatchString(msgs[1].Text) {
		t.Fatalf("second mail: %q\n%s", msgs[1].Subject, msgs[1].Text)
	}
}

func TestPasswordReset(t *testing.T) {
	e := sharedEnv(t)
	addr := uniqueAddr(t, "reset")
	tn := communeWithFamily(t, "reset", "Famille Reset", addr)
	b := activate(t, e, tn, addr, "ancien-mot-de-passe")
	login(t, b, addr, "ancien-mot-de-passe", true)
	other := e.browser(t, tn) // a second device, logged in too
	login(t, other, addr, "ancien-mot-de-passe", false)

	fresh := e.browser(t, tn)
	res, body := fresh.get("/mot-de-passe-oublie")
	expect(t, res, body, http.StatusOK, "")
	res, body = fresh.post("/mot-de-passe-oublie", url.Values{"email": {addr}})
	expect(t, res, body, http.StatusSeeOther, "/mot-de-passe-oublie?envoye=1")
	link := e.mailedLink(t, addr, 2)
	if !strings.Contains(link, "/mot-de-passe/") {
		t.Fatalf("reset mail carries %s", link)
	}
	res, body = fresh.post(link, url.Values{"password": {"nouveau-mot-de-passe"}, "password_confirm": {"nouveau-mot-de-passe"}})
	expect(t, res, body, http.StatusSeeOther, "/")
	_, body = fresh.get("/")
	if !strings.Contains(body, "Votre mot de passe a été changé") {
		t.Fatal("no confirmation after reset")
	}
	// every session ended
	for _, br := range []*browser{b, other} {
		res, body := br.get("/factures")
		expect(t, res, body, http.StatusSeeOther, "/?next=%2Ffactures")
	}
	res, _ = fresh.post("/connexion", url.Values{"email": {addr}, "password": {"ancien-mot-de-passe"}})
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("old password still works: %d", res.StatusCode)
	}
	login(t, fresh, addr, "nouveau-mot-de-passe", false)
	// the reset link served once
	res, body = fresh.get(link)
	expect(t, res, body, http.StatusNotFound, "")
	// one hour only
	fresh.post("/mot-de-passe-oublie", url.Values{"email": {addr}})
	link2 := e.mailedLink(t, addr, 3)
	e.srv.now = func() time.Time { return time.Now().Add(61 * time.Minute) }
	defer func() { e.srv.now = time.Now }()
	res, body = fresh.get(link2)
	expect(t, res, body, http.StatusNotFound, "")
}

func TestCSRF(t *testing.T) {
	e := sharedEnv(t)
	addr := uniqueAddr(t, "csrf")
	tn := communeWithFamily(t, "csrf", "Famille Csrf", addr)
	b := e.browser(t, tn)
	b.get("/")
	for name, form := range map[string]url.Values{
		"missing":         {"email": {addr}},
		"wrong":           {"email": {addr}, "csrf_token": {"forged"}},
		"other browser's": {"email": {addr}, "csrf_token": {e.srv.csrfToken("someone-else-cookie-value")}},
	} {
		for _, path := range []string{"/activation", "/connexion", "/mot-de-passe-oublie", "/deconnexion"} {
			if name == "missing" {
				form.Del("csrf_token")
				req, _ := http.NewRequest(http.MethodPost, b.url(path), strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				res, body := b.do(req)
				expect(t, res, body, http.StatusForbidden, "")
				continue
			}
			res, body := b.post(path, form)
			if res.StatusCode != http.StatusForbidden || !strings.Contains(body, "Page expirée") {
				t.Errorf("%s token on %s: %d", name, path, res.StatusCode)
			}
		}
	}
	// the cookie, hence the token, changes at login: a token taken before
	// the login no longer works after it
	activate(t, e, tn, addr, "mot-de-passe-1")
	before := b.cookie(csrfCookie)
	oldToken := e.srv.csrfToken(before)
	login(t, b, addr, "mot-de-passe-1", false)
	if after := b.cookie(csrfCookie); after == "" || after == before {
		t.Fatalf("CSRF cookie not renewed at login (%q → %q)", before, after)
	}
	res, body := b.post("/compte/notifications", url.Values{"csrf_token": {oldToken}})
	expect(t, res, body, http.StatusForbidden, "")
	res, body = b.post("/compte/notifications", url.Values{"notify_invoices": {"1"}})
	expect(t, res, body, http.StatusSeeOther, "/compte")
}

func TestRateLimits(t *testing.T) {
	e := sharedEnv(t)
	addr := uniqueAddr(t, "limit")
	tn := communeWithFamily(t, "limit", "Famille Limite", addr)
	b := activate(t, e, tn, addr, "bon-mot-de-passe")
	saved := e.srv.limits
	defer func() { e.srv.limits = saved }()
	// Same rules as in production, with short windows so that recovery can
	// be observed.
	e.srv.limits.loginFailuresByAddr = limit{"t-login-addr-" + tn.Slug, 3, 3 * time.Second}
	e.srv.limits.linkRequestsByAddr = limit{"t-link-addr-" + tn.Slug, 2, 2 * time.Second}

	t.Run("LoginTripsAndRecovers", func(t *testing.T) {
		for i := range 3 {
			res, _ := b.post("/connexion", url.Values{"email": {addr}, "password": {"faux"}})
			if res.StatusCode != http.StatusUnauthorized {
				t.Fatalf("failure %d: %d", i+1, res.StatusCode)
			}
		}
		// even the right password waits now, as would an unknown address
		res, body := b.post("/connexion", url.Values{"email": {addr}, "password": {"bon-mot-de-passe"}})
		expect(t, res, body, http.StatusTooManyRequests, "")
		if !strings.Contains(body, "Trop de tentatives") || res.Header.Get("Retry-After") == "" {
			t.Fatalf("no French message or Retry-After:\n%s", body)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			res, _ := b.post("/connexion", url.Values{"email": {addr}, "password": {"bon-mot-de-passe"}})
			if res.StatusCode == http.StatusSeeOther {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("still %d after the window", res.StatusCode)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	t.Run("UnknownAddressLimitedAlike", func(t *testing.T) {
		ghost := uniqueAddr(t, "ghost")
		var last int
		for range 4 {
			res, _ := b.post("/connexion", url.Values{"email": {ghost}, "password": {"x"}})
			last = res.StatusCode
		}
		if last != http.StatusTooManyRequests {
			t.Fatalf("4th failure for an unknown address: %d, want 429", last)
		}
	})
	t.Run("LinkRequests", func(t *testing.T) {
		ghost := uniqueAddr(t, "ghost")
		for _, a := range []string{addr, ghost} {
			for i := range 2 {
				res, body := b.post("/mot-de-passe-oublie", url.Values{"email": {a}})
				expect(t, res, body, http.StatusSeeOther, "/mot-de-passe-oublie?envoye=1")
				_ = i
			}
			res, body := b.post("/mot-de-passe-oublie", url.Values{"email": {a}})
			expect(t, res, body, http.StatusTooManyRequests, "")
		}
		// each request within the limit sent its own mail
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := e.box.WaitFor(ctx, addr, 3); err != nil { // activation + 2 resets
			t.Fatal(err)
		}
	})
}

func TestSMTPDown(t *testing.T) {
	e := sharedEnv(t)
	addr := uniqueAddr(t, "outage")
	tn := communeWithFamily(t, "outage", "Famille Panne", addr)
	e.box.Stop()
	restarted := false
	defer func() {
		if !restarted {
			e.box.Restart()
		}
	}()
	b := e.browser(t, tn)
	res, body := b.post("/activation", url.Values{"email": {addr}})
	expect(t, res, body, http.StatusSeeOther, "/activation?envoye=1")

	// the mail is stored, its sending fails and is retried
	db := dbtest.DB(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var attempts int
		var lastErr string
		db.QueryRow(`SELECT attempts, last_error FROM mails WHERE tenant_id = $1 AND to_addr = $2`, tn.ID, addr).Scan(&attempts, &lastErr)
		if attempts >= 2 && lastErr != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no retried failure recorded (attempts %d, error %q)", attempts, lastErr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := e.box.Restart(); err != nil {
		t.Fatal(err)
	}
	restarted = true
	link := e.mailedLink(t, addr, 1)
	e.waitJobs(t, "mail.send", `"mail_ids"`)
	if n := len(e.box.To(addr)); n != 1 {
		t.Fatalf("%d mails arrived, want exactly 1", n)
	}
	var state string
	db.Get(&state, `SELECT state FROM mails WHERE tenant_id = $1 AND to_addr = $2`, tn.ID, addr)
	if state != "sent" || link == "" {
		t.Fatalf("mail state %q", state)
	}
}

func TestAccountPage(t *testing.T) {
	e := sharedEnv(t)
	addr := uniqueAddr(t, "compte")
	tn := communeWithFamily(t, "compte", "Famille Compte", addr)
	b := activate(t, e, tn, addr, "premier-mot")
	login(t, b, addr, "premier-mot", false)
	other := e.browser(t, tn)
	login(t, other, addr, "premier-mot", true)

	t.Run("Sessions", func(t *testing.T) {
		res, body := b.get("/compte")
		expect(t, res, body, http.StatusOK, "")
		if strings.Count(body, `data-label="Appareil"`) != 2 || !strings.Contains(body, "(cette session)") {
			t.Fatalf("want two sessions listed:\n%s", body)
		}
	})
	t.Run("Notifications", func(t *testing.T) {
		res, body := b.post("/compte/notifications", url.Values{})
		expect(t, res, body, http.StatusSeeOther, "/compte")
		_, body = b.get("/compte")
		if strings.Contains(body, `value="1" checked`) || !strings.Contains(body, "Vous ne recevrez plus") {
			t.Fatal("notifications still on")
		}
		b.post("/compte/notifications", url.Values{"notify_invoices": {"1"}})
		_, body = b.get("/compte")
		if !strings.Contains(body, `value="1" checked`) {
			t.Fatal("notifications not back on")
		}
	})
	t.Run("ChangePassword", func(t *testing.T) {
		res, body := b.post("/compte/mot-de-passe", url.Values{"current_password": {"faux"}, "password": {"second-mot-de-passe"}, "password_confirm": {"second-mot-de-passe"}})
		expect(t, res, body, http.StatusUnprocessableEntity, "")
		if !strings.Contains(body, "Le mot de passe actuel est incorrect") {
			t.Fatal("no error for a wrong current password")
		}
		res, body = b.post("/compte/mot-de-passe", url.Values{"current_password": {"premier-mot"}, "password": {"second-mot-de-passe"}, "password_confirm": {"second-mot-de-passe"}})
		expect(t, res, body, http.StatusSeeOther, "/compte")
		res, body = b.get("/compte") // this session stays
		expect(t, res, body, http.StatusOK, "")
		res, body = other.get("/compte") // the other one ended
		expect(t, res, body, http.StatusSeeOther, "/?next=%2Fcompte")
	})
	t.Run("LogoutEverywhere", func(t *testing.T) {
		login(t, other, addr, "second-mot-de-passe", false)
		res, body := b.post("/compte/deconnexion-partout", url.Values{})
		expect(t, res, body, http.StatusSeeOther, "/")
		for _, br := range []*browser{b, other} {
			res, body := br.get("/compte")
			expect(t, res, body, http.StatusSeeOther, "/?next=%2Fcompte")
		}
	})
}
