package payfip_test

import (
	"context"
	"encoding/xml"
	"net/http"
	"slices"
	"testing"
	"unicode/utf8"

	"github.com/regie/regie/payments/payfip"
)

// checkTransport checks what every operation must send: the path, the
// method and the two SOAP 1.1 headers, each exactly once.
func checkTransport(t *testing.T, c call) {
	t.Helper()
	if c.Method != http.MethodPost {
		t.Errorf("method %s, want POST", c.Method)
	}
	if c.Path != "/tpa/services/securite" {
		t.Errorf("path %q, want /tpa/services/securite", c.Path)
	}
	for name, want := range map[string]string{"Content-Type": "text/xml; charset=utf-8", "SOAPAction": `""`} {
		if got := c.Header.Values(name); len(got) != 1 || got[0] != want {
			t.Errorf("header %s = %q, want exactly [%q]", name, got, want)
		}
	}
	if !utf8.Valid(c.Body) {
		t.Errorf("body is not UTF-8: %q", c.Body)
	}
}

// checkEnvelope parses the body and compares the operation element (in
// payfip.Namespace, whatever its prefix), arg0 and the fields (no
// namespace, in order, values as sent).
func checkEnvelope(t *testing.T, body []byte, op string, want []xmlField) {
	t.Helper()
	got, err := parseRequest(body)
	if err != nil {
		t.Fatalf("request envelope: %v\n%s", err, body)
	}
	if wantOp := (xml.Name{Space: payfip.Namespace, Local: op}); got.Op != wantOp {
		t.Errorf("operation element %v, want %v", got.Op, wantOp)
	}
	if got.Arg0 != (xml.Name{Local: "arg0"}) {
		t.Errorf("operation child %v, want unqualified arg0", got.Arg0)
	}
	if !slices.Equal(got.Fields, want) {
		t.Errorf("fields\n got %v\nwant %v\nbody %s", got.Fields, want, body)
	}
}

func TestClient_CreatePayment_Envelope(t *testing.T) {
	tests := []struct {
		name string
		req  payfip.CreateRequest
		want []xmlField
	}{
		{
			name: "RecordedSample",
			req: payfip.CreateRequest{Exer: 2019, Mel: "john.doe@example.com", Montant: 1000, Numcli: sampleNumcli,
				Objet: "coucou", Refdet: "ABCDEFGH", Saisie: "T",
				URLNotif: "https://paiement.example.fr/payfip/notif", URLRedirect: "https://paiement.example.fr/payfip/retour"},
			want: fields("exer", "2019", "mel", "john.doe@example.com", "montant", "1000", "numcli", "090909",
				"objet", "coucou", "refdet", "ABCDEFGH", "saisie", "T",
				"urlnotif", "https://paiement.example.fr/payfip/notif", "urlredirect", "https://paiement.example.fr/payfip/retour"),
		},
		{
			name: "CentsAndNormalisedObjet",
			req: payfip.CreateRequest{Exer: 2024, Mel: "famille.dupont@example.org", Montant: 3750, Numcli: "001964",
				Objet: "Précompte famille #1234", Refdet: "FAC2024000123", Saisie: "W",
				URLNotif: "https://paiement.auzon.example.fr/n", URLRedirect: "https://auzon.example.fr/r"},
			want: fields("exer", "2024", "mel", "famille.dupont@example.org", "montant", "3750", "numcli", "001964",
				"objet", "Precompte famille 1234", "refdet", "FAC2024000123", "saisie", "W",
				"urlnotif", "https://paiement.auzon.example.fr/n", "urlredirect", "https://auzon.example.fr/r"),
		},
		{
			// An unescaped & would make the envelope unreadable; the
			// values read back must be the URLs as given.
			name: "EscapedURLs",
			req: payfip.CreateRequest{Exer: 2025, Mel: "o'brien+regie@example.com", Montant: 100, Numcli: "001964",
				Objet: "", Refdet: "ABC123", Saisie: "X",
				URLNotif:    "https://paiement.example.fr/n?t=1&x=<a>",
				URLRedirect: `https://example.fr/retour?a=1&b=2&c="3"`},
			want: fields("exer", "2025", "mel", "o'brien+regie@example.com", "montant", "100", "numcli", "001964",
				"objet", "", "refdet", "ABC123", "saisie", "X",
				"urlnotif", "https://paiement.example.fr/n?t=1&x=<a>", "urlredirect", `https://example.fr/retour?a=1&b=2&c="3"`),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, calls := fakeDGFiP(t, http.StatusOK, jaxws("creerPaiementSecurise", "<idOp>"+sampleIDOp+"</idOp>"))
			id, err := client.CreatePayment(context.Background(), tt.req)
			if err != nil {
				t.Fatalf("CreatePayment: %v", err)
			}
			if id != sampleIDOp {
				t.Errorf("idOp %q, want %q", id, sampleIDOp)
			}
			c := received(t, calls)
			checkTransport(t, c)
			checkEnvelope(t, c.Body, "creerPaiementSecurise", tt.want)
		})
	}
}

func TestClient_PaymentDetails_Envelope(t *testing.T) {
	client, calls := fakeDGFiP(t, http.StatusOK, jaxws("recupererDetailPaiementSecurise", sampleDetailsReturn))
	if _, err := client.PaymentDetails(context.Background(), sampleIDOp); err != nil {
		t.Fatalf("PaymentDetails: %v", err)
	}
	c := received(t, calls)
	checkTransport(t, c)
	checkEnvelope(t, c.Body, "recupererDetailPaiementSecurise", fields("idOp", sampleIDOp))
}

func TestClient_ClientDetails_Envelope(t *testing.T) {
	client, calls := fakeDGFiP(t, http.StatusOK, jaxws("recupererDetailClient", sampleClientReturn))
	if _, err := client.ClientDetails(context.Background(), sampleNumcli); err != nil {
		t.Fatalf("ClientDetails: %v", err)
	}
	c := received(t, calls)
	checkTransport(t, c)
	checkEnvelope(t, c.Body, "recupererDetailClient", fields("numCli", "090909"))
}

// TestClient_BaseURL checks that a base with a trailing slash still posts
// to /tpa/services/securite, not //tpa/….
func TestClient_BaseURL(t *testing.T) {
	calls := make(chan string, 1)
	ts := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		calls <- r.URL.Path
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(jaxws("recupererDetailClient", sampleClientReturn)))
	})
	if _, err := payfip.New(ts.URL+"/", nil).ClientDetails(context.Background(), sampleNumcli); err != nil {
		t.Fatalf("ClientDetails: %v", err)
	}
	if got := <-calls; got != "/tpa/services/securite" {
		t.Errorf("path %q, want /tpa/services/securite", got)
	}
}
