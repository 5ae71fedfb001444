package portal

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/migrations/dbtest"
	"github.com/regie/regie/tenant"
	"github.com/regie/regie/tenant/tenanttest"
)

// publishCSV creates series RS in the commune if needed, imports the CSV
// rows (header added) and publishes the batch; it returns the batch id.
func publishCSV(t *testing.T, e *env, tn tenant.Tenant, rows ...string) int64 {
	t.Helper()
	ctx := context.Background()
	csv := "famille;nom;email;adresse;code_postal;ville;serie;periode;libelle;quantite;prix_unitaire;echeance\n" + strings.Join(rows, "\n") + "\n"
	var batch int64
	err := tenant.WithTx(ctx, dbtest.DB(t), tn.ID, func(tx *sqlx.Tx) error {
		if _, err := billing.SeriesByCode(ctx, tx, tn.ID, "RS"); err != nil {
			if _, err := billing.CreateSeries(ctx, tx, tn.ID, billing.Series{Code: "RS", Label: "Restauration scolaire", Pattern: "{exer}-RS-00-{numero:7}", NextNumber: 8001516}); err != nil {
				return err
			}
		}
		src, herrs, err := billing.NewCSVSource(strings.NewReader(csv), []string{"RS"})
		if err != nil {
			return fmt.Errorf("%w %v", err, herrs)
		}
		res, err := billing.Import(ctx, tx, tn.ID, src, billing.ImportOptions{Filename: "test.csv"})
		if err != nil {
			return fmt.Errorf("%w %v", err, res.Errors)
		}
		batch = res.BatchID
		_, err = billing.Publish(ctx, tx, e.jobs, tn.ID, batch, time.Now())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return batch
}

func invoiceID(t *testing.T, tn tenant.Tenant, ref string) int64 {
	t.Helper()
	var id int64
	err := tenant.WithTx(context.Background(), dbtest.DB(t), tn.ID, func(tx *sqlx.Tx) error {
		inv, err := billing.InvoiceByReference(context.Background(), tx, tn.ID, ref)
		id = inv.ID
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestInvoices(t *testing.T) {
	e := sharedEnv(t)
	martin, other, granny := uniqueAddr(t, "martin"), uniqueAddr(t, "other"), uniqueAddr(t, "granny")
	a := tenanttest.MustCreate(t, dbtest.DB(t), "inva", func(t *tenant.Tenant) { t.Name = "Mairie de Démonstration" })
	publishCSV(t, e, a,
		"F1;Famille Martin;"+martin+" "+granny+";12 rue des Écoles;84000;Démonstration;RS;10/2015;Repas;15;2,50;15/12/2099",
		"F2;Famille Secrète;"+other+";1 rue Cachée;84000;Démonstration;RS;10/2015;Repas;7;2,50;15/12/2099",
		"F3;Famille Roux;"+granny+";5 impasse;84000;Démonstration;RS;09/2015;Repas;4;2,50;01/10/2015",
	)
	// numbered by period, then family name
	roux, mine, secret := invoiceID(t, a, "2015-RS-00-8001516"), invoiceID(t, a, "2015-RS-00-8001517"), invoiceID(t, a, "2015-RS-00-8001518")
	b := tenanttest.MustCreate(t, dbtest.DB(t), "invb", func(t *tenant.Tenant) { t.Name = "Mairie de Villes-sur-Auzon" })
	publishCSV(t, e, b, "V1;Famille Ailleurs;"+martin+";2 rue;84570;Villes;RS;10/2015;Repas cantine;9;3,10;15/12/2099")
	theirs := invoiceID(t, b, "2015-RS-00-8001516")

	br := activate(t, e, a, martin, "mot-de-passe-1")
	login(t, br, martin, "mot-de-passe-1", false)

	t.Run("List", func(t *testing.T) {
		res, body := br.get("/factures")
		expect(t, res, body, http.StatusOK, "")
		for _, w := range []string{"Mes factures", "2015-RS-00-8001517", "37,50\u00a0€", "15/12/2099", "octobre 2015", "À payer", fmt.Sprintf(`href="/factures/%d"`, mine)} {
			if !strings.Contains(body, w) {
				t.Errorf("list lacks %q", w)
			}
		}
		for _, w := range []string{"Secrète", "2015-RS-00-8001518", "Ailleurs", "Roux", "8001516"} {
			if strings.Contains(body, w) {
				t.Errorf("list shows %q", w)
			}
		}
	})
	t.Run("Detail", func(t *testing.T) {
		res, body := br.get(fmt.Sprintf("/factures/%d", mine))
		expect(t, res, body, http.StatusOK, "")
		for _, w := range []string{"Facture 2015-RS-00-8001517", "Famille Martin", "Repas", "15", "2,50\u00a0€", "37,50\u00a0€", "Restauration scolaire", "/pdf"} {
			if !strings.Contains(body, w) {
				t.Errorf("detail lacks %q", w)
			}
		}
	})
	t.Run("OthersAre404", func(t *testing.T) {
		for _, path := range []string{
			fmt.Sprintf("/factures/%d", secret), fmt.Sprintf("/factures/%d/pdf", secret),
			fmt.Sprintf("/factures/%d", theirs), fmt.Sprintf("/factures/%d/pdf", theirs),
			fmt.Sprintf("/factures/%d", roux), "/factures/0", "/factures/abc", "/factures/99999999999999",
		} {
			res, body := br.get(path)
			expect(t, res, body, http.StatusNotFound, "")
			for _, leak := range []string{"Secrète", "Ailleurs", "8001518", "Roux"} {
				if strings.Contains(body, leak) {
					t.Errorf("%s leaks %q", path, leak)
				}
			}
		}
	})
	t.Run("LoggedOutGoesThroughLogin", func(t *testing.T) {
		fresh := e.browser(t, a)
		path := fmt.Sprintf("/factures/%d", mine)
		res, body := fresh.get(path)
		expect(t, res, body, http.StatusSeeOther, "/?next="+url.QueryEscape(path))
		res, body = fresh.post("/connexion", url.Values{"email": {martin}, "password": {"mot-de-passe-1"}, "next": {path}})
		expect(t, res, body, http.StatusSeeOther, path)
	})
	t.Run("PDF", func(t *testing.T) {
		res, body := br.get(fmt.Sprintf("/factures/%d/pdf", mine))
		expect(t, res, "", http.StatusOK, "")
		if res.Header.Get("Content-Type") != "application/pdf" || !strings.HasPrefix(body, "%PDF-") {
			t.Fatalf("content type %q", res.Header.Get("Content-Type"))
		}
		cmd := exec.Command("pdftotext", "-layout", "-", "-")
		cmd.Stdin = strings.NewReader(body)
		text, err := cmd.Output()
		if err != nil {
			t.Fatalf("pdftotext: %v", err)
		}
		if res.ContentLength != int64(len(body)) {
			t.Errorf("Content-Length %d for %d bytes", res.ContentLength, len(body))
		}
		if cd := res.Header.Get("Content-Disposition"); cd != `inline; filename="facture-2015-RS-00-8001517.pdf"` {
			t.Errorf("Content-Disposition %q", cd)
		}
		for _, w := range []string{"2015-RS-00-8001517", "37,50", "001964", "Famille Martin", "12 rue des", "84000", "Restauration scolaire"} {
			if !bytes.Contains(text, []byte(w)) {
				t.Errorf("PDF lacks %q", w)
			}
		}
		// stored once, then served from the store unchanged
		var key string
		dbtest.DB(t).Get(&key, `SELECT pdf_key FROM invoices WHERE tenant_id = $1 AND id = $2`, a.ID, mine)
		if key != fmt.Sprintf("tenants/%d/invoices/%d.pdf", a.ID, mine) {
			t.Fatalf("pdf_key %q", key)
		}
		_, again := br.get(fmt.Sprintf("/factures/%d/pdf", mine))
		if again != body {
			t.Fatal("the second download differs from the first")
		}
	})
	t.Run("Cancelled", func(t *testing.T) {
		err := tenant.WithTx(context.Background(), dbtest.DB(t), a.ID, func(tx *sqlx.Tx) error {
			_, err := billing.CancelInvoice(context.Background(), tx, a.ID, "2015-RS-00-8001517", "Repas facturés deux fois", time.Now())
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		_, body := br.get(fmt.Sprintf("/factures/%d", mine))
		if !strings.Contains(body, "Annulée") || !strings.Contains(body, "Repas facturés deux fois") {
			t.Fatalf("cancelled invoice page:\n%s", body)
		}
		_, body = br.get("/factures")
		if !strings.Contains(body, "Annulée") {
			t.Fatal("the list does not say annulée")
		}
	})
	t.Run("GrandparentSeesBoth", func(t *testing.T) {
		g := activate(t, e, a, granny, "mot-de-passe-2")
		login(t, g, granny, "mot-de-passe-2", false)
		_, body := g.get("/factures")
		if !strings.Contains(body, "Famille Martin") || !strings.Contains(body, "Famille Roux") || !strings.Contains(body, "En retard") {
			t.Fatalf("grandparent's list:\n%s", body)
		}
	})
}

// TestPublicationMails: one mail per account per batch, none to opted-out
// accounts, none twice when the job runs again, an invitation for addresses
// without an account.
func TestPublicationMails(t *testing.T) {
	e := sharedEnv(t)
	withAccount, optedOut, noAccount := uniqueAddr(t, "with"), uniqueAddr(t, "optout"), uniqueAddr(t, "none")
	tn := tenanttest.MustCreate(t, dbtest.DB(t), "pubmail")
	addFamily(t, tn, "P1", "Famille Un", withAccount)
	addFamily(t, tn, "P2", "Famille Deux", optedOut, withAccount)
	addFamily(t, tn, "P3", "Famille Trois", noAccount)
	activate(t, e, tn, withAccount, "mot-de-passe-1")
	ob := activate(t, e, tn, optedOut, "mot-de-passe-1")
	login(t, ob, optedOut, "mot-de-passe-1", false)
	ob.post("/compte/notifications", url.Values{}) // turns them off
	before := map[string]int{}
	for _, a := range []string{withAccount, optedOut, noAccount} {
		before[a] = len(e.box.To(a))
	}

	batch := publishCSV(t, e, tn,
		"P1;Famille Un;"+withAccount+";;;;RS;10/2026;Repas;10;2,50;15/11/2026",
		"P2;Famille Deux;"+optedOut+" "+withAccount+";;;;RS;10/2026;Repas;4;2,50;15/11/2026",
		"P3;Famille Trois;"+noAccount+";;;;RS;10/2026;Repas;2;2,50;15/11/2026",
	)
	e.waitJobs(t, "billing.invoices_published", fmt.Sprintf(`"batch_id": %d`, batch))
	e.waitJobs(t, "mail.send", `"mail_ids"`)

	got := e.box.To(withAccount)[before[withAccount]:]
	if len(got) != 1 {
		t.Fatalf("%d mails to the account, want 1 listing both families", len(got))
	}
	m := got[0]
	if m.Subject != "Vos factures d'octobre 2026 sont disponibles" || !strings.Contains(m.Text, "Famille Un") || !strings.Contains(m.Text, "Famille Deux") ||
		!strings.Contains(m.Text, "/factures/") || !strings.Contains(m.Text, "25,00\u00a0€") {
		t.Fatalf("mail %q:\n%s", m.Subject, m.Text)
	}
	if n := len(e.box.To(optedOut)) - before[optedOut]; n != 0 {
		t.Fatalf("%d mail(s) to an account that opted out", n)
	}
	inv := e.box.To(noAccount)[before[noAccount]:]
	if len(inv) != 1 || !strings.Contains(inv[0].Text, "/activation?email=") || inv[0].Subject != "Votre facture d'octobre 2026 est disponible" {
		t.Fatalf("invitation: %+v", inv)
	}

	// the job again (a retry): nothing more is sent
	if _, err := e.jobs.Insert(context.Background(), billing.InvoicesPublished{TenantID: tn.ID, BatchID: batch}, nil); err != nil {
		t.Fatal(err)
	}
	e.waitJobs(t, "billing.invoices_published", fmt.Sprintf(`"batch_id": %d`, batch))
	e.waitJobs(t, "mail.send", `"mail_ids"`)
	if n := len(e.box.To(withAccount)) - before[withAccount]; n != 1 {
		t.Fatalf("after a retried job the account has %d mails, want 1", n)
	}
}

func TestPublicationSubject(t *testing.T) {
	at := func(m int) publishedRow {
		return publishedRow{Period: time.Date(2026, time.Month(m), 1, 0, 0, 0, 0, time.UTC)}
	}
	for _, c := range []struct {
		rows []publishedRow
		want string
	}{
		{[]publishedRow{at(10)}, "Votre facture d'octobre 2026 est disponible"},
		{[]publishedRow{at(4)}, "Votre facture d'avril 2026 est disponible"},
		{[]publishedRow{at(8)}, "Votre facture d'août 2026 est disponible"},
		{[]publishedRow{at(9), at(9)}, "Vos factures de septembre 2026 sont disponibles"},
		{[]publishedRow{at(9), at(10)}, "Vos nouvelles factures sont disponibles"},
	} {
		periods := map[string]bool{}
		for _, r := range c.rows {
			periods[billing.PeriodLabel(r.Period)] = true
		}
		if got := publicationSubject(c.rows, periods); got != c.want {
			t.Errorf("got %q, want %q", got, c.want)
		}
	}
}

// BenchmarkRenderInvoices renders "Mes factures" with 16 invoices, about
// the seeded families' average (BENCHMARKS.md: the rows written in the
// template were a third of the page's server CPU, 7-18 µs a row in
// html/template's escapers; invoicesView.Rows writes them now).
func BenchmarkRenderInvoices(b *testing.B) {
	v := testViews(b)
	view := invoicesView{Page: Page{Title: "Mes factures", Tenant: &tenant.Tenant{Name: "Ville-sur-Loire"}, CSRF: "jeton", Account: "parent@exemple.fr"}}
	for i := range 16 {
		view.Invoices = append(view.Invoices, invoiceRow{ID: int64(1000 + i), Reference: "RS-2026-000123", Family: "Dupont",
			Series: "Restauration scolaire", Period: "Octobre 2026", Amount: "12,50 €", DueDate: "15/11/2026",
			Status: billing.StatusDue, StatusClass: "due", Payable: true})
	}
	t := v.pages["invoices.html"]
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		if err := t.ExecuteTemplate(&buf, "base", view); err != nil {
			b.Fatal(err)
		}
	}
}

// Rows escapes every value it writes, in text and attributes alike, and
// the page's template writes the rows as they are.
func TestInvoicesView_Rows(t *testing.T) {
	r := invoiceRow{ID: 42, Reference: "R<1>", Family: `"Dupont" & fils`, Series: "<script>alert(1)</script>", Period: "Octobre 2026",
		Amount: "12,50 €", DueDate: "15/11/2026", Status: billing.StatusDue, StatusClass: `due" onclick="x`}
	view := invoicesView{Page: Page{Title: "Mes factures", Tenant: &tenant.Tenant{Name: "Ville"}}, Invoices: []invoiceRow{r, r}, ManyFamilies: true}
	got := string(view.Rows())
	for _, want := range []string{`<td data-label="Période">Octobre 2026<br><span class="help">&lt;script&gt;alert(1)&lt;/script&gt;</span></td>`,
		`<a href="/factures/42">R&lt;1&gt;</a>`, `<td data-label="Famille">&#34;Dupont&#34; &amp; fils</td>`,
		`<td data-label="Montant" class="num">12,50 €</td>`, `<td data-label="Échéance">15/11/2026</td>`,
		`<span class="status due&#34; onclick=&#34;x">` + string(billing.StatusDue) + `</span>`} {
		if strings.Count(got, want) != 2 {
			t.Errorf("rows lack %s twice:\n%s", want, got)
		}
	}
	one := view
	one.ManyFamilies = false
	if rows := string(one.Rows()); strings.Contains(rows, "Famille") {
		t.Errorf("a single family's rows have a Famille cell:\n%s", rows)
	}

	var buf bytes.Buffer
	if err := testViews(t).pages["invoices.html"].ExecuteTemplate(&buf, "base", view); err != nil {
		t.Fatal(err)
	}
	if page := buf.String(); !strings.Contains(page, got) || !strings.Contains(page, `<th scope="col">Famille</th>`) {
		t.Fatalf("the page does not hold its rows as written:\n%s", page)
	}
}

// TestInvoicePDF_Logo: a commune's logo is on its invoices' PDFs. When the
// logo cannot be read, the family still gets the PDF, without it, and that
// PDF is not stored: the next request renders it again, with the logo once
// it can be read, and stores that one.
func TestInvoicePDF_Logo(t *testing.T) {
	e := sharedEnv(t)
	ctx := context.Background()
	addr := uniqueAddr(t, "logo")
	tn := tenanttest.MustCreate(t, dbtest.DB(t), "pdflogo")
	logoKey := fmt.Sprintf("tenants/%d/logo-test.png", tn.ID)
	err := tenant.WithTx(ctx, dbtest.DB(t), tn.ID, func(tx *sqlx.Tx) error {
		_, _, err := tenant.SetLogo(ctx, tx, tn.ID, logoKey)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	publishCSV(t, e, tn, "F1;Famille Martin;"+addr+";12 rue;84000;Démo;RS;10/2015;Repas;15;2,50;15/12/2099")
	id := invoiceID(t, tn, "2015-RS-00-8001516")
	b := activate(t, e, tn, addr, "mot-de-passe-1")
	login(t, b, addr, "mot-de-passe-1", false)
	pdfKey := func() string {
		var key string
		if err := dbtest.DB(t).Get(&key, `SELECT pdf_key FROM invoices WHERE tenant_id = $1 AND id = $2`, tn.ID, id); err != nil {
			t.Fatal(err)
		}
		return key
	}
	get := func() string {
		res, body := b.get(fmt.Sprintf("/factures/%d/pdf", id))
		expect(t, res, "", http.StatusOK, "")
		if !strings.HasPrefix(body, "%PDF-") || res.ContentLength != int64(len(body)) {
			t.Fatalf("not a whole PDF: Content-Length %d, %d bytes", res.ContentLength, len(body))
		}
		return body
	}

	// the logo is not in the store
	if body := get(); strings.Contains(body, "/Subtype /Image") {
		t.Fatal("a PDF with a logo that could not be read")
	}
	if key := pdfKey(); key != "" {
		t.Fatalf("the PDF without its logo was recorded: %q", key)
	}

	png := logoImage(t, 40, 20, logoPNG, false)
	if err := e.docs.Put(ctx, logoKey, bytes.NewReader(png), int64(len(png)), "image/png"); err != nil {
		t.Fatal(err)
	}
	first := get()
	if !strings.Contains(first, "/Subtype /Image") {
		t.Fatal("the PDF lacks the logo")
	}
	if key := pdfKey(); key != fmt.Sprintf("tenants/%d/invoices/%d.pdf", tn.ID, id) {
		t.Fatalf("pdf_key %q", key)
	}
	if again := get(); again != first {
		t.Fatal("the stored PDF differs from the one served first")
	}
}
