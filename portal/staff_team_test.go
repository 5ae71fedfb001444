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

	"github.com/regie/regie/migrations/dbtest"
	"github.com/regie/regie/portal/audit"
	"github.com/regie/regie/portal/staff"
	"github.com/regie/regie/tenant"
)

var invitationRe = regexp.MustCompile(`http://\S+/gestion/invitation/[A-Za-z0-9_-]+`)

// invitationLink waits for the invitation mail to addr and returns its
// link, checking that the HTML part carries the same one.
func invitationLink(t *testing.T, e *env, addr string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, m := range e.box.To(addr) {
			if link := invitationRe.FindString(m.Text); link != "" {
				if !strings.Contains(m.HTML, `href="`+link+`"`) {
					t.Fatalf("the HTML part of %q lacks the link %s", m.Subject, link)
				}
				if !strings.Contains(m.Subject, "Invitation") {
					t.Fatalf("invitation mail subject %q", m.Subject)
				}
				return link
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no invitation mail to %s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// loggedOut checks that a browser's staff session no longer opens the
// back office.
func loggedOut(t *testing.T, b *browser) {
	t.Helper()
	res, body := b.get("/gestion/")
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/gestion/connexion") {
		t.Fatalf("the member's session still works: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	_ = body
}

func TestStaffTeam_Invite(t *testing.T) {
	e := sharedEnv(t)
	tn := communeWithFamily(t, "equipe", "Famille X", uniqueAddr(t, "x"))
	admin := newMember(t, e, tn, staff.Admin, false)
	b := staffLogin(t, e, tn, admin)

	res, body := b.get("/gestion/equipe")
	expect(t, res, body, http.StatusOK, "")
	settingsPageHas(t, body, "Membres de l'équipe", "Inviter une personne", `<span class="badge">vous</span>`)

	t.Run("AgentSetsPasswordThenLogsIn", func(t *testing.T) {
		addr := uniqueAddr(t, "nouvel.agent")
		res, body := b.post("/gestion/equipe", url.Values{"email": {" " + strings.ToUpper(addr) + " "}, "name": {"Nadia Agent"}, "role": {"agent"}})
		expect(t, res, body, http.StatusSeeOther, "/gestion/equipe")
		settingsAudited(t, tn, "staff.invite", 1)
		_, body = b.get("/gestion/equipe")
		settingsPageHas(t, body, "Invitation envoyée à "+addr, addr, "Nadia Agent", `<span class="badge">invité</span>`)

		link := invitationLink(t, e, addr)
		if !strings.HasPrefix(link, "http://"+tn.Slug+".localhost:") {
			t.Fatalf("link %s is not on the commune's host", link)
		}
		nb := e.browser(t, tn)
		res, body = nb.get(link)
		expect(t, res, body, http.StatusOK, "")
		settingsPageHas(t, body, addr)
		res, body = nb.post(link, url.Values{"password": {"agent-nadia-2026"}, "password_confirm": {"agent-nadia-2026"}})
		expect(t, res, body, http.StatusSeeOther, "/gestion/connexion")
		staffLogin(t, e, tn, member{Email: addr, Password: "agent-nadia-2026", Role: staff.Agent})
		_, body = b.get("/gestion/equipe")
		if strings.Contains(body, `<span class="badge">invité</span>`) {
			t.Fatalf("the member is still shown as invited:\n%s", body)
		}
	})
	t.Run("AdministratorMustEnrol", func(t *testing.T) {
		addr := uniqueAddr(t, "nouvel.admin")
		res, body := b.post("/gestion/equipe", url.Values{"email": {addr}, "role": {"administrateur"}})
		expect(t, res, body, http.StatusSeeOther, "/gestion/equipe")
		link := invitationLink(t, e, addr)
		for _, m := range e.box.To(addr) {
			if !strings.Contains(m.Text, "double authentification") {
				t.Fatalf("an administrator's invitation does not announce TOTP:\n%s", m.Text)
			}
		}
		nb := e.browser(t, tn)
		res, body = nb.post(link, url.Values{"password": {"admin-mot-de-passe"}, "password_confirm": {"admin-mot-de-passe"}})
		expect(t, res, body, http.StatusSeeOther, "/gestion/connexion")
		res, body = nb.post("/gestion/connexion", url.Values{"email": {addr}, "password": {"admin-mot-de-passe"}})
		expect(t, res, body, http.StatusSeeOther, "/gestion/totp")
	})
	t.Run("Rejected", func(t *testing.T) {
		audits := settingsAuditRows(t, tn, "staff.invite")
		res, body := b.post("/gestion/equipe", url.Values{"email": {"pas-une-adresse"}, "role": {"chef"}})
		expect(t, res, body, http.StatusUnprocessableEntity, "")
		settingsPageHas(t, body, "Saisissez une adresse de messagerie complète", "Choisissez un rôle", `value="pas-une-adresse"`)
		res, body = b.post("/gestion/equipe", url.Values{"email": {admin.Email}, "role": {"agent"}})
		expect(t, res, body, http.StatusUnprocessableEntity, "")
		settingsPageHas(t, body, "Cette adresse a déjà un compte actif dans l&#39;équipe.")
		if n := settingsAuditRows(t, tn, "staff.invite"); n != audits {
			t.Fatalf("%d invitations audited after refusals, want %d", n, audits)
		}
	})
}

func TestStaffTeam_Actions(t *testing.T) {
	e := sharedEnv(t)
	tn := communeWithFamily(t, "actions", "Famille X", uniqueAddr(t, "x"))
	admin := newMember(t, e, tn, staff.Admin, false)
	b := staffLogin(t, e, tn, admin)
	memberPath := func(m member, action string) string { return "/gestion/equipe/" + itoa(m.ID) + "/" + action }

	t.Run("ChangeRoleEndsSessions", func(t *testing.T) {
		agent := newMember(t, e, tn, staff.Agent, false)
		ab := staffLogin(t, e, tn, agent)
		res, body := b.post(memberPath(agent, "role"), url.Values{"role": {"lecture"}})
		expect(t, res, body, http.StatusSeeOther, "/gestion/equipe")
		settingsAudited(t, tn, "staff.role", 1)
		loggedOut(t, ab)
		rb := staffLogin(t, e, tn, agent)
		res, body = rb.post("/gestion/familles/1", url.Values{})
		expect(t, res, body, http.StatusForbidden, "")
		// the same role again changes nothing and is not audited
		res, body = b.post(memberPath(agent, "role"), url.Values{"role": {"lecture"}})
		expect(t, res, body, http.StatusSeeOther, "/gestion/equipe")
		settingsAudited(t, tn, "staff.role", 1)
		res, body = b.post(memberPath(agent, "role"), url.Values{"role": {"roi"}})
		expect(t, res, body, http.StatusUnprocessableEntity, "")
	})
	t.Run("LastAdministrator", func(t *testing.T) {
		res, body := b.post(memberPath(admin, "role"), url.Values{"role": {"agent"}})
		expect(t, res, body, http.StatusUnprocessableEntity, "")
		settingsPageHas(t, body, "La commune doit garder au moins un administrateur actif")
		res, body = b.post(memberPath(admin, "retirer"), url.Values{})
		expect(t, res, body, http.StatusUnprocessableEntity, "")
		settingsPageHas(t, body, "Vous ne pouvez pas vous retirer vous-même")
		var role string
		dbtest.DB(t).Get(&role, `SELECT role FROM staff WHERE tenant_id = $1 AND id = $2 AND removed_at IS NULL`, tn.ID, admin.ID)
		if role != "administrateur" {
			t.Fatalf("the last administrator is now %q", role)
		}
		// with a second administrator, the first may be demoted, but the
		// second then cannot demote themselves
		second := newMember(t, e, tn, staff.Admin, false)
		sb := staffLogin(t, e, tn, second)
		res, body = sb.post(memberPath(admin, "role"), url.Values{"role": {"agent"}})
		expect(t, res, body, http.StatusSeeOther, "/gestion/equipe")
		loggedOut(t, b)
		res, body = sb.post(memberPath(second, "role"), url.Values{"role": {"agent"}})
		expect(t, res, body, http.StatusUnprocessableEntity, "")
		settingsPageHas(t, body, "La commune doit garder au moins un administrateur actif")
		res, body = sb.post(memberPath(admin, "role"), url.Values{"role": {"administrateur"}})
		expect(t, res, body, http.StatusSeeOther, "/gestion/equipe")
		b = staffLogin(t, e, tn, admin)
	})
	t.Run("ResetTOTPForcesEnrolment", func(t *testing.T) {
		other := newMember(t, e, tn, staff.Admin, false)
		ob := staffLogin(t, e, tn, other)
		res, body := b.post(memberPath(other, "totp"), url.Values{})
		expect(t, res, body, http.StatusSeeOther, "/gestion/equipe")
		settingsAudited(t, tn, "staff.totp_reset", 1)
		loggedOut(t, ob)
		nb := e.browser(t, tn)
		res, body = nb.post("/gestion/connexion", url.Values{"email": {other.Email}, "password": {other.Password}})
		expect(t, res, body, http.StatusSeeOther, "/gestion/totp")
		res, body = nb.get("/gestion/parametres")
		expect(t, res, body, http.StatusSeeOther, "/gestion/totp")
		// nothing left to reset: no second audit row
		res, body = b.post(memberPath(other, "totp"), url.Values{})
		expect(t, res, body, http.StatusSeeOther, "/gestion/equipe")
		settingsAudited(t, tn, "staff.totp_reset", 1)
	})
	t.Run("Remove", func(t *testing.T) {
		agent := newMember(t, e, tn, staff.Agent, true)
		ab := staffLogin(t, e, tn, agent)
		res, body := b.post(memberPath(agent, "retirer"), url.Values{})
		expect(t, res, body, http.StatusSeeOther, "/gestion/equipe")
		settingsAudited(t, tn, "staff.remove", 1)
		loggedOut(t, ab)
		res, body = e.browser(t, tn).post("/gestion/connexion", url.Values{"email": {agent.Email}, "password": {agent.Password}})
		expect(t, res, body, http.StatusUnauthorized, "")
		// a removed member is gone: acting on them again is a 404
		res, body = b.post(memberPath(agent, "retirer"), url.Values{})
		expect(t, res, body, http.StatusNotFound, "")
		_, body = b.get("/gestion/equipe")
		if strings.Contains(body, agent.Email) {
			t.Fatal("a removed member is still listed")
		}
		// and may be invited again
		res, body = b.post("/gestion/equipe", url.Values{"email": {agent.Email}, "role": {"lecture"}})
		expect(t, res, body, http.StatusSeeOther, "/gestion/equipe")
	})
	t.Run("UnknownMember", func(t *testing.T) {
		for _, p := range []string{"/gestion/equipe/999999999/role", "/gestion/equipe/x/totp", "/gestion/equipe/0/retirer"} {
			res, body := b.post(p, url.Values{"role": {"agent"}})
			expect(t, res, body, http.StatusNotFound, "")
		}
	})
}

func TestStaffAudit(t *testing.T) {
	e := sharedEnv(t)
	tn := communeWithFamily(t, "journal", "Famille X", uniqueAddr(t, "x"))
	admin := newMember(t, e, tn, staff.Admin, false)
	b := staffLogin(t, e, tn, admin)

	res, body := b.get("/gestion/journal")
	expect(t, res, body, http.StatusOK, "")
	settingsPageHas(t, body, "Aucune modification enregistrée")

	res, body = b.post("/gestion/parametres", url.Values{"name": {`Mairie <script>alert(1)</script>`}, "accent_color": {"#1f4e8c"}})
	expect(t, res, body, http.StatusSeeOther, "/gestion/parametres")
	res, body = b.get("/gestion/journal")
	expect(t, res, body, http.StatusOK, "")
	settingsPageHas(t, body, "Informations de la commune modifiées", admin.Email, "Mairie de Journal",
		"Mairie &lt;script&gt;alert(1)&lt;/script&gt;", `<pre class="json">{`+"\n"+`  &#34;name&#34;: &#34;Mairie de Journal&#34;,`)
	if strings.Contains(body, "<script>alert(1)") {
		t.Fatal("the audit page does not escape what it shows")
	}
	if !regexp.MustCompile(`<td data-label="Date">\d{2}/\d{2}/\d{4} à \d{2}:\d{2}:\d{2}</td>`).MatchString(body) {
		t.Fatalf("no date in Paris format:\n%s", body)
	}

	t.Run("Pages", func(t *testing.T) {
		db := dbtest.DB(t)
		for i := range 60 {
			_, err := db.Exec(`INSERT INTO audit_log (tenant_id, actor_kind, action, target_type, target_id) VALUES ($1, 'system', $2, 'invoice', $3)`,
				tn.ID, "test.entry", itoa(int64(i)))
			if err != nil {
				t.Fatal(err)
			}
		}
		_, body := b.get("/gestion/journal")
		if n := strings.Count(body, "<tr>") - 1; n != auditPageSize {
			t.Fatalf("%d rows on the first page, want %d", n, auditPageSize)
		}
		settingsPageHas(t, body, "Système", "test.entry", "Facture 59")
		older := regexp.MustCompile(`href="(/gestion/journal\?avant=\d+)"`).FindStringSubmatch(body)
		if older == nil {
			t.Fatalf("no link to older entries:\n%s", body)
		}
		res, body := b.get(strings.ReplaceAll(older[1], "&amp;", "&"))
		expect(t, res, body, http.StatusOK, "")
		if n := strings.Count(body, "<tr>") - 1; n != 11 {
			t.Fatalf("%d rows on the second page, want 11", n)
		}
		settingsPageHas(t, body, "Informations de la commune modifiées", "Facture 0", "Les plus récentes")
		if strings.Contains(body, "Facture 59") || strings.Contains(body, "avant=") {
			t.Fatal("the second page repeats the first or offers a third")
		}
		res, body = b.get("/gestion/journal?avant=abc")
		expect(t, res, body, http.StatusNotFound, "")
	})
	t.Run("OtherCommune", func(t *testing.T) {
		other := communeWithFamily(t, "journalb", "Famille Y", uniqueAddr(t, "y"))
		ob := staffLogin(t, e, other, newMember(t, e, other, staff.Admin, false))
		_, body := ob.get("/gestion/journal")
		if strings.Contains(body, "test.entry") || strings.Contains(body, "alert(1)") {
			t.Fatal("B's audit log shows A's entries")
		}
	})
}

// TestAuditLog_ReadOnly proves the journal cannot be changed by the
// application: regie_app may insert and read audit_log, nothing else.
func TestAuditLog_ReadOnly(t *testing.T) {
	sharedEnv(t)
	ctx := context.Background()
	db := dbtest.DB(t)
	tn := communeWithFamily(t, "lecture", "Famille X", uniqueAddr(t, "x"))
	err := tenant.WithTx(ctx, db, tn.ID, func(tx *sqlx.Tx) error {
		return audit.Record(ctx, tx, tn.ID, audit.Actor{Kind: "system"}, audit.Entry{Action: "test.readonly", After: map[string]int{"n": 1}})
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`UPDATE audit_log SET action = 'falsifié' WHERE tenant_id = $1`,
		`DELETE FROM audit_log WHERE tenant_id = $1`,
		`TRUNCATE audit_log`,
	} {
		err := tenant.WithTx(ctx, db, tn.ID, func(tx *sqlx.Tx) error {
			if strings.Contains(q, "$1") {
				_, err := tx.ExecContext(ctx, q, tn.ID)
				return err
			}
			_, err := tx.ExecContext(ctx, q)
			return err
		})
		if err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("%s inside tenant.WithTx: %v, want permission denied", q, err)
		}
	}
	var rows []audit.Row
	err = tenant.WithTx(ctx, db, tn.ID, func(tx *sqlx.Tx) error {
		var err error
		rows, err = audit.List(ctx, tx, tn.ID, 0, 10)
		return err
	})
	if err != nil || len(rows) != 1 || rows[0].Action != "test.readonly" {
		t.Fatalf("after the attempts: %+v, %v", rows, err)
	}
}
