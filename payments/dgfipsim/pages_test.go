package dgfipsim

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestPaymentPage_OneRedirection(t *testing.T) {
	e := newEnv(t)
	id := e.create(t)

	p := e.openPage(t, id)
	if p.Status != http.StatusOK {
		t.Fatalf("first GET: status %d", p.Status)
	}
	for _, want := range []string{
		`<html lang="fr">`,
		"<title>Choisissez votre moyen de paiement — PayFiP (simulateur)</title>",
		"Choisissez votre moyen de paiement",
		`<label for="moyen-carte">Carte bancaire</label>`,
		`<label for="moyen-sepa">Prélèvement SEPA unique</label>`,
		">Continuer</button>", ">Annuler</button>",
		labelDemo, "2015RS008001516", "37,50\u00a0€",
		`name="viewport"`,
	} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("payment page lacks %q", want)
		}
	}
	if strings.Contains(p.Body, "<script") {
		t.Error("payment page has a script")
	}

	again := e.openPage(t, id)
	if again.Status != http.StatusGone || !strings.Contains(again.Body, "déjà été utilisée") || !strings.Contains(again.Body, "P3") {
		t.Errorf("second GET: status %d\n%s", again.Status, again.Body)
	}
	pay, _ := e.sim.Payment(id)
	if pay.Redirects != 2 || !pay.Redirected.Equal(startTime) {
		t.Errorf("Redirects %d, Redirected %v", pay.Redirects, pay.Redirected)
	}
	if got := e.sim.Stats().PaymentPagesServed; got != 1 {
		t.Errorf("PaymentPagesServed %d", got)
	}
}

func TestPaymentPage_Refusals(t *testing.T) {
	e := newEnv(t)
	t.Run("Within15Minutes", func(t *testing.T) {
		id := e.create(t)
		e.clock.Add(15 * time.Minute)
		if p := e.openPage(t, id); p.Status != http.StatusOK {
			t.Errorf("at 15:00: status %d", p.Status)
		}
	})
	t.Run("After15Minutes", func(t *testing.T) {
		id := e.create(t)
		e.clock.Add(15*time.Minute + time.Second)
		p := e.openPage(t, id)
		if p.Status != http.StatusGone || !strings.Contains(p.Body, "plus de 15 minutes") || !strings.Contains(p.Body, "P4") {
			t.Errorf("status %d\n%s", p.Status, p.Body)
		}
		// The refused GET did not use the one redirection.
		if pay, _ := e.sim.Payment(id); !pay.Redirected.IsZero() || pay.Redirects != 1 {
			t.Errorf("Redirected %v, Redirects %d", pay.Redirected, pay.Redirects)
		}
	})
	t.Run("Unknown", func(t *testing.T) {
		p := e.openPage(t, "cc0cb210-1cd4-11ea-8cca-0213ad91a103")
		if p.Status != http.StatusNotFound || !strings.Contains(p.Body, "P1") {
			t.Errorf("status %d", p.Status)
		}
	})
	t.Run("AlreadyCompleted", func(t *testing.T) {
		id := e.create(t)
		e.sim.Complete(id, "P")
		if p := e.openPage(t, id); p.Status != http.StatusGone {
			t.Errorf("status %d", p.Status)
		}
	})
	t.Run("HEADDoesNotSpendTheRedirection", func(t *testing.T) {
		id := e.create(t)
		resp, err := e.browser.Head(e.srv.URL + "/tpa/paiementws.web?idop=" + id)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if p := e.openPage(t, id); p.Status != http.StatusOK {
			t.Errorf("GET after HEAD: status %d", p.Status)
		}
	})
	t.Run("NotFound", func(t *testing.T) {
		p := e.get(t, e.srv.URL+"/ailleurs")
		if p.Status != http.StatusNotFound || !strings.Contains(p.Body, "<title>Page introuvable") {
			t.Errorf("status %d", p.Status)
		}
	})
}

func TestPaymentPage_CardWalk(t *testing.T) {
	e := newEnv(t)
	id := e.create(t)

	p := e.openPage(t, id)
	p = e.submit(t, p, chooseCard)
	for _, want := range []string{
		"<title>Paiement par carte bancaire — PayFiP (simulateur)</title>",
		`<label for="numero">Numéro de carte</label>`,
		`<label for="mois">Mois</label>`, `<label for="annee">Année</label>`,
		`<label for="cryptogramme">Cryptogramme visuel</label>`,
		">Valider</button>", ">Annuler</button>",
	} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("card form lacks %q", want)
		}
	}
	e.clock.Add(3 * time.Minute) // the payer types: 12:08 in Paris
	p = e.submit(t, p, card("4242 4242 4242 4242"))
	if p.Status != http.StatusSeeOther {
		t.Fatalf("after Valider: status %d\n%s", p.Status, p.Body)
	}
	if got, want := p.Header.Get("Location"), "https://demo.example.fr/paiement/retour?x=1&idop="+id; got != want {
		t.Errorf("Location %q, want %q", got, want)
	}

	f, code := e.lookup(t, id)
	if code != "" {
		t.Fatalf("lookup: fault %s", code)
	}
	if f["resultrans"] != "P" || f["dattrans"] != "14072026" || f["heurtrans"] != "1208" ||
		!regexp.MustCompile(`^\d{6}$`).MatchString(f["numauto"]) {
		t.Errorf("lookup = %v", f)
	}
	pay, _ := e.sim.Payment(id)
	if pay.ResultTrans != "P" || !pay.Ended.Equal(startTime.Add(3*time.Minute)) || pay.Ends != 1 {
		t.Errorf("payment = %+v", pay)
	}
}

func TestPaymentPage_Outcomes(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name   string
		number string
		want   string
	}{
		{"TestCardRefused", "4000 0000 0000 0002", "R"},
		{"OtherValidCardRefused", "5555555555554444", "R"},
		{"AcceptedWithoutSpaces", "4242424242424242", "P"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := e.create(t)
			p := e.payByCard(t, id, tc.number)
			if p.Status != http.StatusSeeOther {
				t.Fatalf("status %d", p.Status)
			}
			f, code := e.lookup(t, id)
			if code != "" || f["resultrans"] != tc.want {
				t.Errorf("lookup = %v %s", f, code)
			}
			if _, ok := f["numauto"]; ok != (tc.want == "P") {
				t.Errorf("numauto = %q", f["numauto"])
			}
		})
	}

	t.Run("LuhnInvalid", func(t *testing.T) {
		id := e.create(t)
		p := e.payByCard(t, id, "4242 4242 4242 4241")
		if p.Status != http.StatusUnprocessableEntity || !strings.Contains(p.Body, "Numéro de carte invalide") ||
			!strings.Contains(p.Body, `aria-invalid="true"`) || !strings.Contains(p.Body, "<title>Erreur : Paiement par carte bancaire") {
			t.Errorf("status %d\n%s", p.Status, p.Body)
		}
		if _, code := e.lookup(t, id); code != "P5" {
			t.Errorf("lookup: %q, want P5", code)
		}
		// The payer corrects the number on the same form.
		p = e.submit(t, p, card("4242 4242 4242 4242"))
		if p.Status != http.StatusSeeOther {
			t.Errorf("corrected: status %d", p.Status)
		}
	})

	t.Run("ExpiredCardAndBadCode", func(t *testing.T) {
		id := e.create(t)
		p := e.submit(t, e.submit(t, e.openPage(t, id), chooseCard), url.Values{
			"numero": {"4242424242424242"}, "mois": {"06"}, "annee": {"2026"}, "cryptogramme": {"12"}, "action": {"valider"},
		})
		if p.Status != http.StatusUnprocessableEntity || !strings.Contains(p.Body, "Date de fin de validité invalide ou dépassée") ||
			!strings.Contains(p.Body, "Cryptogramme visuel invalide") {
			t.Errorf("status %d\n%s", p.Status, p.Body)
		}
		if pay, _ := e.sim.Payment(id); pay.ResultTrans != "" {
			t.Errorf("result %q", pay.ResultTrans)
		}
	})

	t.Run("CurrentMonthIsValid", func(t *testing.T) {
		id := e.create(t)
		p := e.submit(t, e.submit(t, e.openPage(t, id), chooseCard), url.Values{
			"numero": {"4242424242424242"}, "mois": {"07"}, "annee": {"26"}, "cryptogramme": {"123"}, "action": {"valider"},
		})
		if p.Status != http.StatusSeeOther {
			t.Errorf("status %d", p.Status)
		}
	})

	t.Run("NoChoice", func(t *testing.T) {
		id := e.create(t)
		p := e.submit(t, e.openPage(t, id), url.Values{"action": {"continuer"}})
		if p.Status != http.StatusUnprocessableEntity || !strings.Contains(p.Body, "Choisissez un moyen de paiement.") {
			t.Errorf("status %d", p.Status)
		}
	})

	for _, tc := range []struct {
		name string
		walk func(t *testing.T, p htmlPage) htmlPage
	}{
		{"CancelAtChoice", func(t *testing.T, p htmlPage) htmlPage { return p }},
		{"CancelAtCard", func(t *testing.T, p htmlPage) htmlPage { return e.submit(t, p, chooseCard) }},
		{"CancelAtSEPA", func(t *testing.T, p htmlPage) htmlPage { return e.submit(t, p, chooseSEPA) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := e.create(t)
			p := e.submit(t, tc.walk(t, e.openPage(t, id)), cancel)
			if p.Status != http.StatusSeeOther || !strings.HasSuffix(p.Header.Get("Location"), "&idop="+id) {
				t.Fatalf("status %d, Location %q", p.Status, p.Header.Get("Location"))
			}
			if f, code := e.lookup(t, id); code != "" || f["resultrans"] != "A" {
				t.Errorf("lookup = %v %s", f, code)
			}
		})
	}

	t.Run("SEPA", func(t *testing.T) {
		id := e.create(t)
		p := e.submit(t, e.openPage(t, id), chooseSEPA)
		if !strings.Contains(p.Body, `<label for="iban">IBAN du compte à débiter</label>`) {
			t.Fatalf("no IBAN field:\n%s", p.Body)
		}
		bad := e.submit(t, p, url.Values{"iban": {"FR76 3000 6000 0112 3456 7890 188"}, "action": {"valider"}})
		if bad.Status != http.StatusUnprocessableEntity || !strings.Contains(bad.Body, "IBAN invalide") {
			t.Errorf("bad IBAN: status %d", bad.Status)
		}
		ok := e.submit(t, bad, url.Values{"iban": {"fr76 3000 6000 0112 3456 7890 189"}, "action": {"valider"}})
		if ok.Status != http.StatusSeeOther {
			t.Fatalf("good IBAN: status %d\n%s", ok.Status, ok.Body)
		}
		if f, code := e.lookup(t, id); code != "" || f["resultrans"] != "V" || f["numauto"] == "" {
			t.Errorf("lookup = %v %s", f, code)
		}
	})
}

func TestPaymentPage_PayAfterAbandon(t *testing.T) {
	e := newEnv(t)
	id := e.create(t)
	cardForm := e.submit(t, e.openPage(t, id), chooseCard)
	if p := e.submit(t, cardForm, cancel); p.Status != http.StatusSeeOther {
		t.Fatalf("cancel: status %d", p.Status)
	}
	if f, _ := e.lookup(t, id); f["resultrans"] != "A" {
		t.Fatalf("after cancel: %v", f)
	}
	// Browser "back" to the card form, within the session.
	e.clock.Add(5 * time.Minute)
	if p := e.submit(t, cardForm, card(CardAccepted)); p.Status != http.StatusSeeOther {
		t.Fatalf("pay after back: status %d", p.Status)
	}
	if f, _ := e.lookup(t, id); f["resultrans"] != "P" {
		t.Errorf("after paying: %v", f)
	}
	if pay, _ := e.sim.Payment(id); pay.Ends != 2 {
		t.Errorf("Ends %d", pay.Ends)
	}
	// Now final: the form answers that it is over, and Complete refuses.
	if p := e.submit(t, cardForm, card(CardAccepted)); p.Status != http.StatusConflict {
		t.Errorf("third submit: status %d", p.Status)
	}
	if err := e.sim.Complete(id, "R"); err != ErrFinished {
		t.Errorf("Complete: %v, want ErrFinished", err)
	}
}

func TestPaymentPage_SessionTimeout(t *testing.T) {
	e := newEnv(t)
	id := e.create(t)
	cardForm := e.submit(t, e.openPage(t, id), chooseCard)
	e.clock.Add(SessionTimeout)
	p := e.submit(t, cardForm, card(CardAccepted))
	if p.Status != http.StatusGone || !strings.Contains(p.Body, "Session de paiement expirée") {
		t.Errorf("status %d\n%s", p.Status, p.Body)
	}
	if _, code := e.lookup(t, id); code != "P5" {
		t.Errorf("lookup: %q, want P5", code)
	}
}

func TestPaymentPage_ForgedPost(t *testing.T) {
	e := newEnv(t)
	id := e.create(t)
	// Posting a card for an idOp whose page was never opened.
	resp, err := e.browser.PostForm(e.srv.URL+"/tpa/paiementws.web", url.Values{
		"idop": {id}, "etape": {"carte"}, "numero": {CardAccepted}, "mois": {"12"}, "annee": {nextYear}, "cryptogramme": {"123"},
	})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("status %d", resp.StatusCode)
	}
	if pay, _ := e.sim.Payment(id); pay.ResultTrans != "" {
		t.Errorf("result %q", pay.ResultTrans)
	}
}

func TestPaymentPage_TestBanner(t *testing.T) {
	e := newEnv(t)
	const banner = "Paiement en mode test — aucun débit réel"
	for saisie, want := range map[string]bool{"T": true, "X": false, "W": false} {
		p := e.openPage(t, e.create(t, "saisie", saisie))
		if got := strings.Contains(p.Body, banner); got != want {
			t.Errorf("saisie %s: banner shown %v, want %v", saisie, got, want)
		}
	}
}

func TestFormatEuros(t *testing.T) {
	for cents, want := range map[int64]string{
		100: "1,00\u00a0€", 3750: "37,50\u00a0€", 173988: "1\u00a0739,88\u00a0€", 10000000: "100\u00a0000,00\u00a0€", 5: "0,05\u00a0€",
	} {
		if got := formatEuros(cents); got != want {
			t.Errorf("formatEuros(%d) = %q, want %q", cents, got, want)
		}
	}
}

func TestCardAndIBANChecks(t *testing.T) {
	for n, want := range map[string]bool{
		CardAccepted: true, CardRefused: true, "5555555555554444": true, "4242424242424241": false, "42": false,
	} {
		if got := luhn(n); got != want {
			t.Errorf("luhn(%s) = %v", n, got)
		}
	}
	for iban, want := range map[string]bool{
		"FR7630006000011234567890189":     true,
		"DE89 3704 0044 0532 0130 00":     true,
		"GB82WEST12345698765432":          true,
		"FR7630006000011234567890188":     false,
		"FR76 3000 6000 0112 3456 7890 1": false,
		"7630006000011234567890189FR":     false,
	} {
		if got := validIBAN(iban); got != want {
			t.Errorf("validIBAN(%s) = %v", iban, got)
		}
	}
}
