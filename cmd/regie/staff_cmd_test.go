package main

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/regie/regie/migrations/dbtest"
	"github.com/regie/regie/tenant"
	"github.com/regie/regie/tenant/tenanttest"
)

// TestStaffInvite runs `regie staff invite` against a served product and
// follows the printed link: the new administrator sets a password, logs in
// and is sent to set up TOTP.
func TestStaffInvite(t *testing.T) {
	c := tenanttest.MustCreate(t, dbtest.DB(t), "cli-staff")
	_, addr := startApp(t, testServerEnv(t), nil)
	_, port, _ := net.SplitHostPort(addr)

	cli := map[string]string{"REGIE_DATABASE_URL": dbtest.URL(t), "REGIE_BASE_URL": "http://localhost:" + port}
	out, _, err := runCmd(t, cli, "staff", "invite", "--tenant", c.Slug, "--email", "Maire@Cli-Staff.example.fr", "--role", "administrateur", "--name", "Le maire")
	if err != nil {
		t.Fatal(err)
	}
	link := regexp.MustCompile(`http://\S+/gestion/invitation/[A-Za-z0-9_-]+`).FindString(out)
	if link == "" || !strings.HasPrefix(link, "http://"+c.Slug+".localhost:"+port+"/") {
		t.Fatalf("staff invite printed %q, want a link on the commune's host", out)
	}
	var n int
	dbtest.DB(t).Get(&n, `SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action = 'staff.invite' AND actor_kind = 'operator'`, c.ID)
	if n != 1 {
		t.Fatalf("%d audit rows for the invitation, want 1", n)
	}

	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Transport: &http.Transport{DialContext: tenant.DialLocalhost}, Timeout: 5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(u string) (*http.Response, string) {
		res, err := client.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return res, string(b)
	}
	post := func(u string, form url.Values, page string) *http.Response {
		m := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no form token on the page before %s", u)
		}
		form.Set("csrf_token", m[1])
		res, err := client.PostForm(u, form)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	res, page := get(link)
	if res.StatusCode != http.StatusOK || !strings.Contains(page, "maire@cli-staff.example.fr") {
		t.Fatalf("GET %s: %d\n%s", link, res.StatusCode, page)
	}
	res = post(link, url.Values{"password": {"maire-mot-de-passe"}, "password_confirm": {"maire-mot-de-passe"}}, page)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/gestion/connexion" {
		t.Fatalf("setting the password: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	login := "http://" + c.Slug + ".localhost:" + port + "/gestion/connexion"
	_, page = get(login)
	res = post(login, url.Values{"email": {"maire@cli-staff.example.fr"}, "password": {"maire-mot-de-passe"}}, page)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/gestion/totp" {
		t.Fatalf("first login of the administrator: %d %s, want /gestion/totp", res.StatusCode, res.Header.Get("Location"))
	}

	t.Run("AlreadyActive", func(t *testing.T) {
		_, _, err := runCmd(t, cli, "staff", "invite", "--tenant", c.Slug, "--email", "maire@cli-staff.example.fr", "--role", "agent")
		if err == nil || !strings.Contains(err.Error(), "already has an active account") {
			t.Fatalf("inviting an active member: %v", err)
		}
	})
	t.Run("BadInput", func(t *testing.T) {
		var u usageError
		for _, args := range [][]string{
			{"staff"},
			{"staff", "remove"},
			{"staff", "invite", "--tenant", c.Slug, "--email", "x@example.fr"},
			{"staff", "invite", "--tenant", c.Slug, "--email", "pas-une-adresse", "--role", "agent"},
			{"staff", "invite", "--tenant", c.Slug, "--email", "x@example.fr", "--role", "chef"},
			{"staff", "invite", "--tenant", c.Slug, "--email", "x@example.fr", "--role", "agent", "extra"},
		} {
			if _, _, err := runCmd(t, cli, args...); !errors.As(err, &u) {
				t.Errorf("%q: %v, want a usage error", args, err)
			}
		}
		if _, _, err := runCmd(t, cli, "staff", "invite", "--tenant", "nulle-part", "--email", "x@example.fr", "--role", "agent"); err == nil {
			t.Error("an unknown commune was accepted")
		}
		noBase := map[string]string{"REGIE_DATABASE_URL": dbtest.URL(t)}
		if _, _, err := runCmd(t, noBase, "staff", "invite", "--tenant", c.Slug, "--email", "x@example.fr", "--role", "agent"); err == nil ||
			!strings.Contains(err.Error(), "REGIE_BASE_URL is required") {
			t.Errorf("without REGIE_BASE_URL: %v", err)
		}
	})
}
