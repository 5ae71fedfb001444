package dgfipsim

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// tipiQuery is a valid TIPI request with its result going to the receiver;
// pairs in over replace fields ("\x00" removes one).
func tipiQuery(e *env, saisie string, over ...string) url.Values {
	if saisie == "" {
		saisie = "T"
	}
	v := url.Values{
		"numcli":  {numcliDemo},
		"exer":    {"9999"},
		"refdet":  {"999900000000999999"},
		"montant": {"12312"},
		"mel":     {"info@entrouvert.com"},
		"objet":   {"tout a fait"},
		"urlcl":   {e.rcv.srv.URL + "/tipi?commune=demo"},
		"saisie":  {saisie},
	}
	for i := 0; i+1 < len(over); i += 2 {
		if over[i+1] == "\x00" {
			v.Del(over[i])
		} else {
			v.Set(over[i], over[i+1])
		}
	}
	return v
}

func TestTIPI_Walk(t *testing.T) {
	e := newEnv(t)
	p := e.get(t, e.srv.URL+"/tpa/paiement.web?"+tipiQuery(e, "").Encode())
	if p.Status != http.StatusOK {
		t.Fatalf("status %d\n%s", p.Status, p.Body)
	}
	for _, want := range []string{"Choisissez votre moyen de paiement", "123,12\u00a0€", labelDemo, "999900000000999999",
		"Paiement en mode test — aucun débit réel"} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	p = e.submit(t, p, chooseCard)
	p = e.submit(t, p, card("4242 4242 4242 4242"))
	if p.Status != http.StatusOK || !strings.Contains(p.Body, "<title>Paiement accepté") {
		t.Fatalf("final page: status %d\n%s", p.Status, p.Body)
	}
	link := `<a class="bouton" href="` + strings.ReplaceAll(e.rcv.srv.URL+"/tipi?commune=demo", "&", "&amp;") + `">Retour au site de la collectivité</a>`
	if !strings.Contains(p.Body, link) {
		t.Errorf("no link back to urlcl:\n%s", p.Body)
	}

	got := e.rcv.wait(t, 1)[0]
	if got.Method != http.MethodPost || got.Path != "/tipi" || got.Query.Get("commune") != "demo" {
		t.Errorf("request %s %s?%s", got.Method, got.Path, got.Query.Encode())
	}
	want := map[string]string{
		"numcli": numcliDemo, "exer": "9999", "refdet": "999900000000999999", "montant": "12312",
		"mel": "info@entrouvert.com", "objet": "tout a fait", "saisie": "T", "resultrans": "P",
		"dattrans": "14072026", "heurtrans": "1205",
	}
	for k, v := range want {
		if got.Form.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, got.Form.Get(k), v)
		}
	}
	if !regexp.MustCompile(`^\d{6}$`).MatchString(got.Form.Get("numauto")) {
		t.Errorf("numauto %q", got.Form.Get("numauto"))
	}
	if len(got.Form) != len(want)+1 {
		t.Errorf("fields %v", got.Form)
	}
	if s := e.sim.Stats(); s.TIPIResults != 1 || s.Notifications != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestTIPI_PostedRequestAndOutcomes(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name   string
		finish func(t *testing.T, p htmlPage) htmlPage
		title  string
		result string
	}{
		{"Refused", func(t *testing.T, p htmlPage) htmlPage {
			return e.submit(t, e.submit(t, p, chooseCard), card(CardRefused))
		}, "Paiement refusé", "R"},
		{"Abandoned", func(t *testing.T, p htmlPage) htmlPage { return e.submit(t, p, cancel) }, "Paiement abandonné", "A"},
		{"SEPA", func(t *testing.T, p htmlPage) htmlPage {
			return e.submit(t, e.submit(t, p, chooseSEPA), url.Values{"iban": {"FR7630006000011234567890189"}})
		}, "Paiement accepté", "V"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(e.rcv.all())
			// A rôle reference (21 digits), posted, in a real mode.
			resp, err := e.browser.PostForm(e.srv.URL+"/tpa/paiement.web", tipiQuery(e, "X", "refdet", "999999990000000000000"))
			if err != nil {
				t.Fatal(err)
			}
			p := readPage(t, resp)
			if p.Status != http.StatusOK || strings.Contains(p.Body, "aucun débit réel") {
				t.Fatalf("status %d, or test banner in mode X", p.Status)
			}
			p = tc.finish(t, p)
			if p.Status != http.StatusOK || !strings.Contains(p.Body, "<title>"+tc.title) {
				t.Fatalf("status %d\n%s", p.Status, p.Body)
			}
			got := e.rcv.wait(t, before+1)[before]
			if got.Form.Get("resultrans") != tc.result || got.Form.Get("refdet") != "999999990000000000000" || got.Form.Get("saisie") != "X" {
				t.Errorf("form %v", got.Form)
			}
			if _, ok := got.Form["numauto"]; ok != (tc.result == "V") {
				t.Errorf("numauto %q", got.Form.Get("numauto"))
			}
		})
	}
}

func TestTIPI_InvalidRequest(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name    string
		over    []string
		message string
	}{
		{"MontantTooHigh", []string{"montant", "1000000"}, "Le montant (montant)"},
		{"MontantTooLow", []string{"montant", "99"}, "Le montant (montant)"},
		{"NoURLCl", []string{"urlcl", "\x00"}, "L'adresse de retour (urlcl)"},
		{"SaisieW", []string{"saisie", "W"}, "Le mode de saisie (saisie)"},
		{"UnknownNumcli", []string{"numcli", "999999"}, "n'est pas connu"},
		{"ShortRefdet", []string{"refdet", "ABCD"}, "La référence (refdet)"},
		{"BadMel", []string{"mel", "pas-une-adresse"}, "L'adresse électronique (mel)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := e.get(t, e.srv.URL+"/tpa/paiement.web?"+tipiQuery(e, "", tc.over...).Encode())
			if p.Status != http.StatusBadRequest || !strings.Contains(html.UnescapeString(p.Body), tc.message) ||
				!strings.Contains(p.Body, "<title>Demande de paiement invalide") {
				t.Errorf("status %d\n%s", p.Status, p.Body)
			}
		})
	}
	t.Run("MelOptional", func(t *testing.T) {
		if p := e.get(t, e.srv.URL+"/tpa/paiement.web?"+tipiQuery(e, "", "mel", "\x00").Encode()); p.Status != http.StatusOK {
			t.Errorf("status %d", p.Status)
		}
	})
	t.Run("ObjetAsRecorded", func(t *testing.T) {
		if p := e.get(t, e.srv.URL+"/tpa/paiement.web?"+tipiQuery(e, "", "objet", "test_ref20").Encode()); p.Status != http.StatusOK {
			t.Errorf("status %d", p.Status)
		}
	})
}
