package portal

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/regie/regie/portal/staff"
	"github.com/regie/regie/tenant"
)

// evilNext are return addresses that browsers would follow to another host
// (or run), written every way we know.
var evilNext = []string{
	"https://evil.example/x", "http:evil.example", "https:/evil.example", "//evil.example/x", "///evil.example",
	`/\evil.example`, `\\evil.example`, `/\/evil.example`, "/\t/evil.example", "/\n/evil.example", " //evil.example",
	"//evil.example@" + "regie.example", "javascript:alert(1)", "data:text/html,<script>alert(1)</script>",
	"%2F%2Fevil.example", "/%0d%0aLocation:%20https://evil.example", "\x00//evil.example", "/ /evil.example",
	"evil.example", ".//evil.example",
}

// sameHost reports whether a browser on host following Location loc stays
// on host. Browsers read a backslash as a slash and skip tabs and newlines.
func sameHost(host, loc string) bool {
	if loc == "" || strings.ContainsAny(loc, "\\\t\r\n\x00") {
		return false
	}
	base, _ := url.Parse("http://" + host + "/gestion/")
	u, err := url.Parse(loc)
	if err != nil {
		return false
	}
	r := base.ResolveReference(u)
	return r.Scheme == "http" && r.Host == host && strings.HasPrefix(loc, "/") && !strings.HasPrefix(loc, "//")
}

// FuzzSafeNext: whatever next holds, safeNext gives "" or a path that keeps
// the browser on the same host, and is stable. Its seeds are evilNext.
func FuzzSafeNext(f *testing.F) {
	for _, s := range evilNext {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next)
		if got != "" && !sameHost("demo.localhost:8080", got) {
			t.Fatalf("safeNext(%q) = %q, which leaves the host", next, got)
		}
		if got != "" && safeNext(got) != got {
			t.Fatalf("safeNext(%q) = %q, then %q", next, got, safeNext(got))
		}
	})
}

// TestAbuse_OpenRedirect: every next parameter (family login, staff and
// operator logins and their code pages, the login page of a family already
// in) and the TIPI return address refuse to send the browser elsewhere.
func TestAbuse_OpenRedirect(t *testing.T) {
	e := sharedEnv(t)
	addr := uniqueAddr(t, "redir")
	tn := communeWithFamily(t, "redir", "Famille Redirection", addr)
	b := activate(t, e, tn, addr, "mot-de-passe-redir")
	check := func(t *testing.T, host, what, next string, res *http.Response, body string) {
		t.Helper()
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s with next %q: status %d, want 303\n%s", what, next, res.StatusCode, body)
		}
		if loc := res.Header.Get("Location"); !sameHost(host, loc) {
			t.Errorf("%s with next %q: Location %q leaves %s", what, next, loc, host)
		}
	}

	t.Run("Family", func(t *testing.T) {
		for _, next := range append(evilNext, "/factures?annee=2026") {
			res, body := b.post("/connexion", url.Values{"email": {addr}, "password": {"mot-de-passe-redir"}, "next": {next}})
			check(t, b.host, "login", next, res, body)
			res, body = b.get("/?next=" + url.QueryEscape(next))
			check(t, b.host, "login page when logged in", next, res, body)
		}
		// a legitimate next is honoured
		res, _ := b.post("/connexion", url.Values{"email": {addr}, "password": {"mot-de-passe-redir"}, "next": {"/factures?annee=2026"}})
		if loc := res.Header.Get("Location"); loc != "/factures?annee=2026" {
			t.Fatalf("a same-host next gave %q", loc)
		}
	})

	t.Run("Staff", func(t *testing.T) {
		plain := newMember(t, e, tn, staff.Reader, false)
		withCode := newMember(t, e, tn, staff.Agent, true)
		for _, next := range evilNext {
			s := e.browser(t, tn)
			s.get("/gestion/connexion")
			res, body := s.post("/gestion/connexion", url.Values{"email": {plain.Email}, "password": {plain.Password}, "next": {next}})
			check(t, s.host, "staff login", next, res, body)

			s = e.browser(t, tn)
			s.get("/gestion/connexion")
			res, body = s.post("/gestion/connexion", url.Values{"email": {withCode.Email}, "password": {withCode.Password}, "next": {next}})
			check(t, s.host, "staff login before the code", next, res, body)
			code, _ := totp.GenerateCode(withCode.Secret, time.Now())
			res, body = s.post("/gestion/connexion/code", url.Values{"code": {code}, "next": {next}})
			check(t, s.host, "staff code", next, res, body)
		}
	})

	t.Run("Operator", func(t *testing.T) {
		m := newOperator(t, e)
		for _, next := range evilNext[:6] {
			o := e.adminBrowser(t)
			o.get("/connexion")
			res, body := o.post("/connexion", url.Values{"email": {m.Email}, "password": {m.Password}, "next": {next}})
			check(t, o.host, "operator login", next, res, body)
			code, _ := totp.GenerateCode(m.Secret, time.Now())
			res, body = o.post("/connexion/code", url.Values{"code": {code}, "next": {next}})
			check(t, o.host, "operator code", next, res, body)
		}
	})

	t.Run("TIPIReturn", func(t *testing.T) {
		p := e.browser(t, tenant.Tenant{Slug: "paiement"})
		for _, v := range []string{"https://evil.example", "//evil.example", "12abc", "-1"} {
			res, body := p.get("/tipi?tentative=" + url.QueryEscape(v))
			expect(t, res, body, http.StatusNotFound, "")
		}
	})
}
