package portal

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
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

// publishTwoSeries imports and publishes rows of series RS and PE (both
// created if needed; PE has its own numcli 001965).
func publishTwoSeries(t *testing.T, e *env, tn tenant.Tenant, rows ...string) {
	t.Helper()
	ctx := context.Background()
	csv := "famille;nom;email;adresse;code_postal;ville;serie;periode;libelle;quantite;prix_unitaire;echeance\n" + strings.Join(rows, "\n") + "\n"
	numcli := "001965"
	err := tenant.WithTx(ctx, dbtest.DB(t), tn.ID, func(tx *sqlx.Tx) error {
		for _, s := range []billing.Series{
			{Code: "RS", Label: "Restauration scolaire", Pattern: "{exer}-RS-00-{numero:7}", NextNumber: 8001516},
			{Code: "PE", Label: "Petite enfance", Pattern: "{exer}-PE-{numero:5}", Numcli: &numcli},
		} {
			if _, err := billing.SeriesByCode(ctx, tx, tn.ID, s.Code); err != nil {
				if _, err := billing.CreateSeries(ctx, tx, tn.ID, s); err != nil {
					return err
				}
			}
		}
		src, herrs, err := billing.NewCSVSource(strings.NewReader(csv), []string{"RS", "PE"})
		if err != nil {
			return fmt.Errorf("%w %v", err, herrs)
		}
		res, err := billing.Import(ctx, tx, tn.ID, src, billing.ImportOptions{Filename: "test.csv"})
		if err != nil {
			return fmt.Errorf("%w %v", err, res.Errors)
		}
		_, err = billing.Publish(ctx, tx, e.jobs, tn.ID, res.BatchID, time.Now())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// invoiceOf returns the id and reference of a family's invoice of a series
// and period (YYYY-MM).
func invoiceOf(t *testing.T, tn tenant.Tenant, familyRef, series, period string) (int64, string) {
	t.Helper()
	var r struct {
		ID        int64  `db:"id"`
		Reference string `db:"reference"`
	}
	err := dbtest.DB(t).Get(&r, `SELECT i.id, i.reference FROM invoices i
		JOIN families f ON f.tenant_id = i.tenant_id AND f.id = i.family_id
		JOIN series s ON s.tenant_id = i.tenant_id AND s.id = i.series_id
		WHERE i.tenant_id = $1 AND f.ref = $2 AND s.code = $3 AND i.period = ($4 || '-01')::date`, tn.ID, familyRef, series, period)
	if err != nil {
		t.Fatalf("invoice of %s %s %s: %v", familyRef, series, period, err)
	}
	return r.ID, r.Reference
}

func TestStaffInvoices(t *testing.T) {
	e := sharedEnv(t)
	a := tenanttest.MustCreate(t, dbtest.DB(t), "sinv")
	publishTwoSeries(t, e, a,
		"F1;Famille Un;"+uniqueAddr(t, "un")+";1 rue;84000;Ville;RS;10/2015;Repas;15;2,50;15/12/2099",
		"F1;Famille Un;"+uniqueAddr(t, "un")+";1 rue;84000;Ville;PE;10/2015;Crèche;1;120,00;15/12/2099",
		"F2;Famille Deux;"+uniqueAddr(t, "deux")+";2 rue;84000;Ville;RS;09/2015;Repas;4;2,50;01/10/2015",
		"F3;Famille Trois;"+uniqueAddr(t, "trois")+";3 rue;84000;Ville;RS;10/2015;Repas;7;2,50;15/12/2099",
	)
	un, unRef := invoiceOf(t, a, "F1", "RS", "2015-10")
	pe, peRef := invoiceOf(t, a, "F1", "PE", "2015-10")
	deux, deuxRef := invoiceOf(t, a, "F2", "RS", "2015-09")
	trois, troisRef := invoiceOf(t, a, "F3", "RS", "2015-10")
	b := tenanttest.MustCreate(t, dbtest.DB(t), "sinvb")
	publishCSV(t, e, b, "V1;Famille Ailleurs;"+uniqueAddr(t, "ailleurs")+";2 rue;84570;Villes;RS;10/2015;Repas cantine;9;3,10;15/12/2099")
	theirs, _ := invoiceOf(t, b, "V1", "RS", "2015-10")

	reader := staffLogin(t, e, a, newMember(t, e, a, staff.Reader, false))
	agent := staffLogin(t, e, a, newMember(t, e, a, staff.Agent, false))
	admin := staffLogin(t, e, a, newMember(t, e, a, staff.Admin, false))
	link := func(id int64) string { return fmt.Sprintf(`href="/gestion/factures/%d"`, id) }

	t.Run("Filters", func(t *testing.T) {
		all := []int64{un, pe, deux, trois}
		for _, c := range []struct {
			query  string
			want   []int64
			totals []string
		}{
			{"", all, []string{"4 facture(s)", "185,00\u00a0€"}},
			{"periode=2015-10", []int64{un, pe, trois}, []string{"3 facture(s)", "175,00\u00a0€"}},
			{"periode=10%2F2015", []int64{un, pe, trois}, nil},
			{"serie=PE", []int64{pe}, []string{"1 facture(s)", "120,00\u00a0€"}},
			{"serie=rs&periode=2015-10", []int64{un, trois}, []string{"2 facture(s)", "55,00\u00a0€"}},
			{"statut=overdue", []int64{deux}, []string{"10,00\u00a0€", "En retard"}},
			{"statut=published", all, nil},
			{"statut=paid", nil, nil},
			{"statut=draft", nil, nil},
			{"serie=XX", nil, nil},
		} {
			res, body := reader.get("/gestion/factures?" + c.query)
			expect(t, res, body, http.StatusOK, "")
			for _, id := range all {
				if want := slices.Contains(c.want, id); strings.Contains(body, link(id)) != want {
					t.Errorf("%s: invoice %d shown %v, want %v", c.query, id, !want, want)
				}
			}
			mustContain(t, c.query, body, c.totals, "Ailleurs", link(theirs))
		}
		_, body := reader.get("/gestion/factures")
		mustContain(t, "list", body, []string{unRef, "Famille Un", "octobre 2015", "37,50\u00a0€", "15/12/2099", "À payer", deuxRef, "En retard", "RS — Restauration scolaire"})
		if strings.Index(body, link(un)) > strings.Index(body, link(deux)) {
			t.Error("the list is not newest period first")
		}
		res, body := reader.get("/gestion/factures?periode=2015-13")
		expect(t, res, body, http.StatusUnprocessableEntity, "")
		mustContain(t, "bad period", body, []string{"Période invalide", `aria-invalid="true"`})
	})
	t.Run("Detail", func(t *testing.T) {
		if _, err := dbtest.DB(t).Exec(`INSERT INTO payment_attempts (tenant_id, invoice_id, protocol, mode, saisie, numcli, refdet, exer,
				amount_cents, payer_email, idop, status, resultrans, numauto, lookups, settled_at)
			VALUES ($1, $2, 'payfip', 'test', 'T', '001964', 'X', 2015, 1750, 'x@example.fr', $3, 'refused', 'R', '', 2, now())`,
			a.ID, trois, "idop-"+a.Slug); err != nil {
			t.Fatal(err)
		}
		res, body := reader.get(fmt.Sprintf("/gestion/factures/%d", trois))
		expect(t, res, body, http.StatusOK, "")
		refdet := strings.ReplaceAll(troisRef, "-", "")
		mustContain(t, "detail", body, []string{"Facture " + troisRef, refdet, "001964", "Famille Trois", "F3",
			fmt.Sprintf(`href="/gestion/familles/%d"`, familyIDOf(t, a, "F3")), "Repas", "17,50\u00a0€", "15/12/2099",
			"Refusée", "idop-" + a.Slug, "resultrans R", "saisie T", "test", "Aucun paiement reçu", "/pdf"},
			// lecture: no forms
			`action="/gestion/factures/`)
		_, body = reader.get(fmt.Sprintf("/gestion/factures/%d", pe))
		mustContain(t, "PE detail", body, []string{peRef, "001965", "Petite enfance", "Crèche", "120,00\u00a0€"})
		_, body = agent.get(fmt.Sprintf("/gestion/factures/%d", un))
		mustContain(t, "agent's detail", body, []string{fmt.Sprintf(`action="/gestion/factures/%d/paiement"`, un),
			fmt.Sprintf(`action="/gestion/factures/%d/annuler"`, un), `value="37,50"`, "Espèces", "Chèque", "Carte bancaire en mairie"})
		for _, p := range []string{"/gestion/factures/0", "/gestion/factures/abc", "/gestion/factures/99999999999", "/gestion/factures/99999999999/pdf"} {
			res, body := reader.get(p)
			expect(t, res, body, http.StatusNotFound, "")
		}
	})
	t.Run("PDF", func(t *testing.T) {
		res, body := reader.get(fmt.Sprintf("/gestion/factures/%d/pdf", un))
		expect(t, res, "", http.StatusOK, "")
		if res.Header.Get("Content-Type") != "application/pdf" || !strings.HasPrefix(body, "%PDF-") {
			t.Fatalf("content type %q", res.Header.Get("Content-Type"))
		}
		var key string
		dbtest.DB(t).Get(&key, `SELECT pdf_key FROM invoices WHERE tenant_id = $1 AND id = $2`, a.ID, un)
		if key == "" {
			t.Fatal("the PDF was not stored for the family")
		}
	})
	t.Run("Cancel", func(t *testing.T) {
		path := fmt.Sprintf("/gestion/factures/%d/annuler", trois)
		res, body := agent.post(path, url.Values{"motif": {"  "}})
		expect(t, res, body, http.StatusUnprocessableEntity, "")
		mustContain(t, "no reason", body, []string{"Le motif d&#39;annulation est obligatoire"})
		res, body = agent.post(path, url.Values{"motif": {"Erreur de saisie des repas"}})
		expect(t, res, body, http.StatusSeeOther, fmt.Sprintf("/gestion/factures/%d", trois))
		_, body = agent.get(fmt.Sprintf("/gestion/factures/%d", trois))
		mustContain(t, "cancelled", body, []string{"Annulée", "Erreur de saisie des repas", troisRef + " annulée"})
		res, body = agent.post(path, url.Values{"motif": {"encore"}})
		expect(t, res, body, http.StatusUnprocessableEntity, "")
		mustContain(t, "cancelled twice", body, []string{"Cette facture est déjà annulée."})
		if n := staffAuditCount(t, a, "invoice.cancel", fmt.Sprint(trois)); n != 1 {
			t.Fatalf("%d audit rows, want 1", n)
		}
		_, body = reader.get("/gestion/factures?statut=cancelled")
		if !strings.Contains(body, link(trois)) || strings.Contains(body, link(un)) {
			t.Errorf("cancelled filter:\n%s", body)
		}
		// an administrator may too
		res, body = admin.post(fmt.Sprintf("/gestion/factures/%d/annuler", pe), url.Values{"motif": {"Doublon"}})
		expect(t, res, body, http.StatusSeeOther, fmt.Sprintf("/gestion/factures/%d", pe))
	})
	t.Run("CounterPayment", func(t *testing.T) {
		path := fmt.Sprintf("/gestion/factures/%d/paiement", un)
		page := fmt.Sprintf("/gestion/factures/%d", un)
		now := time.Now().In(tenant.Paris)
		today, yesterday, tomorrow := now.Format("02/01/2006"), now.AddDate(0, 0, -1).Format("2006-01-02"), now.AddDate(0, 0, 1).Format("2006-01-02")
		for _, c := range []struct {
			form url.Values
			want string
		}{
			{url.Values{"date": {today}, "moyen": {""}}, "Choisissez le moyen de paiement."},
			{url.Values{"date": {tomorrow}, "moyen": {"cash"}}, "ne peut pas être après aujourd&#39;hui"},
			{url.Values{"date": {"31/02/2026"}, "moyen": {"cash"}}, "Date invalide"},
			{url.Values{"date": {today}, "moyen": {"cash"}, "montant": {"douze"}}, "Montant invalide"},
			{url.Values{"date": {today}, "moyen": {"cash"}, "montant": {"0"}}, "Le montant doit être positif."},
		} {
			res, body := agent.post(path, c.form)
			expect(t, res, body, http.StatusUnprocessableEntity, "")
			mustContain(t, fmt.Sprint(c.form), body, []string{c.want, `aria-invalid="true"`})
		}
		res, body := agent.post(path, url.Values{"date": {today}, "moyen": {"cash"}, "montant": {""}, "note": {"quittance 42"}})
		expect(t, res, body, http.StatusSeeOther, page)
		_, body = agent.get(page)
		mustContain(t, "paid", body, []string{"Paiement enregistré : facture payée", "Payée", "Guichet de la mairie — Espèces", "quittance 42", "A réglé la facture"}, "Trop-perçu")
		res, body = agent.post(path, url.Values{"date": {yesterday}, "moyen": {"cheque"}, "montant": {"37,50 €"}, "note": {"chèque n° 123"}})
		expect(t, res, body, http.StatusSeeOther, page)
		_, body = agent.get(page)
		mustContain(t, "overpaid", body, []string{"Facture déjà payée : trop-perçu enregistré, à rembourser", "Chèque", "chèque n° 123",
			"Trop-perçu — à rembourser", "Trop-perçus", "facture déjà payée", "À rembourser"})
		var paid, applied, overs int
		var status string
		db := dbtest.DB(t)
		db.Get(&status, `SELECT status FROM invoices WHERE tenant_id = $1 AND id = $2`, a.ID, un)
		db.Get(&paid, `SELECT count(*) FROM payments WHERE tenant_id = $1 AND invoice_id = $2 AND channel = 'counter'`, a.ID, un)
		db.Get(&applied, `SELECT count(*) FROM payments WHERE tenant_id = $1 AND invoice_id = $2 AND applied`, a.ID, un)
		db.Get(&overs, `SELECT count(*) FROM overpayments WHERE tenant_id = $1 AND invoice_id = $2 AND amount_cents = 3750`, a.ID, un)
		if status != "paid" || paid != 2 || applied != 1 || overs != 1 {
			t.Fatalf("status %s, %d counter payments, %d applied, %d overpayments; want paid, 2, 1, 1", status, paid, applied, overs)
		}
		if n := staffAuditCount(t, a, "invoice.counter_payment", fmt.Sprint(un)); n != 2 {
			t.Fatalf("%d audit rows, want 2", n)
		}
		res, body = agent.post(fmt.Sprintf("/gestion/factures/%d/annuler", un), url.Values{"motif": {"trop tard"}})
		expect(t, res, body, http.StatusUnprocessableEntity, "")
		mustContain(t, "cancel a paid invoice", body, []string{"Une facture payée ne peut pas être annulée"})
		_, body = reader.get("/gestion/factures?statut=paid")
		if !strings.Contains(body, link(un)) || strings.Contains(body, link(deux)) {
			t.Errorf("paid filter:\n%s", body)
		}
	})
}

// TestStaffInvoices_Permissions: lecture reads and is refused every
// change; commune B's staff get 404 for commune A's invoices.
func TestStaffInvoices_Permissions(t *testing.T) {
	e := sharedEnv(t)
	a := tenanttest.MustCreate(t, dbtest.DB(t), "sinvpa")
	publishCSV(t, e, a, "A1;Famille Alpha;"+uniqueAddr(t, "alpha")+";1 rue;84000;Ville;RS;10/2015;Repas;15;2,50;15/12/2099")
	b := tenanttest.MustCreate(t, dbtest.DB(t), "sinvpb")
	publishCSV(t, e, b, "B1;Famille Bravo;"+uniqueAddr(t, "bravo")+";1 rue;84000;Ville;RS;10/2015;Repas;15;2,50;15/12/2099")
	ia, refA := invoiceOf(t, a, "A1", "RS", "2015-10")
	ib, _ := invoiceOf(t, b, "B1", "RS", "2015-10")
	today := time.Now().In(tenant.Paris).Format("02/01/2006")
	posts := func(id int64) map[string]url.Values {
		return map[string]url.Values{
			fmt.Sprintf("/gestion/factures/%d/annuler", id):  {"motif": {"piratage"}},
			fmt.Sprintf("/gestion/factures/%d/paiement", id): {"date": {today}, "moyen": {"cash"}},
		}
	}
	unchanged := func(t *testing.T) {
		t.Helper()
		var status string
		var pays, audits int
		db := dbtest.DB(t)
		db.Get(&status, `SELECT status FROM invoices WHERE id = $1`, ia)
		db.Get(&pays, `SELECT count(*) FROM payments WHERE invoice_id = $1`, ia)
		db.Get(&audits, `SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND target_type = 'invoice'`, a.ID)
		if status != "published" || pays != 0 || audits != 0 {
			t.Fatalf("A's invoice changed: %s, %d payments, %d audit rows", status, pays, audits)
		}
	}

	t.Run("ReaderReadsOnly", func(t *testing.T) {
		reader := staffLogin(t, e, a, newMember(t, e, a, staff.Reader, false))
		for _, p := range []string{"/gestion/factures", fmt.Sprintf("/gestion/factures/%d", ia), fmt.Sprintf("/gestion/factures/%d/pdf", ia)} {
			res, body := reader.get(p)
			expect(t, res, body, http.StatusOK, "")
		}
		for p, form := range posts(ia) {
			res, body := reader.post(p, form)
			expect(t, res, body, http.StatusForbidden, "")
		}
		unchanged(t)
	})
	t.Run("OtherCommuneIs404", func(t *testing.T) {
		agentB := staffLogin(t, e, b, newMember(t, e, b, staff.Agent, false))
		for _, p := range []string{fmt.Sprintf("/gestion/factures/%d", ia), fmt.Sprintf("/gestion/factures/%d/pdf", ia)} {
			res, body := agentB.get(p)
			expect(t, res, body, http.StatusNotFound, "")
			mustContain(t, p, body, nil, "Alpha", refA)
		}
		for p, form := range posts(ia) {
			res, body := agentB.post(p, form)
			expect(t, res, body, http.StatusNotFound, "")
			mustContain(t, p, body, nil, "Alpha", "Bravo", refA)
		}
		_, body := agentB.get("/gestion/factures")
		mustContain(t, "B's list", body, []string{fmt.Sprintf(`href="/gestion/factures/%d"`, ib), "Bravo"}, "Alpha", fmt.Sprintf(`href="/gestion/factures/%d"`, ia))
		unchanged(t)
		// B's agent acts on B's invoice
		res, body := agentB.post(fmt.Sprintf("/gestion/factures/%d/paiement", ib), url.Values{"date": {today}, "moyen": {"counter_card"}})
		expect(t, res, body, http.StatusSeeOther, fmt.Sprintf("/gestion/factures/%d", ib))
	})
}
