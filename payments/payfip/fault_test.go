package payfip_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"unicode"

	"github.com/regie/regie/payments/payfip"
)

const faultPrefix = "fr.gouv.finances.cp.tpa.webservice.exceptions."

func TestClient_Faults(t *testing.T) {
	const (
		labelR3 = "Le format du paramètre REFDET n'est pas conforme"
		labelA2 = "Le format du paramètre MEL n'est pas conforme"
	)
	create := func(c *payfip.Client, refdet, mel string) error {
		_, err := c.CreatePayment(context.Background(), payfip.CreateRequest{
			Exer: 2019, Mel: mel, Montant: 1000, Numcli: sampleNumcli, Objet: "coucou", Refdet: refdet, Saisie: "T",
			URLNotif: "https://paiement.example.fr/n", URLRedirect: "https://example.fr/r",
		})
		return err
	}
	lookup := func(c *payfip.Client) error {
		_, err := c.PaymentDetails(context.Background(), sampleIDOp)
		return err
	}
	tests := []struct {
		name      string
		kind      string
		code      string
		label     string
		message   string
		run       func(*payfip.Client) error
		technical bool
	}{
		{"R3", "FonctionnelleErreur", "R3", labelR3, labelR3 + " : ABCD", func(c *payfip.Client) error { return create(c, "ABCD", "john.doe@example.com") }, false},
		{"A2", "FonctionnelleErreur", "A2", labelA2, labelA2 + " : john.doeexample.com", func(c *payfip.Client) error { return create(c, "ABCDEFGH", "john.doeexample.com") }, false},
		{"P1", "FonctionnelleErreur", "P1", "IdOp incorrect.", "IdOp incorrect.", lookup, false},
		{"P5", "FonctionnelleErreur", "P5", "Résultat de la transaction non connu.", "Résultat de la transaction non connu.", lookup, false},
		{"999", "TechIndisponibiliteErreur", "999", "Service momentanément indisponible.", "Erreur technique", lookup, true},
		{"ClientDetails", "FonctionnelleErreur", "T1", "Le numéro de client est inconnu.", "NUMCLI inconnu", func(c *payfip.Client) error {
			_, err := c.ClientDetails(context.Background(), "999999")
			return err
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, _ := fakeDGFiP(t, http.StatusInternalServerError, jaxwsFault(tt.kind, tt.code, tt.label, tt.message))
			err := tt.run(client)
			var f *payfip.Fault
			if !errors.As(err, &f) {
				t.Fatalf("error %v (%T), want a *payfip.Fault", err, err)
			}
			want := payfip.Fault{
				HTTPStatus: http.StatusInternalServerError, FaultCode: "S:Server", FaultString: faultPrefix + tt.kind,
				Kind: tt.kind, Code: tt.code, Label: tt.label, Message: tt.message, Description: "", Severity: 2,
			}
			if *f != want {
				t.Errorf("fault\n got %+v\nwant %+v", *f, want)
			}
			if !payfip.IsFault(err, tt.code) {
				t.Errorf("IsFault(err, %q) = false", tt.code)
			}
			if payfip.IsFault(err, "Z9") {
				t.Error(`IsFault(err, "Z9") = true`)
			}
			if f.Technical() != tt.technical {
				t.Errorf("Technical() = %v, want %v", f.Technical(), tt.technical)
			}
			checkFrench(t, f.French())
			if !strings.Contains(err.Error(), tt.code) {
				t.Errorf("Error() = %q, does not name the code %s", err.Error(), tt.code)
			}
		})
	}
}

// TestParseAnswer_Fault reads a fault whose every field differs, pretty
// printed, with other prefixes.
func TestParseAnswer_Fault(t *testing.T) {
	body := `<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="` + soapNS + `">
  <soap:Body>
    <soap:Fault>
      <faultcode>soap:Server</faultcode>
      <faultstring>` + faultPrefix + `FonctionnelleErreur</faultstring>
      <detail>
        <tpa:FonctionnelleErreur xmlns:tpa="` + payfip.Namespace + `">
          <code> M5 </code>
          <descriptif>montant &gt; 100000 EUR</descriptif>
          <libelle>Montant trop élevé.</libelle>
          <message>Le montant dépasse le maximum.</message>
          <severite> 3 </severite>
        </tpa:FonctionnelleErreur>
      </detail>
    </soap:Fault>
  </soap:Body>
</soap:Envelope>`
	fields, f, err := payfip.ParseAnswer([]byte(body))
	if err != nil || f == nil || fields != nil {
		t.Fatalf("ParseAnswer = %v, %v, %v; want only a fault", fields, f, err)
	}
	want := payfip.Fault{
		FaultCode: "soap:Server", FaultString: faultPrefix + "FonctionnelleErreur", Kind: "FonctionnelleErreur",
		Code: "M5", Label: "Montant trop élevé.", Message: "Le montant dépasse le maximum.",
		Description: "montant > 100000 EUR", Severity: 3,
	}
	if *f != want {
		t.Errorf("fault\n got %+v\nwant %+v", *f, want)
	}
}

func TestIsFault(t *testing.T) {
	p5 := &payfip.Fault{Kind: "FonctionnelleErreur", Code: "P5"}
	tests := []struct {
		name string
		err  error
		code string
		want bool
	}{
		{"Fault", p5, "P5", true},
		{"Wrapped", fmt.Errorf("lookup: %w", p5), "P5", true},
		{"OtherCode", p5, "P1", false},
		{"NotAFault", errors.New("P5"), "P5", false},
		{"Nil", nil, "P5", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := payfip.IsFault(tt.err, tt.code); got != tt.want {
				t.Errorf("IsFault(%v, %q) = %v, want %v", tt.err, tt.code, got, tt.want)
			}
		})
	}
}

func TestFault_Technical(t *testing.T) {
	tests := []struct {
		name string
		body string
		want bool
	}{
		{"Fonctionnelle", jaxwsFault("FonctionnelleErreur", "P5", "Résultat de la transaction non connu.", ""), false},
		{"Indisponibilite", jaxwsFault("TechIndisponibiliteErreur", "999", "Indisponible", ""), true},
		{"Dysfonctionnement", jaxwsFault("TechDysfonctionnementErreur", "998", "Erreur", ""), true},
		{"Protocolaire", jaxwsFault("TechProtocolaireErreur", "997", "Requête invalide", ""), true},
		{"NoDetail", `<S:Envelope xmlns:S="` + soapNS + `"><S:Body><S:Fault><faultcode>S:Server</faultcode>` +
			`<faultstring>java.lang.NullPointerException</faultstring></S:Fault></S:Body></S:Envelope>`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, f, err := payfip.ParseAnswer([]byte(tt.body))
			if err != nil || f == nil {
				t.Fatalf("ParseAnswer: fault %v, error %v", f, err)
			}
			if f.Technical() != tt.want {
				t.Errorf("Technical() of %+v = %v, want %v", *f, f.Technical(), tt.want)
			}
			checkFrench(t, f.French())
		})
	}
}

// TestFault_French checks every code PAYFIP.md lists, and a code it does
// not, with and without a label.
func TestFault_French(t *testing.T) {
	codes := []string{"R3", "A1", "A2", "P1", "P3", "P4", "P5", "T1", "T2", "T4", "M1", "M3", "M5", "N1", "D1", "S1", "999", "X7"}
	seen := map[string]string{}
	for _, code := range codes {
		t.Run(code, func(t *testing.T) {
			f := &payfip.Fault{Kind: "FonctionnelleErreur", FaultString: faultPrefix + "FonctionnelleErreur", Code: code}
			if code == "999" {
				f.Kind = "TechIndisponibiliteErreur"
			}
			s := f.French()
			checkFrench(t, s)
			if other, dup := seen[s]; dup && code != "999" {
				t.Errorf("codes %s and %s have the same French text %q", other, code, s)
			}
			seen[s] = code
		})
	}
	t.Run("UnknownCodeWithLabel", func(t *testing.T) {
		f := &payfip.Fault{Kind: "FonctionnelleErreur", Code: "X7", Label: "Le paramètre est refusé."}
		if s := f.French(); !strings.Contains(s, f.Label) {
			t.Errorf("French() = %q, want it to carry the label %q", s, f.Label)
		}
	})
}

var englishWords = map[string]bool{
	"the": true, "is": true, "not": true, "of": true, "error": true, "fault": true, "payment": true,
	"unknown": true, "invalid": true, "failed": true, "unavailable": true, "please": true, "try": true, "again": true,
	"missing": true, "amount": true, "reference": true, "expired": true,
}

var frenchWords = map[string]bool{
	"le": true, "la": true, "les": true, "de": true, "du": true, "des": true, "est": true, "pas": true,
	"une": true, "un": true, "au": true, "en": true, "a": true, "ou": true, "cette": true,
}

// checkFrench fails unless s is a French sentence: something to read, a
// French function word or accented word, no English word, no code-level
// name.
func checkFrench(t *testing.T, s string) {
	t.Helper()
	words := strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) })
	french := false
	for _, w := range words {
		if englishWords[w] {
			t.Errorf("French() = %q contains the English word %q", s, w)
		}
		french = french || frenchWords[w] || strings.ContainsAny(w, "éèêàâçîôûù")
	}
	if !french || !strings.HasSuffix(s, ".") {
		t.Errorf("French() = %q, want a French sentence", s)
	}
	if strings.Contains(s, "payfip:") || strings.Contains(s, "Erreur") {
		t.Errorf("French() = %q shows internal names", s)
	}
}
