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

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/migrations/dbtest"
	"github.com/regie/regie/portal/account"
	"github.com/regie/regie/portal/staff"
	"github.com/regie/regie/tenant"
	"github.com/regie/regie/tenant/tenanttest"
)

// familyIDOf returns the id of the commune's family with that family id.
func familyIDOf(t *testing.T, tn tenant.Tenant, ref string) int64 {
	t.Helper()
	var id int64
	err := tenant.WithTx(context.Background(), dbtest.DB(t), tn.ID, func(tx *sqlx.Tx) error {
		f, err := billing.FamilyByRef(context.Background(), tx, tn.ID, ref)
		id = f.ID
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// accountIDOf returns the id of the account of an address.
func accountIDOf(t *testing.T, tn tenant.Tenant, email string) int64 {
	t.Helper()
	var id int64
	err := tenant.WithTx(context.Background(), dbtest.DB(t), tn.ID, func(tx *sqlx.Tx) error {
		a, err := account.ByEmail(context.Background(), tx, tn.ID, email)
		id = a.ID
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// staffAuditCount counts the commune's audit rows of an action on a target.
func staffAuditCount(t *testing.T, tn tenant.Tenant, action, targetID string) int {
	t.Helper()
	var n int
	if err := dbtest.DB(t).Get(&n, `SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action = $2 AND target_id = $3`,
		tn.ID, action, targetID); err != nil {
		t.Fatal(err)
	}
	return n
}

// mustContain fails for each word the body lacks, and each it must not
// hold.
func mustContain(t *testing.T, what, body string, want []string, not ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("%s lacks %q", what, w)
		}
	}
	for _, w := range not {
		if strings.Contains(body, w) {
			t.Errorf("%s shows %q", what, w)
		}
	}
	if t.Failed() {
		t.Logf("%s:\n%s", what, body)
	}
}

func TestStaffFamilies_Search(t *testing.T) {
	e := sharedEnv(t)
	a := tenanttest.MustCreate(t, dbtest.DB(t), "fsearch")
	helene, martin := uniqueAddr(t, "helene"), uniqueAddr(t, "martin")
	addFamily(t, a, "F-100", "Famille Hélène Dupré", helene)
	addFamily(t, a, "F-101", "Famille Martin", martin)
	addFamily(t, a, "G-200", "Famille Lefèvre-L'Œillet")
	b := tenanttest.MustCreate(t, dbtest.DB(t), "fsearchb")
	addFamily(t, b, "F-100", "Famille Hélène Secrète", helene)
	hid, mid, gid := familyIDOf(t, a, "F-100"), familyIDOf(t, a, "F-101"), familyIDOf(t, a, "G-200")
	reader := staffLogin(t, e, a, newMember(t, e, a, staff.Reader, false))

	for _, c := range []struct {
		q         string
		see, miss []int64
	}{
		{"helene", []int64{hid}, []int64{mid, gid}},                // accent ignored
		{"HÉLÈNE DUP", []int64{hid}, []int64{mid, gid}},            // case and partial
		{"lene du", []int64{hid}, nil},                             // inside the name
		{"lefevre l oeillet", []int64{gid}, []int64{hid}},          // œ, punctuation
		{"F-10", []int64{hid, mid}, []int64{gid}},                  // family id prefix
		{"g-2", []int64{gid}, []int64{hid, mid}},                   // any case
		{"G-200", []int64{gid}, nil},                               // exact id
		{strings.ToUpper(martin), []int64{mid}, []int64{hid, gid}}, // address, any case
		{"inconnu", nil, []int64{hid, mid, gid}},                   // nothing
		{"%", nil, []int64{hid, mid, gid}},                         // no wildcard
		{"", []int64{hid, mid, gid}, nil},                          // everything
	} {
		res, body := reader.get("/gestion/familles?q=" + url.QueryEscape(c.q))
		expect(t, res, body, http.StatusOK, "")
		for _, id := range c.see {
			if !strings.Contains(body, fmt.Sprintf(`href="/gestion/familles/%d"`, id)) {
				t.Errorf("q=%q: family %d missing", c.q, id)
			}
		}
		for _, id := range c.miss {
			if strings.Contains(body, fmt.Sprintf(`href="/gestion/familles/%d"`, id)) {
				t.Errorf("q=%q: family %d found", c.q, id)
			}
		}
		if strings.Contains(body, "Secrète") {
			t.Errorf("q=%q shows commune B's family", c.q)
		}
	}

	t.Run("Pages", func(t *testing.T) {
		for i := range 55 {
			addFamily(t, a, fmt.Sprintf("P-%03d", i), fmt.Sprintf("Famille Pagination %03d", i))
		}
		res, body := reader.get("/gestion/familles?q=pagination")
		expect(t, res, body, http.StatusOK, "")
		if n := strings.Count(body, `href="/gestion/familles/`); n != 50 {
			t.Errorf("page 1 shows %d families, want 50", n)
		}
		mustContain(t, "page 1", body, []string{"55 famille(s)", `href="/gestion/familles?page=2&amp;q=pagination"`, "Page 1 sur 2"}, "Pagination 050")
		res, body = reader.get("/gestion/familles?page=2&q=pagination")
		expect(t, res, body, http.StatusOK, "")
		if n := strings.Count(body, `href="/gestion/familles/`); n != 5 {
			t.Errorf("page 2 shows %d families, want 5", n)
		}
		mustContain(t, "page 2", body, []string{"Famille Pagination 054", `rel="prev"`}, "Pagination 049")
	})
}

func TestStaffFamilies_Page(t *testing.T) {
	e := sharedEnv(t)
	active, none, bounced := uniqueAddr(t, "active"), uniqueAddr(t, "none"), uniqueAddr(t, "bounced")
	a := tenanttest.MustCreate(t, dbtest.DB(t), "fpage")
	publishCSV(t, e, a, "F1;Famille Page;"+active+" "+none+" "+bounced+";3 rue Haute;84000;Ville;RS;10/2015;Repas;15;2,50;15/12/2099")
	fid, inv := familyIDOf(t, a, "F1"), invoiceID(t, a, "2015-RS-00-8001516")
	b := activate(t, e, a, active, "mot-de-passe-1")
	login(t, b, active, "mot-de-passe-1", false)
	if _, err := dbtest.DB(t).Exec(`INSERT INTO mails (tenant_id, kind, to_addr, from_name, subject, text_body, html_body, state, attempts, last_error)
		VALUES ($1, 'invoices', $2, 'Mairie', 'Votre facture', 'x', 'x', 'failed', 5, '550 5.1.1 <bounced>: mailbox unavailable')`, a.ID, bounced); err != nil {
		t.Fatal(err)
	}
	reader := staffLogin(t, e, a, newMember(t, e, a, staff.Reader, false))
	var res *http.Response
	var body string
	// the activation mail is marked sent just after the catcher got it
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		res, body = reader.get(fmt.Sprintf("/gestion/familles/%d", fid))
		expect(t, res, body, http.StatusOK, "")
		if strings.Contains(body, ">Envoyé<") || time.Now().After(deadline) {
			break
		}
	}
	mustContain(t, "family page", body, []string{
		"Famille Page", "F1", "3 rue Haute", "84000 Ville",
		active, "Compte actif", none, "Pas de compte",
		"2015-RS-00-8001516", fmt.Sprintf(`href="/gestion/factures/%d"`, inv), "37,50\u00a0€", "À payer",
		"Activez votre compte", "Envoyé", // the activation mail, sent
		"Échec", "550 5.1.1 &lt;bounced&gt;: mailbox unavailable", "Erreur SMTP",
		"Aucun paiement reçu",
	},
		// read-only: no forms
		fmt.Sprintf(`action="/gestion/familles/%d/adresses"`, fid), "Désactiver le compte", "Renvoyer l&#39;activation")
	row := body[strings.Index(body, active):]
	row = row[:strings.Index(row, "</tr>")]
	if n := len(regexp.MustCompile(`\d\d/\d\d/\d{4} à \d\dh\d\d`).FindAllString(row, -1)); n != 2 {
		t.Errorf("the active account's row should show its activation and last login:\n%s", row)
	}

	t.Run("AgentSeesForms", func(t *testing.T) {
		agent := staffLogin(t, e, a, newMember(t, e, a, staff.Agent, false))
		_, body := agent.get(fmt.Sprintf("/gestion/familles/%d", fid))
		mustContain(t, "agent's family page", body, []string{
			fmt.Sprintf(`action="/gestion/familles/%d/adresses"`, fid), fmt.Sprintf(`action="/gestion/familles/%d/adresses/supprimer"`, fid),
			fmt.Sprintf(`action="/gestion/familles/%d/comptes/%d/desactiver"`, fid, accountIDOf(t, a, active)),
			fmt.Sprintf(`action="/gestion/familles/%d/activation"`, fid), `name="csrf_token"`, `name="nom"`,
		})
	})
	t.Run("Unknown", func(t *testing.T) {
		for _, p := range []string{"/gestion/familles/0", "/gestion/familles/abc", "/gestion/familles/99999999999"} {
			res, body := reader.get(p)
			expect(t, res, body, http.StatusNotFound, "")
		}
	})
}

func TestStaffFamilies_Actions(t *testing.T) {
	e := sharedEnv(t)
	first, second := uniqueAddr(t, "first"), uniqueAddr(t, "second")
	a := communeWithFamily(t, "fact", "Famille Action", first, second)
	fid := familyIDOf(t, a, "F-fact")
	path := fmt.Sprintf("/gestion/familles/%d", fid)
	target := fmt.Sprint(fid)
	agent := staffLogin(t, e, a, newMember(t, e, a, staff.Agent, false))
	admin := staffLogin(t, e, a, newMember(t, e, a, staff.Admin, false))
	emailsOf := func() []string {
		var es []string
		dbtest.DB(t).Select(&es, `SELECT email FROM family_emails WHERE tenant_id = $1 AND family_id = $2 ORDER BY email`, a.ID, fid)
		return es
	}

	t.Run("Update", func(t *testing.T) {
		res, body := agent.post(path, url.Values{"nom": {""}, "adresse": {"1 rue"}})
		expect(t, res, body, http.StatusUnprocessableEntity, "")
		mustContain(t, "rejected form", body, []string{"Nom de famille obligatoire", `aria-invalid="true"`, `value="1 rue"`})
		res, body = agent.post(path, url.Values{"nom": {"Famille Action-Durand"}, "adresse": {"2 place de l'Église"}, "code_postal": {"84000"}, "ville": {"Avignon"}})
		expect(t, res, body, http.StatusSeeOther, path)
		_, body = agent.get(path)
		mustContain(t, "updated family", body, []string{"Famille Action-Durand", "2 place de l&#39;Église", "84000 Avignon", "sont enregistrés"})
		if n := staffAuditCount(t, a, "family.update", target); n != 1 {
			t.Fatalf("%d audit rows, want 1", n)
		}
		var before, after string
		dbtest.DB(t).QueryRow(`SELECT before->>'name', after->>'name' FROM audit_log WHERE tenant_id = $1 AND action = 'family.update'`, a.ID).Scan(&before, &after)
		if before != "Famille Action" || after != "Famille Action-Durand" {
			t.Errorf("audit before %q after %q", before, after)
		}
		// the same values again change nothing and write nothing
		res, body = agent.post(path, url.Values{"nom": {"Famille Action-Durand"}, "adresse": {"2 place de l'Église"}, "code_postal": {"84000"}, "ville": {"Avignon"}})
		expect(t, res, body, http.StatusSeeOther, path)
		if n := staffAuditCount(t, a, "family.update", target); n != 1 {
			t.Fatalf("%d audit rows after no change, want 1", n)
		}
	})
	third := uniqueAddr(t, "third")
	t.Run("AddEmail", func(t *testing.T) {
		res, body := agent.post(path+"/adresses", url.Values{"email": {"pas-une-adresse"}})
		expect(t, res, body, http.StatusUnprocessableEntity, "")
		mustContain(t, "bad address", body, []string{"Adresse de messagerie invalide", `value="pas-une-adresse"`})
		res, body = agent.post(path+"/adresses", url.Values{"email": {strings.ToUpper(first)}})
		expect(t, res, body, http.StatusUnprocessableEntity, "")
		mustContain(t, "duplicate address", body, []string{"Cette adresse est déjà celle de la famille."})
		res, body = admin.post(path+"/adresses", url.Values{"email": {" " + strings.ToUpper(third) + " "}})
		expect(t, res, body, http.StatusSeeOther, path)
		if got := emailsOf(); len(got) != 3 || !strings.Contains(strings.Join(got, " "), third) {
			t.Fatalf("addresses %v", got)
		}
		if n := staffAuditCount(t, a, "family.email_add", target); n != 1 {
			t.Fatalf("%d audit rows, want 1", n)
		}
	})
	fixed := uniqueAddr(t, "fixed")
	t.Run("CorrectAndRemoveEmail", func(t *testing.T) {
		res, body := agent.post(path+"/adresses/supprimer", url.Values{"email": {third}, "action": {"corriger"}, "nouvel_email": {"faux"}})
		expect(t, res, body, http.StatusUnprocessableEntity, "")
		mustContain(t, "bad correction", body, []string{"Saisissez la nouvelle adresse", `value="faux"`})
		res, body = agent.post(path+"/adresses/supprimer", url.Values{"email": {third}, "action": {"corriger"}, "nouvel_email": {first}})
		expect(t, res, body, http.StatusUnprocessableEntity, "")
		mustContain(t, "conflicting correction", body, []string{"La famille a déjà cette adresse."})
		res, body = agent.post(path+"/adresses/supprimer", url.Values{"email": {third}, "action": {"corriger"}, "nouvel_email": {fixed}})
		expect(t, res, body, http.StatusSeeOther, path)
		if got := strings.Join(emailsOf(), " "); !strings.Contains(got, fixed) || strings.Contains(got, third) {
			t.Fatalf("addresses after correction: %s", got)
		}
		res, body = agent.post(path+"/adresses/supprimer", url.Values{"email": {fixed}, "action": {"retirer"}})
		expect(t, res, body, http.StatusSeeOther, path)
		if got := strings.Join(emailsOf(), " "); strings.Contains(got, fixed) {
			t.Fatalf("addresses after removal: %s", got)
		}
		res, body = agent.post(path+"/adresses/supprimer", url.Values{"email": {fixed}, "action": {"retirer"}})
		expect(t, res, body, http.StatusUnprocessableEntity, "")
		mustContain(t, "removal of a missing address", body, []string{"n&#39;est pas (ou plus) celle de la famille"})
		if n, m := staffAuditCount(t, a, "family.email_replace", target), staffAuditCount(t, a, "family.email_remove", target); n != 1 || m != 1 {
			t.Fatalf("%d replace and %d remove audit rows, want 1 and 1", n, m)
		}
	})
	t.Run("ResendActivation", func(t *testing.T) {
		res, body := agent.post(path+"/activation", url.Values{"email": {uniqueAddr(t, "stranger")}})
		expect(t, res, body, http.StatusUnprocessableEntity, "")
		res, body = agent.post(path+"/activation", url.Values{"email": {second}})
		expect(t, res, body, http.StatusSeeOther, path)
		link := e.mailedLink(t, second, 1)
		if !strings.HasPrefix(link, "http://"+a.Slug+".localhost:") || !strings.Contains(link, "/activation/") {
			t.Fatalf("link %s", link)
		}
		// staff are not rate-limited: a second sending works and is audited too
		res, body = agent.post(path+"/activation", url.Values{"email": {second}})
		expect(t, res, body, http.StatusSeeOther, path)
		e.mailedLink(t, second, 2)
		if n := staffAuditCount(t, a, "family.activation_resent", target); n != 2 {
			t.Fatalf("%d audit rows for two sendings, want 2", n)
		}
		// the link works
		fb := e.browser(t, a)
		res, body = fb.post(link, url.Values{"password": {"mot-de-passe-2"}, "password_confirm": {"mot-de-passe-2"}})
		expect(t, res, body, http.StatusSeeOther, "/")
	})
	t.Run("DisableAccount", func(t *testing.T) {
		fb := activate(t, e, a, first, "mot-de-passe-1")
		login(t, fb, first, "mot-de-passe-1", false)
		other := e.browser(t, a)
		login(t, other, first, "mot-de-passe-1", true)
		acc := accountIDOf(t, a, first)
		res, body := agent.post(fmt.Sprintf("%s/comptes/%d/desactiver", path, acc), url.Values{})
		expect(t, res, body, http.StatusSeeOther, path)
		for _, br := range []*browser{fb, other} {
			res, body = br.get("/factures")
			expect(t, res, body, http.StatusSeeOther, "/?next=%2Ffactures")
		}
		res, body = fb.post("/connexion", url.Values{"email": {first}, "password": {"mot-de-passe-1"}})
		expect(t, res, body, http.StatusUnauthorized, "")
		_, body = agent.get(path)
		mustContain(t, "page after disabling", body, []string{"Compte désactivé", "ne peut plus se connecter"})
		if n := staffAuditCount(t, a, "account.disable", fmt.Sprint(acc)); n != 1 {
			t.Fatalf("%d audit rows, want 1", n)
		}
		// again: nothing changes, nothing is audited
		res, body = agent.post(fmt.Sprintf("%s/comptes/%d/desactiver", path, acc), url.Values{})
		expect(t, res, body, http.StatusSeeOther, path)
		if n := staffAuditCount(t, a, "account.disable", fmt.Sprint(acc)); n != 1 {
			t.Fatalf("%d audit rows after a second click, want 1", n)
		}
	})
	t.Run("AccountOfAnotherFamily", func(t *testing.T) {
		outsider := uniqueAddr(t, "outsider")
		addFamily(t, a, "F-outsider", "Famille Autre", outsider)
		activate(t, e, a, outsider, "mot-de-passe-1")
		res, body := agent.post(fmt.Sprintf("%s/comptes/%d/desactiver", path, accountIDOf(t, a, outsider)), url.Values{})
		expect(t, res, body, http.StatusNotFound, "")
		res, body = agent.post(fmt.Sprintf("%s/comptes/%d/desactiver", path, 99999999999), url.Values{})
		expect(t, res, body, http.StatusNotFound, "")
	})
}

// TestStaffFamilies_Permissions: lecture reads and is refused every
// change; commune B's staff get 404 for commune A's ids, and nothing of A.
func TestStaffFamilies_Permissions(t *testing.T) {
	e := sharedEnv(t)
	addrA, addrB := uniqueAddr(t, "a"), uniqueAddr(t, "b")
	a := communeWithFamily(t, "fperma", "Famille Alpha", addrA)
	b := communeWithFamily(t, "fpermb", "Famille Bravo", addrB)
	fa, fb := familyIDOf(t, a, "F-fperma"), familyIDOf(t, b, "F-fpermb")
	activate(t, e, a, addrA, "mot-de-passe-1")
	activate(t, e, b, addrB, "mot-de-passe-1")
	accA, accB := accountIDOf(t, a, addrA), accountIDOf(t, b, addrB)
	posts := func(fid, acc int64, addr string) []struct {
		path string
		form url.Values
	} {
		p := fmt.Sprintf("/gestion/familles/%d", fid)
		return []struct {
			path string
			form url.Values
		}{
			{p, url.Values{"nom": {"Famille Piratée"}}},
			{p + "/adresses", url.Values{"email": {"pirate@example.fr"}}},
			{p + "/adresses/supprimer", url.Values{"email": {addr}}},
			{p + "/adresses/supprimer", url.Values{"email": {addr}, "action": {"corriger"}, "nouvel_email": {"pirate@example.fr"}}},
			{p + "/activation", url.Values{"email": {addr}}},
			{fmt.Sprintf("%s/comptes/%d/desactiver", p, acc), url.Values{}},
		}
	}

	t.Run("ReaderReadsOnly", func(t *testing.T) {
		reader := staffLogin(t, e, a, newMember(t, e, a, staff.Reader, false))
		for _, p := range []string{"/gestion/familles", "/gestion/familles?q=alpha", fmt.Sprintf("/gestion/familles/%d", fa)} {
			res, body := reader.get(p)
			expect(t, res, body, http.StatusOK, "")
		}
		for _, p := range posts(fa, accA, addrA) {
			res, body := reader.post(p.path, p.form)
			expect(t, res, body, http.StatusForbidden, "")
			mustContain(t, p.path, body, []string{"Accès refusé"})
		}
		var n int
		dbtest.DB(t).Get(&n, `SELECT count(*) FROM audit_log WHERE tenant_id = $1`, a.ID)
		if n != 0 {
			t.Fatalf("%d audit rows after refused changes", n)
		}
	})
	t.Run("OtherCommuneIs404", func(t *testing.T) {
		agentB := staffLogin(t, e, b, newMember(t, e, b, staff.Agent, false))
		res, body := agentB.get(fmt.Sprintf("/gestion/familles/%d", fa))
		expect(t, res, body, http.StatusNotFound, "")
		mustContain(t, "A's family on B's host", body, nil, "Alpha", addrA)
		res, body = agentB.get("/gestion/familles?q=" + url.QueryEscape(addrA))
		mustContain(t, "B's search for A's address", body, []string{"Aucune famille"}, "Alpha")
		res, body = agentB.get("/gestion/familles?q=F-fperma")
		mustContain(t, "B's search for A's family id", body, []string{"Aucune famille"}, "Alpha")
		for _, p := range posts(fa, accA, addrA) {
			res, body := agentB.post(p.path, p.form)
			expect(t, res, body, http.StatusNotFound, "")
			mustContain(t, p.path, body, nil, "Alpha", "Bravo", addrA, addrB)
		}
		// B's own family with A's account: still 404
		res, body = agentB.post(fmt.Sprintf("/gestion/familles/%d/comptes/%d/desactiver", fb, accA), url.Values{})
		expect(t, res, body, http.StatusNotFound, "")
		// nothing of A changed
		var name string
		var disabled, emails, audits int
		db := dbtest.DB(t)
		db.Get(&name, `SELECT name FROM families WHERE id = $1`, fa)
		db.Get(&disabled, `SELECT count(*) FROM family_accounts WHERE tenant_id = $1 AND disabled_at IS NOT NULL`, a.ID)
		db.Get(&emails, `SELECT count(*) FROM family_emails WHERE tenant_id = $1`, a.ID)
		db.Get(&audits, `SELECT count(*) FROM audit_log WHERE tenant_id IN ($1, $2)`, a.ID, b.ID)
		if name != "Famille Alpha" || disabled != 0 || emails != 1 || audits != 0 {
			t.Fatalf("commune A changed: name %q, %d disabled, %d addresses, %d audit rows", name, disabled, emails, audits)
		}
		// and B's own family works for B's agent
		res, body = agentB.post(fmt.Sprintf("/gestion/familles/%d/comptes/%d/desactiver", fb, accB), url.Values{})
		expect(t, res, body, http.StatusSeeOther, fmt.Sprintf("/gestion/familles/%d", fb))
	})
}
