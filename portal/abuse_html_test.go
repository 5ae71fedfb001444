package portal

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/migrations/dbtest"
	"github.com/regie/regie/portal/staff"
	"github.com/regie/regie/tenant"
	"github.com/regie/regie/tenant/tenanttest"
)

// xss is a value that breaks out of an attribute and runs script if any
// page writes it unescaped; mark names the field it was typed in.
func xss(mark string) string {
	return `"'><script>alert(1)</script><img src=x onerror=alert(1)>` + mark
}

// rawXSS are the pieces of xss that must never reach a page as markup.
var rawXSS = []string{`<script>alert(1)`, `<img src=x`, `'><script`}

// csvField quotes a CSV field for a ";" file.
func csvField(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// TestAbuse_HTMLInjection types markup into every text a family, a commune
// (its staff, its billing software's import) or a visitor can set or send,
// then reads every page and mail that shows them: each text appears, and
// only escaped.
func TestAbuse_HTMLInjection(t *testing.T) {
	e := sharedEnv(t)
	ctx := context.Background()
	db := dbtest.DB(t)
	tn := tenanttest.MustCreate(t, db, "xss")
	addr := uniqueAddr(t, "xss")

	// The billing software's import: family, address, town, line labels; the
	// series label as the settings store it.
	if err := tenant.WithTx(ctx, db, tn.ID, func(tx *sqlx.Tx) error {
		_, err := billing.CreateSeries(ctx, tx, tn.ID, billing.Series{Code: "RS", Label: xss("xss-serie"), Pattern: "{exer}-RS-00-{numero:7}", NextNumber: 1})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	row := func(period, label string) string {
		return strings.Join([]string{"X1", csvField(xss("xss-nom")), addr, csvField(xss("xss-famille-adresse")), "84000", csvField(xss("xss-ville")),
			"RS", period, csvField(label), "2", "5,00", "15/12/2099"}, ";")
	}
	batch := publishCSV(t, e, tn, row("01/2026", xss("xss-libelle")), row("02/2026", "Repas"))
	var ids []int64
	db.Select(&ids, `SELECT id FROM invoices WHERE tenant_id = $1 ORDER BY period`, tn.ID)
	var familyID int64
	db.Get(&familyID, `SELECT id FROM families WHERE tenant_id = $1`, tn.ID)
	if len(ids) != 2 || familyID == 0 {
		t.Fatalf("invoices %v, family %d", ids, familyID)
	}

	// The town hall's settings and actions.
	admin := staffLogin(t, e, tn, newMember(t, e, tn, staff.Admin, true))
	for _, step := range []struct {
		path string
		form url.Values
	}{
		{"/gestion/parametres", url.Values{"name": {xss("xss-commune")}, "accent_color": {"#1f4e8c"}, "contact_phone": {"04 90 00 00 00"},
			"postal_address": {xss("xss-adresse-mairie")}, "legal_notice": {xss("xss-mentions")}, "privacy_notice": {xss("xss-donnees")},
			"accessibility_statement": {xss("xss-accessibilite")}}},
		{"/gestion/factures/" + itoa(ids[0]) + "/paiement", url.Values{"date": {time.Now().In(tenant.Paris).Format(time.DateOnly)},
			"moyen": {"cash"}, "montant": {"1,00"}, "note": {xss("xss-note")}}},
		{"/gestion/factures/" + itoa(ids[1]) + "/annuler", url.Values{"motif": {xss("xss-motif")}}},
		{"/gestion/api", url.Values{"name": {xss("xss-cle")}}},
		{"/gestion/equipe", url.Values{"email": {uniqueAddr(t, "agent")}, "name": {xss("xss-agent")}, "role": {"agent"}}},
	} {
		res, body := admin.post(step.path, step.form)
		if res.StatusCode != http.StatusSeeOther && res.StatusCode != http.StatusOK {
			t.Fatalf("POST %s: %d\n%s", step.path, res.StatusCode, body)
		}
		checkEscaped(t, "POST "+step.path, body)
	}

	// The family, and what visitors send back to be shown.
	b := activate(t, e, tn, addr, "mot-de-passe-xss")
	res, body := b.post("/connexion", url.Values{"email": {xss("xss-login")}, "password": {"x"}})
	expect(t, res, body, http.StatusUnauthorized, "")
	pages := map[string]string{"POST /connexion": body}
	res, body = b.post("/connexion", url.Values{"email": {addr}, "password": {"mot-de-passe-xss"}})
	expect(t, res, body, http.StatusSeeOther, "/factures")
	_, pages["staff login"] = e.browser(t, tn).post("/gestion/connexion", url.Values{"email": {xss("xss-staff-login")}, "password": {"x"}})
	visitor := e.browser(t, tn)
	visitor.host = "localhost:" + e.port
	_, pages["find"] = visitor.get("/?q=" + url.QueryEscape(xss("xss-recherche")))
	_, pages["next"] = e.browser(t, tn).get("/?next=" + url.QueryEscape("/factures"+xss("xss-next")))

	for _, p := range []string{"/factures", "/factures/" + itoa(ids[0]), "/factures/" + itoa(ids[1]), "/factures/" + itoa(ids[0]) + "/tipi",
		"/mentions-legales", "/donnees-personnelles", "/accessibilite", "/compte"} {
		res, body := b.get(p)
		expect(t, res, body, http.StatusOK, "")
		pages["family "+p] = body
	}
	for _, p := range []string{"/gestion/", "/gestion/familles", "/gestion/familles/" + itoa(familyID), "/gestion/factures",
		"/gestion/factures/" + itoa(ids[0]), "/gestion/factures/" + itoa(ids[1]), "/gestion/paiements", "/gestion/parametres",
		"/gestion/api", "/gestion/equipe", "/gestion/journal", "/gestion/import", "/gestion/lots/" + itoa(batch)} {
		res, body := admin.get(p)
		expect(t, res, body, http.StatusOK, "")
		pages["staff "+p] = body
	}
	ops := operatorLogin(t, e, newOperator(t, e))
	for _, p := range []string{"/", "/communes/" + itoa(int64(tn.ID)), "/journal"} {
		res, body := ops.get(p)
		expect(t, res, body, http.StatusOK, "")
		pages["operator "+p] = body
	}
	waitMail := time.Now().Add(10 * time.Second)
	for len(e.box.To(addr)) < 2 && time.Now().Before(waitMail) { // activation and publication
		time.Sleep(50 * time.Millisecond)
	}
	for _, m := range e.box.To(addr) {
		pages["mail "+m.Subject] = m.HTML
	}

	for name, body := range pages {
		checkEscaped(t, name, body)
	}
	for _, mark := range []string{"xss-nom", "xss-famille-adresse", "xss-ville", "xss-libelle", "xss-serie", "xss-commune", "xss-adresse-mairie",
		"xss-mentions", "xss-donnees", "xss-accessibilite", "xss-note", "xss-motif", "xss-cle", "xss-agent", "xss-login",
		"xss-staff-login", "xss-recherche"} {
		var shown []string
		for name, body := range pages {
			if strings.Contains(body, mark) {
				shown = append(shown, name)
			}
		}
		if len(shown) == 0 {
			t.Errorf("%s is shown nowhere: the test proves nothing for it", mark)
		}
		t.Logf("%s: escaped on %d of %d pages and mails", mark, len(shown), len(pages))
	}
}

// checkEscaped fails when a page holds one of the injected pieces as
// markup.
func checkEscaped(t *testing.T, name, body string) {
	t.Helper()
	for _, raw := range rawXSS {
		if i := strings.Index(body, raw); i >= 0 {
			t.Errorf("%s: unescaped %q: …%s…", name, raw, body[max(0, i-80):min(len(body), i+80)])
		}
	}
}
