package portal

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/regie/regie/migrations/dbtest"
	"github.com/regie/regie/tenant"
	"github.com/regie/regie/tenant/tenanttest"
)

func TestMain(m *testing.M) {
	dbtest.Main(m, func() {
		if theEnv != nil {
			theEnv.jobs.Stop(context.Background()) //nolint:errcheck // the process ends
			theEnv.sim.Close()
			theEnv.simTS.Close()
			os.RemoveAll(theEnv.docsDir)
		}
	})
}

// fixture is a portal on the test databases with two communes, A and B.
type fixture struct {
	srv  *Server
	a, b tenant.Tenant
}

const testBase = "http://localhost:8080"

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db := dbtest.DB(t)
	a := tenanttest.MustCreate(t, db, "alpha", func(t *tenant.Tenant) {
		t.Name = "Mairie de Démonstration"
		t.ContactEmail = "mairie@alpha.example.fr"
	})
	b := tenanttest.MustCreate(t, db, "bravo", func(t *tenant.Tenant) {
		t.Name = "Mairie de Villes-sur-Auzon"
		t.Numcli = "002741"
	})
	return &fixture{srv: newTestServer(t, dbtest.Redis(t)), a: a, b: b}
}

func newTestServer(t *testing.T, rdb *redis.Client) *Server {
	t.Helper()
	db := dbtest.DB(t)
	base, _ := url.Parse(testBase)
	payfip, _ := url.Parse("http://127.0.0.1:8090")
	store := tenant.NewStore(db)
	log := slog.New(slog.DiscardHandler)
	srv, err := New(Options{
		BaseURL:   base,
		Secret:    []byte("test-secret-test-secret-test-secret!"),
		PayFiPURL: payfip,
	}, Deps{DB: db, Redis: rdb, Tenants: store, Resolver: tenant.NewResolver(store, rdb, log), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// scenario is one request and what its answer must and must not contain.
type scenario struct {
	name    string
	method  string
	host    string
	path    string
	status  int
	want    []string
	mustNot []string
	header  map[string]string // response headers that must be present
}

func (sc scenario) run(t *testing.T, h http.Handler) *http.Response {
	t.Helper()
	method := sc.method
	if method == "" {
		method = http.MethodGet
	}
	req := httptest.NewRequest(method, "http://"+sc.host+sc.path, nil)
	req.Host = sc.host
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != sc.status {
		t.Errorf("%s %s%s: status %d, want %d\n%s", method, sc.host, sc.path, res.StatusCode, sc.status, body)
	}
	for _, w := range sc.want {
		if !strings.Contains(string(body), w) {
			t.Errorf("%s %s%s: body lacks %q", method, sc.host, sc.path, w)
		}
	}
	for _, w := range sc.mustNot {
		if strings.Contains(string(body), w) {
			t.Errorf("%s %s%s: body contains %q", method, sc.host, sc.path, w)
		}
	}
	for k, v := range sc.header {
		if got := res.Header.Get(k); !strings.Contains(got, v) {
			t.Errorf("%s %s%s: header %s = %q, want it to contain %q", method, sc.host, sc.path, k, got, v)
		}
	}
	return res
}

func TestRouting(t *testing.T) {
	f := newFixture(t)
	ah := f.a.Slug + ".localhost:8080"
	bh := f.b.Slug + ".localhost:8080"
	susp := tenanttest.MustCreate(t, dbtest.DB(t), "closed", func(t *tenant.Tenant) {
		t.Name = "Mairie de Fermeville"
		t.Status = tenant.StatusSuspended
	})
	sh := susp.Slug + ".localhost:8080"

	for _, sc := range []scenario{
		{name: "commune A home", host: ah, path: "/", status: 200,
			want: []string{"Mairie de Démonstration", "Le portail des factures", "Mon adresse", "Mon mot de passe",
				"Se souvenir de moi", "Connexion", "Activer mon compte", "Mot de passe oublié",
				`lang="fr"`, `href="#contenu"`, `href="/mentions-legales"`, `href="/donnees-personnelles"`, `href="/accessibilite"`},
			mustNot: []string{"Villes-sur-Auzon"},
			header: map[string]string{"Content-Security-Policy": "script-src 'self'", "X-Content-Type-Options": "nosniff",
				"Referrer-Policy": "same-origin"}},
		{name: "commune B home", host: bh, path: "/", status: 200, want: []string{"Mairie de Villes-sur-Auzon"}, mustNot: []string{"Démonstration"}},
		{name: "host case and trailing dot", host: strings.ToUpper(f.a.Slug) + ".LOCALHOST.:8080", path: "/", status: 200, want: []string{"Mairie de Démonstration"}},
		{name: "unknown commune", host: "nope.localhost:8080", path: "/", status: 404, want: []string{"Adresse inconnue"}, mustNot: []string{"Mon mot de passe"}},
		{name: "unknown commune deep path", host: "nope.localhost:8080", path: "/factures", status: 404, want: []string{"Adresse inconnue"}},
		{name: "nested label", host: "a." + ah, path: "/", status: 404, want: []string{"Adresse inconnue"}},
		{name: "foreign host", host: "evil.example", path: "/", status: 404, want: []string{"Adresse inconnue"}},
		{name: "suspended", host: sh, path: "/", status: 503, want: []string{"Service suspendu", "Mairie de Fermeville"}, mustNot: []string{"Mon mot de passe"}},
		{name: "suspended legal page", host: sh, path: "/mentions-legales", status: 503, want: []string{"Service suspendu"}},
		{name: "unknown path", host: ah, path: "/nulle-part", status: 404, want: []string{"Page introuvable", "Mairie de Démonstration"}},
		{name: "legal notice default", host: ah, path: "/mentions-legales", status: 200, want: []string{"Mentions légales", "Mairie de Démonstration"}},
		{name: "privacy", host: ah, path: "/donnees-personnelles", status: 200, want: []string{"Données personnelles", "mairie@alpha.example.fr"}},
		{name: "accessibility", host: ah, path: "/accessibilite", status: 200, want: []string{"Accessibilité", "RGAA"}},
		{name: "theme", host: ah, path: "/theme.css?c=x", status: 200, want: []string{"--accent:" + tenant.DefaultAccentColor}},
		{name: "base host", host: "localhost:8080", path: "/", status: 200, want: []string{"Trouver le portail de ma commune"}},
		{name: "base search", host: "localhost:8080", path: "/?q=villes+sur", status: 200, want: []string{"http://" + bh + "/"}, mustNot: []string{"Démonstration"}},
		{name: "base search none", host: "localhost:8080", path: "/?q=zzzz", status: 200, want: []string{"Aucune commune ne correspond"}},
		{name: "base search skips suspended", host: "localhost:8080", path: "/?q=fermeville", status: 200, want: []string{"Aucune commune"}},
		{name: "admin host asks operators to log in", host: "admin.localhost:8080", path: "/", status: 303},
		{name: "payment host has no pages", host: "paiement.localhost:8080", path: "/", status: 404},
		{name: "healthz commune", host: ah, path: "/healthz", status: 200, want: []string{"ok"}},
		{name: "healthz unknown host", host: "nope.localhost:8080", path: "/healthz", status: 200},
		{name: "healthz foreign", host: "1.2.3.4", path: "/healthz", status: 200},
		{name: "healthz suspended", host: sh, path: "/healthz", status: 200},
		{name: "readyz", host: "nope.localhost:8080", path: "/readyz", status: 200, want: []string{`"redis":"ok"`, `"postgres":"ok"`}},
	} {
		t.Run(sc.name, func(t *testing.T) { sc.run(t, f.srv) })
	}
}

func TestReadyz_RedisDown(t *testing.T) {
	newFixture(t) // communes exist
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	defer dead.Close()
	srv := newTestServer(t, dead)
	scenario{host: "localhost:8080", path: "/readyz", status: 503, want: []string{`"redis":"indisponible"`, `"postgres":"ok"`}}.run(t, srv)
	// liveness does not depend on Redis
	scenario{host: "localhost:8080", path: "/healthz", status: 200}.run(t, srv)
}

func TestStatic(t *testing.T) {
	f := newFixture(t)
	u, err := f.srv.static.URL("app.css")
	if err != nil {
		t.Fatal(err)
	}
	res := scenario{host: f.a.Slug + ".localhost", path: u, status: 200, want: []string{"--accent"},
		header: map[string]string{"Cache-Control": "immutable", "Content-Type": "text/css"}}.run(t, f.srv)
	res.Body.Close()
	scenario{host: f.a.Slug + ".localhost", path: "/static/0000/app.css", status: 200, header: map[string]string{"Cache-Control": "no-cache"}}.run(t, f.srv)
	scenario{host: f.a.Slug + ".localhost", path: "/static/" + strings.Split(u, "/")[2] + "/nothing.css", status: 404}.run(t, f.srv)
}

func TestSecurityHeaders_HTTPS(t *testing.T) {
	f := newFixture(t)
	base, _ := url.Parse("https://regie.example.fr")
	srv := *f.srv
	srv.opts.BaseURL = base
	srv.baseHost = "regie.example.fr"
	if err := srv.routes(); err != nil {
		t.Fatal(err)
	}
	scenario{host: "regie.example.fr", path: "/", status: 200,
		header: map[string]string{"Strict-Transport-Security": "max-age=", "Content-Security-Policy": "frame-ancestors 'none'"}}.run(t, &srv)
}

// testViews parses the embedded templates as the server does.
func testViews(tb testing.TB) *views {
	tb.Helper()
	st, err := loadStatic()
	if err != nil {
		tb.Fatal(err)
	}
	v, err := loadViews(st)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

func TestTemplates_AllParse(t *testing.T) {
	if v := testViews(t); len(v.pages) == 0 {
		t.Fatal("no page templates")
	}
}
