package portal

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/regie/regie/migrations/dbtest"
	"github.com/regie/regie/tenant"
	"github.com/regie/regie/tenant/tenanttest"
)

// sim drives the DGFiP stand-in's pages as the family's browser would: same
// cookie jar, following nothing automatically.
func (b *browser) simForm(t *testing.T, target string, form url.Values) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res
}

// payOnStandIn follows DGFiP's pages from the payment page URL with a card
// (or Annuler when card is empty) and returns where the browser is sent
// back to.
func (b *browser) payOnStandIn(t *testing.T, pageURL, card string) string {
	t.Helper()
	res, err := b.c.Get(pageURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "Carte bancaire") {
		t.Fatalf("stand-in page: %d\n%s", res.StatusCode, body)
	}
	u, _ := url.Parse(pageURL)
	idOp := u.Query().Get("idop")
	step := u.Scheme + "://" + u.Host + "/tpa/paiementws.web"
	if card == "" {
		res = b.simForm(t, step, url.Values{"idop": {idOp}, "etape": {"choix"}, "action": {"annuler"}})
	} else {
		b.simForm(t, step, url.Values{"idop": {idOp}, "etape": {"choix"}, "moyen": {"carte"}, "action": {"continuer"}})
		res = b.simForm(t, step, url.Values{"idop": {idOp}, "etape": {"carte"}, "numero": {card}, "mois": {"12"},
			"annee": {fmt.Sprint(time.Now().Year() + 2)}, "cryptogramme": {"123"}, "action": {"valider"}})
	}
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("stand-in ended with %d, want a 303 back to the portal", res.StatusCode)
	}
	return res.Header.Get("Location")
}

// TestPaymentGuide follows the end of the commune guide over HTTP: the TIPI
// page, the access test, the payment on DGFiP's (stand-in) pages, the
// return, the invoice paid, the receipt mail; the stand-in's notification
// really reaches paiement.localhost.
func TestPaymentGuide(t *testing.T) {
	e := sharedEnv(t)
	addr := uniqueAddr(t, "payer")
	tn := tenanttest.MustCreate(t, dbtest.DB(t), "pay", func(t *tenant.Tenant) { t.Name = "Mairie de Démonstration" })
	publishCSV(t, e, tn, "F1;Famille Martin;"+addr+";12 rue;84000;Démo;RS;10/2015;Repas;15;2,50;15/12/2099")
	id := invoiceID(t, tn, "2015-RS-00-8001516")
	b := activate(t, e, tn, addr, "mot-de-passe-1")
	login(t, b, addr, "mot-de-passe-1", false)
	notifiedBefore := e.sim.Stats().Notifications

	res, body := b.get(fmt.Sprintf("/factures/%d", id))
	if !strings.Contains(body, fmt.Sprintf(`href="/factures/%d/tipi"`, id)) {
		t.Fatalf("invoice page lacks the way to pay:\n%s", body)
	}
	res, body = b.get(fmt.Sprintf("/factures/%d/tipi", id))
	expect(t, res, body, http.StatusOK, "")
	for _, w := range []string{"Identifiant collectivité", "001964", "Montant de la facture", "37,50\u00a0€", "Référence de la facture",
		"2015-RS-00-8001516", "Tester l'accès au portail TIPI", "Accès à l'écran de paiement TIPI", "Paiement en mode test — aucun débit réel"} {
		if !strings.Contains(body, w) {
			t.Errorf("TIPI page lacks %q", w)
		}
	}
	res, body = b.get(fmt.Sprintf("/factures/%d/tipi/test", id))
	expect(t, res, body, http.StatusOK, "")
	if !strings.Contains(body, "Le paiement en ligne est disponible") || !strings.Contains(body, "MAIRIE DE TEST") {
		t.Fatalf("access test:\n%s", body)
	}

	res, body = b.post(fmt.Sprintf("/factures/%d/paiement", id), url.Values{})
	expect(t, res, body, http.StatusSeeOther, "")
	page := res.Header.Get("Location")
	if !strings.HasPrefix(page, e.simTS.URL+"/tpa/paiementws.web?idop=") {
		t.Fatalf("payment went to %q", page)
	}
	// a second click while the first may still complete
	res, body = b.post(fmt.Sprintf("/factures/%d/paiement", id), url.Values{})
	expect(t, res, body, http.StatusConflict, "")
	if !strings.Contains(body, "Un paiement est déjà en cours") {
		t.Fatal("second click did not say a payment is in progress")
	}
	// the pages read the payment in progress with the invoice
	for path, want := range map[string]string{"/factures": "Paiement en cours", fmt.Sprintf("/factures/%d", id): "Paiement en cours",
		fmt.Sprintf("/factures/%d/tipi", id): "Un paiement est déjà en cours"} {
		if _, body := b.get(path); !strings.Contains(body, want) {
			t.Errorf("%s during the payment lacks %q:\n%s", path, want, body)
		}
	}

	back := b.payOnStandIn(t, page, "4242 4242 4242 4242")
	want := "http://" + b.host + "/paiement/retour?idop="
	if !strings.HasPrefix(back, want) {
		t.Fatalf("DGFiP sent the browser to %q, want %s…", back, want)
	}
	res, body = b.get(back)
	expect(t, res, body, http.StatusOK, "")
	if !strings.Contains(body, "Paiement accepté") || !strings.Contains(body, "Numéro d'autorisation") {
		t.Fatalf("return page:\n%s", body)
	}
	_, body = b.get("/factures")
	if !strings.Contains(body, "Payée (test)") {
		t.Fatalf("the list does not show the invoice paid:\n%s", body)
	}
	_, body = b.get(fmt.Sprintf("/factures/%d", id))
	if !strings.Contains(body, fmt.Sprintf(`href="/factures/%d/justificatif"`, id)) {
		t.Fatalf("the invoice's page offers no receipt:\n%s", body)
	}
	res, body = b.get(fmt.Sprintf("/factures/%d/justificatif", id))
	expect(t, res, "", http.StatusOK, "")
	if !strings.HasPrefix(body, "%PDF-") {
		t.Fatal("no receipt PDF")
	}
	if cd := res.Header.Get("Content-Disposition"); cd != `inline; filename="justificatif-2015-RS-00-8001516.pdf"` {
		t.Errorf("Content-Disposition %q", cd)
	}
	cmd := exec.Command("pdftotext", "-layout", "-", "-")
	cmd.Stdin = strings.NewReader(body)
	text, err := cmd.Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	for _, w := range []string{"2015-RS-00-8001516", "37,50", "Famille Martin", "12 rue", "84000"} {
		if !strings.Contains(string(text), w) {
			t.Errorf("the receipt lacks %q:\n%s", w, text)
		}
	}

	// the receipt mail
	deadline := time.Now().Add(10 * time.Second)
	for {
		found := false
		for _, m := range e.box.To(addr) {
			if strings.HasPrefix(m.Subject, "Paiement reçu") && strings.Contains(m.Text, "37,50\u00a0€") && strings.Contains(m.Text, "2015-RS-00-8001516") {
				found = true
			}
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no receipt mail")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// the notification arrived through paiement.localhost and was recorded
	for deadline := time.Now().Add(5 * time.Second); ; {
		var n int
		dbtest.DB(t).Get(&n, `SELECT count(*) FROM payment_attempts, jsonb_array_elements(received) r
			WHERE tenant_id = $1 AND r->>'source' = 'notification'`, tn.ID)
		if n > 0 && e.sim.Stats().Notifications > notifiedBefore {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stand-in's notification never reached the portal (%d recorded)", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var applied int
	dbtest.DB(t).Get(&applied, `SELECT count(*) FROM payments WHERE tenant_id = $1 AND invoice_id = $2 AND applied`, tn.ID, id)
	if applied != 1 {
		t.Fatalf("%d applied payments, want 1", applied)
	}

	// the invoice can no longer be paid
	_, body = b.get(fmt.Sprintf("/factures/%d/tipi", id))
	if !strings.Contains(body, "Cette facture est déjà payée") {
		t.Fatal("a paid invoice still offers payment")
	}
}

func TestPaymentRefusedThenCancelledThenRetry(t *testing.T) {
	e := sharedEnv(t)
	addr := uniqueAddr(t, "payer")
	tn := tenanttest.MustCreate(t, dbtest.DB(t), "payr")
	publishCSV(t, e, tn, "F1;Famille Martin;"+addr+";12 rue;84000;Démo;RS;10/2015;Repas;15;2,50;15/12/2099")
	id := invoiceID(t, tn, "2015-RS-00-8001516")
	b := activate(t, e, tn, addr, "mot-de-passe-1")
	login(t, b, addr, "mot-de-passe-1", false)

	start := func() string {
		res, body := b.post(fmt.Sprintf("/factures/%d/paiement", id), url.Values{})
		expect(t, res, body, http.StatusSeeOther, "")
		return res.Header.Get("Location")
	}
	// refused card: the return says so and offers to try again at once
	_, body := b.get(b.payOnStandIn(t, start(), "4000 0000 0000 0002"))
	if !strings.Contains(body, "Paiement refusé") || !strings.Contains(body, "Réessayer") {
		t.Fatalf("refused:\n%s", body)
	}
	// cancelled on DGFiP's page: retry allowed at once
	_, body = b.get(b.payOnStandIn(t, start(), ""))
	if !strings.Contains(body, "Paiement annulé") || !strings.Contains(body, "Réessayer") {
		t.Fatalf("cancelled:\n%s", body)
	}
	_, body = b.get(b.payOnStandIn(t, start(), "4242424242424242"))
	if !strings.Contains(body, "Paiement accepté") {
		t.Fatalf("retry:\n%s", body)
	}
}

func TestPaymentReturn_OtherCommuneAndSuspended(t *testing.T) {
	e := sharedEnv(t)
	addr := uniqueAddr(t, "payer")
	a := tenanttest.MustCreate(t, dbtest.DB(t), "reta")
	bTn := tenanttest.MustCreate(t, dbtest.DB(t), "retb")
	publishCSV(t, e, a, "F1;Famille Martin;"+addr+";12 rue;84000;Démo;RS;10/2015;Repas;15;2,50;15/12/2099")
	id := invoiceID(t, a, "2015-RS-00-8001516")
	br := activate(t, e, a, addr, "mot-de-passe-1")
	login(t, br, addr, "mot-de-passe-1", false)
	res, body := br.post(fmt.Sprintf("/factures/%d/paiement", id), url.Values{})
	expect(t, res, body, http.StatusSeeOther, "")
	page := res.Header.Get("Location")
	back := br.payOnStandIn(t, page, "4242424242424242")
	u, _ := url.Parse(back)

	// A's operation on B's host: nothing to see, nothing settled
	other := e.browser(t, bTn)
	res, body = other.get(u.RequestURI())
	expect(t, res, body, http.StatusNotFound, "")
	if strings.Contains(body, "2015-RS-00-8001516") {
		t.Fatal("B's host shows A's invoice")
	}

	// A suspended meanwhile: the return still records the payment
	if err := tenant.NewStore(dbtest.DB(t)).SetStatus(context.Background(), a.ID, tenant.StatusSuspended); err != nil {
		t.Fatal(err)
	}
	e.srv.resolver.Invalidate(a.ID)
	res, body = br.get(u.RequestURI())
	expect(t, res, body, http.StatusServiceUnavailable, "")
	if !strings.Contains(body, "Service suspendu") {
		t.Fatalf("suspended return page:\n%s", body)
	}
	var status string
	dbtest.DB(t).Get(&status, `SELECT status FROM invoices WHERE tenant_id = $1 AND id = $2`, a.ID, id)
	if status != "paid" {
		t.Fatalf("invoice %s after the return on a suspended commune, want paid", status)
	}
}

func TestPaymentHostCallbacks(t *testing.T) {
	e := sharedEnv(t)
	c := &http.Client{Transport: &http.Transport{DialContext: tenant.DialLocalhost}}
	host := "http://paiement.localhost:" + e.port
	for _, r := range []struct {
		method, path, body string
		status             int
	}{
		{"GET", "/notification?idOp=unknown-op", "", 200},
		{"POST", "/notification", "idop=unknown-op", 200},
		{"POST", "/notification", "IDOP=x", 200},
		{"GET", "/notification", "", 200},
		{"POST", "/tipi", "numcli=001964&refdet=NOPE000001&montant=100&resultrans=P", 200},
		{"GET", "/tipi?tentative=999999999999", "", 404},
		{"GET", "/", "", 404},
	} {
		req, _ := http.NewRequest(r.method, host+r.path, strings.NewReader(r.body))
		if r.body != "" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != r.status {
			t.Errorf("%s %s: %d, want %d", r.method, r.path, res.StatusCode, r.status)
		}
	}
}
