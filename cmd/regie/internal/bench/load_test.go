package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// fakePortal answers like the portal's login and invoice pages.
func fakePortal(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "regie_csrf", Value: "c"})
		fmt.Fprint(w, `<form><input type="hidden" name="csrf_token" value="tok&#43;1"></form>`)
	})
	mux.HandleFunc("POST /connexion", func(w http.ResponseWriter, r *http.Request) {
		if r.PostFormValue("csrf_token") != "tok+1" || r.PostFormValue("password") != Password || !strings.HasSuffix(r.PostFormValue("email"), "@bench.example.fr") {
			http.Error(w, "refused", http.StatusUnauthorized)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "regie_session", Value: r.Host})
		http.Redirect(w, r, "/factures", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /factures/{id}", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "facture") })
	mux.HandleFunc("GET /factures", func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie("regie_session"); err != nil || c.Value != r.Host {
			http.Error(w, "login first", http.StatusForbidden)
			return
		}
		fmt.Fprint(w, `<a href="/factures/41">a</a> <a href="/factures/42">b</a>`)
	})
	// the HTTP ceiling's choice of page
	mux.HandleFunc("GET /page", func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie("page"); err == nil {
			fmt.Fprint(w, c.Value)
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestLoad(t *testing.T) {
	ctx := context.Background()
	srv := fakePortal(t)
	u, _ := url.Parse(srv.URL)
	base := &url.URL{Scheme: "http", Host: "localhost:" + u.Port()}
	users := PickUsers(Shape{Communes: 5, A: 20}, base, 10, 1)
	if len(users) != 10 || !strings.HasPrefix(users[0].Base.Host, "commune-0000") {
		t.Fatalf("PickUsers = %d users, first on %s", len(users), users[0].Base.Host)
	}
	if err := LoginAll(ctx, users, Transport(), Password, 3); err != nil {
		t.Fatal(err)
	}
	if got := users[0].Invoices; len(got) != 2 || got[0] != 41 {
		t.Fatalf("invoices read after login = %v, want [41 42]", got)
	}

	t.Run("Max", func(t *testing.T) {
		r := Run(ctx, "max", users, InvoicePage, 0, 4, 300*time.Millisecond)
		if r.Errors != 0 || r.Requests < 10 || r.P50 <= 0 || r.P99 < r.P50 || r.Max < r.P99 {
			t.Errorf("result %+v: want requests without errors and ordered percentiles", r)
		}
	})
	t.Run("FixedRate", func(t *testing.T) {
		r := Run(ctx, "rate", users, InvoicesPage, 200, 8, 500*time.Millisecond)
		if r.Errors != 0 || r.Requests < 90 || r.Requests > 101 {
			t.Errorf("200/s for 0.5 s sent %d requests (%d errors: %s), want about 100", r.Requests, r.Errors, r.FirstError)
		}
	})
	t.Run("AnonymousPage", func(t *testing.T) {
		a := PickUsers(Shape{Communes: 5, A: 20}, base, 1, 3)[0]
		a.Anonymous(Transport(), nil, 7)
		if got, err := a.Get(ctx, "/page"); err != nil || string(got) != "7" {
			t.Errorf("an anonymous client of page 7 sent the page cookie %q (%v), want 7", got, err)
		}
	})
	t.Run("Errors", func(t *testing.T) {
		anon := PickUsers(Shape{Communes: 5, A: 20}, base, 2, 2)
		for _, a := range anon {
			a.Anonymous(Transport(), nil, 0)
		}
		r := Run(ctx, "anonymous", anon, InvoicesPage, 0, 2, 100*time.Millisecond)
		if r.Errors == 0 || r.Errors != r.Requests || !strings.Contains(r.FirstError, "403") {
			t.Errorf("anonymous /factures: %d errors of %d (%q), want all refused", r.Errors, r.Requests, r.FirstError)
		}
	})
}
