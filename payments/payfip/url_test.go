package payfip_test

import (
	"maps"
	"net/url"
	"slices"
	"testing"

	"github.com/regie/regie/payments/payfip"
)

// splitURL returns the address without its query, and the query, read
// strictly (a badly encoded query fails the test).
func splitURL(t *testing.T, raw string) (string, url.Values) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("url %q: %v", raw, err)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		t.Fatalf("query of %q: %v", raw, err)
	}
	u.RawQuery = ""
	return u.String(), q
}

func TestClient_PaymentPageURL(t *testing.T) {
	tests := []struct{ name, base, idOp, want string }{
		{"Sample", "https://www.payfip.gouv.fr", sampleIDOp, "https://www.payfip.gouv.fr/tpa/paiementws.web?idop=" + sampleIDOp},
		{"TrailingSlash", "https://www.payfip.gouv.fr/", sampleIDOp, "https://www.payfip.gouv.fr/tpa/paiementws.web?idop=" + sampleIDOp},
		{"Escaped", "http://dgfip.localhost:8081", "a&b=c d", "http://dgfip.localhost:8081/tpa/paiementws.web?idop=a%26b%3Dc+d"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := payfip.New(tt.base, nil).PaymentPageURL(tt.idOp)
			if got != tt.want {
				t.Errorf("PaymentPageURL(%q) = %q, want %q", tt.idOp, got, tt.want)
			}
			if _, q := splitURL(t, got); !maps.EqualFunc(q, url.Values{"idop": {tt.idOp}}, slices.Equal[[]string]) {
				t.Errorf("query %v, want idop=%q only", q, tt.idOp)
			}
		})
	}
}

func TestClient_TIPIURL(t *testing.T) {
	tests := []struct {
		name string
		base string
		req  payfip.TIPIRequest
		want url.Values
	}{
		{
			name: "PAYFIPSample",
			base: "https://www.tipi.budget.gouv.fr",
			req: payfip.TIPIRequest{Numcli: "12345", Exer: 9999, Refdet: "999900000000999999", Montant: 12312,
				Mel: "info@entrouvert.com", Objet: "tout a fait", URLCL: "https://example.fr/tipi/retour", Saisie: "T"},
			want: url.Values{"numcli": {"12345"}, "exer": {"9999"}, "refdet": {"999900000000999999"}, "montant": {"12312"},
				"mel": {"info@entrouvert.com"}, "objet": {"tout a fait"}, "urlcl": {"https://example.fr/tipi/retour"}, "saisie": {"T"}},
		},
		{
			name: "URLCLWithQueryAndNormalisedObjet",
			base: "https://www.tipi.budget.gouv.fr/",
			req: payfip.TIPIRequest{Numcli: "001964", Exer: 2024, Refdet: "FAC2024000123", Montant: 3750,
				Mel: "famille+dupont@example.org", Objet: "Précompte famille #1234",
				URLCL: "https://paiement.auzon.example.fr/tipi/resultat?attempt=42&t=a b#x", Saisie: "X"},
			want: url.Values{"numcli": {"001964"}, "exer": {"2024"}, "refdet": {"FAC2024000123"}, "montant": {"3750"},
				"mel": {"famille+dupont@example.org"}, "objet": {"Precompte famille 1234"},
				"urlcl": {"https://paiement.auzon.example.fr/tipi/resultat?attempt=42&t=a b#x"}, "saisie": {"X"}},
		},
		{
			name: "NoObjet",
			base: "https://www.tipi.budget.gouv.fr",
			req: payfip.TIPIRequest{Numcli: "001964", Exer: 2024, Refdet: "FAC2024000123", Montant: 100,
				Mel: "a@example.fr", Objet: "#!", URLCL: "https://example.fr/r", Saisie: "T"},
			want: url.Values{"numcli": {"001964"}, "exer": {"2024"}, "refdet": {"FAC2024000123"}, "montant": {"100"},
				"mel": {"a@example.fr"}, "urlcl": {"https://example.fr/r"}, "saisie": {"T"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := payfip.New(tt.base, nil).TIPIURL(tt.req)
			addr, q := splitURL(t, got)
			if want := "https://www.tipi.budget.gouv.fr/tpa/paiement.web"; addr != want {
				t.Errorf("address %q, want %q", addr, want)
			}
			if !maps.EqualFunc(q, tt.want, slices.Equal[[]string]) {
				t.Errorf("query\n got %v\nwant %v\n url %s", q, tt.want, got)
			}
		})
	}
}
