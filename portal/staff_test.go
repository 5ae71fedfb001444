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
	"github.com/pquerna/otp/totp"

	"github.com/regie/regie/migrations/dbtest"
	"github.com/regie/regie/portal/staff"
	"github.com/regie/regie/tenant"
)

// member is a staff account made for a test: its address, password and
// TOTP secret (empty when it has none).
type member struct {
	ID       int64
	Email    string
	Password string
	Secret   string
	Role     staff.Role
}

// newMember creates an active staff member of the commune; administrators
// (and others when withTOTP) get a TOTP secret.
func newMember(t *testing.T, e *env, tn tenant.Tenant, role staff.Role, withTOTP bool) member {
	t.Helper()
	ctx := context.Background()
	m := member{Email: uniqueAddr(t, string(role)+strings.ToLower(t.Name()[len(t.Name())-3:])), Password: "mot-de-passe-" + string(role), Role: role}
	hash, err := e.srv.hasher.Hash(ctx, m.Password)
	if err != nil {
		t.Fatal(err)
	}
	err = tenant.WithTx(ctx, dbtest.DB(t), tn.ID, func(tx *sqlx.Tx) error {
		sm, _, err := staff.Invite(ctx, tx, tn.ID, m.Email, "Test", role, time.Now())
		if err != nil {
			return err
		}
		m.ID = sm.ID
		if err := staff.SetPassword(ctx, tx, tn.ID, sm.ID, hash, time.Now()); err != nil {
			return err
		}
		if role.TOTPRequired() || withTOTP {
			key, err := totp.Generate(totp.GenerateOpts{Issuer: "test", AccountName: m.Email})
			if err != nil {
				return err
			}
			m.Secret = key.Secret()
			sealed, err := e.srv.sealer.Seal(m.Secret)
			if err != nil {
				return err
			}
			_, err = staff.EnableTOTP(ctx, tx, tn.ID, sm.ID, sealed)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// staffLogin logs a member in through the pages (password, then code) and
// returns the browser.
func staffLogin(t *testing.T, e *env, tn tenant.Tenant, m member) *browser {
	t.Helper()
	b := e.browser(t, tn)
	b.get("/gestion/connexion")
	res, body := b.post("/gestion/connexion", url.Values{"email": {m.Email}, "password": {m.Password}})
	if m.Secret == "" {
		expect(t, res, body, http.StatusSeeOther, "/gestion/")
		return b
	}
	expect(t, res, body, http.StatusSeeOther, "")
	code, err := totp.GenerateCode(m.Secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	res, body = b.post("/gestion/connexion/code", url.Values{"code": {code}})
	expect(t, res, body, http.StatusSeeOther, "/gestion/")
	return b
}

func TestStaffLogin(t *testing.T) {
	e := sharedEnv(t)
	tn := communeWithFamily(t, "staff", "Famille X", uniqueAddr(t, "x"))
	admin := newMember(t, e, tn, staff.Admin, false)

	t.Run("AdminNeedsTheCode", func(t *testing.T) {
		b := e.browser(t, tn)
		res, body := b.post("/gestion/connexion", url.Values{"email": {admin.Email}, "password": {admin.Password}})
		expect(t, res, body, http.StatusSeeOther, "/gestion/connexion/code?next=")
		// password alone opens nothing
		res, body = b.get("/gestion/")
		expect(t, res, body, http.StatusSeeOther, "/gestion/connexion/code")
		res, body = b.post("/gestion/connexion/code", url.Values{"code": {"000000"}})
		expect(t, res, body, http.StatusUnauthorized, "")
		code, _ := totp.GenerateCode(admin.Secret, time.Now())
		res, body = b.post("/gestion/connexion/code", url.Values{"code": {code}})
		expect(t, res, body, http.StatusSeeOther, "/gestion/")
		res, body = b.get("/gestion/compte")
		expect(t, res, body, http.StatusOK, "")
		if !strings.Contains(body, "Gestion du portail") || !strings.Contains(body, `href="/gestion/equipe"`) {
			t.Fatalf("back office home:\n%s", body)
		}
	})
	t.Run("WrongPassword", func(t *testing.T) {
		res, body := e.browser(t, tn).post("/gestion/connexion", url.Values{"email": {admin.Email}, "password": {"faux"}})
		expect(t, res, body, http.StatusUnauthorized, "")
	})
	t.Run("RecoveryCodeWorksOnce", func(t *testing.T) {
		m := newMember(t, e, tn, staff.Agent, false)
		b := staffLogin(t, e, tn, m)
		// the agent sets up TOTP from its account page and gets codes
		res, body := b.get("/gestion/totp")
		expect(t, res, body, http.StatusOK, "")
		secret := regexp.MustCompile(`<code class="secret">([A-Z2-7]+)</code>`).FindStringSubmatch(body)
		if secret == nil || !strings.Contains(body, `src="data:image/png;base64,`) {
			t.Fatalf("enrolment page lacks the QR code or key:\n%s", body)
		}
		code, _ := totp.GenerateCode(secret[1], time.Now())
		res, body = b.post("/gestion/totp", url.Values{"code": {code}})
		expect(t, res, body, http.StatusOK, "")
		codes := regexp.MustCompile(`<li>([a-z2-9]{4}-[a-z2-9]{4})</li>`).FindAllStringSubmatch(body, -1)
		if len(codes) != 10 {
			t.Fatalf("%d recovery codes shown, want 10:\n%s", len(codes), body)
		}
		login := func() (*browser, *http.Response, string) {
			b := e.browser(t, tn)
			b.post("/gestion/connexion", url.Values{"email": {m.Email}, "password": {m.Password}})
			res, body := b.post("/gestion/connexion/code", url.Values{"code": {codes[0][1]}})
			return b, res, body
		}
		_, res, body = login()
		expect(t, res, body, http.StatusSeeOther, "/gestion/")
		_, res, body = login()
		expect(t, res, body, http.StatusUnauthorized, "")
	})
	t.Run("ResetForcesReenrolment", func(t *testing.T) {
		m := newMember(t, e, tn, staff.Admin, false)
		staffLogin(t, e, tn, m)
		err := tenant.WithTx(context.Background(), dbtest.DB(t), tn.ID, func(tx *sqlx.Tx) error {
			return staff.ResetTOTP(context.Background(), tx, tn.ID, m.ID)
		})
		if err != nil {
			t.Fatal(err)
		}
		b := e.browser(t, tn)
		res, body := b.post("/gestion/connexion", url.Values{"email": {m.Email}, "password": {m.Password}})
		expect(t, res, body, http.StatusSeeOther, "/gestion/totp")
		res, body = b.get("/gestion/factures")
		expect(t, res, body, http.StatusSeeOther, "/gestion/totp")
		res, body = b.get("/gestion/totp")
		if !strings.Contains(body, "obligatoire pour les administrateurs") {
			t.Fatalf("mandatory enrolment page:\n%s", body)
		}
	})
	t.Run("OtherCommune", func(t *testing.T) {
		other := communeWithFamily(t, "staffb", "Famille Y", uniqueAddr(t, "y"))
		b := staffLogin(t, e, tn, admin)
		ob := b.on(other)
		res, body := ob.get("/gestion/")
		expect(t, res, body, http.StatusSeeOther, "/gestion/connexion?next=%2Fgestion%2F")
		res, body = ob.post("/gestion/connexion", url.Values{"email": {admin.Email}, "password": {admin.Password}})
		expect(t, res, body, http.StatusUnauthorized, "")
	})
	t.Run("FamilySessionIsNotStaff", func(t *testing.T) {
		addr := uniqueAddr(t, "fam")
		addFamily(t, tn, "F-staff-fam", "Famille Z", addr)
		b := activate(t, e, tn, addr, "mot-de-passe-1")
		login(t, b, addr, "mot-de-passe-1", false)
		res, body := b.get("/gestion/")
		expect(t, res, body, http.StatusSeeOther, "/gestion/connexion?next=%2Fgestion%2F")
	})
}

func TestStaffInvitation(t *testing.T) {
	e := sharedEnv(t)
	tn := communeWithFamily(t, "invite", "Famille X", uniqueAddr(t, "x"))
	var raw string
	addr := uniqueAddr(t, "newagent")
	err := tenant.WithTx(context.Background(), dbtest.DB(t), tn.ID, func(tx *sqlx.Tx) error {
		var err error
		_, raw, err = staff.Invite(context.Background(), tx, tn.ID, addr, "Nouvel agent", staff.Agent, time.Now())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	b := e.browser(t, tn)
	res, body := b.get("/gestion/invitation/" + raw)
	expect(t, res, body, http.StatusOK, "")
	res, body = b.post("/gestion/invitation/"+raw, url.Values{"password": {"court"}, "password_confirm": {"court"}})
	expect(t, res, body, http.StatusUnprocessableEntity, "")
	res, body = b.post("/gestion/invitation/"+raw, url.Values{"password": {"agent-mot-de-passe"}, "password_confirm": {"agent-mot-de-passe"}})
	expect(t, res, body, http.StatusSeeOther, "/gestion/connexion")
	res, body = b.get("/gestion/invitation/" + raw)
	expect(t, res, body, http.StatusNotFound, "")
	staffLogin(t, e, tn, member{Email: addr, Password: "agent-mot-de-passe", Role: staff.Agent})
}
