package payfip_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/regie/regie/payments/payfip"
)

// TestParseAnswer_Ambiguous: an answer that says two things about one field
// is believed for neither (regression cases of FuzzParseAnswer).
func TestParseAnswer_Ambiguous(t *testing.T) {
	for name, ret := range map[string]string{
		"conflicting copies": "<resultrans>R</resultrans><montant>1000</montant><resultrans>P</resultrans>",
		"two returns":        "<resultrans>R</resultrans></return><return><resultrans>P</resultrans>",
		"idOp and idop":      "<idOp>a</idOp><idop>b</idop>",
	} {
		if fields, fault, err := payfip.ParseAnswer([]byte(jaxws("recupererDetailPaiementSecurise", ret))); err == nil {
			t.Errorf("%s: %q, %v; want an error", name, fields, fault)
		}
	}
	fields, _, err := payfip.ParseAnswer([]byte(jaxws("recupererDetailPaiementSecurise", "<idOp>a</idOp><idop>a</idop><resultrans>P</resultrans>")))
	if err != nil || fields["idop"] != "a" {
		t.Errorf("the same value twice: %q, %v; want it read", fields, err)
	}
}

func TestPaymentDetails_Strict(t *testing.T) {
	t.Run("SignedMontant", func(t *testing.T) {
		for _, m := range []string{"+1000", "-1000"} {
			client, _ := fakeDGFiP(t, http.StatusOK, jaxws("recupererDetailPaiementSecurise", "<resultrans>P</resultrans><montant>"+m+"</montant>"))
			if d, err := client.PaymentDetails(context.Background(), sampleIDOp); err == nil {
				t.Errorf("montant %s: %+v, want an error", m, d)
			}
		}
	})
	t.Run("UnreadableTransactionTime", func(t *testing.T) {
		for _, d := range []payfip.Details{
			{Dattrans: "0510202", Heurtrans: "61015"}, // split across the fields
			{Dattrans: "29032026", Heurtrans: "0230"}, // skipped by Paris in spring
			{Dattrans: "31022026", Heurtrans: "1015"}, // no such day
			{Dattrans: "05102026", Heurtrans: ""},     // no hour
		} {
			if at := d.TransactionTime(); !at.IsZero() {
				t.Errorf("%+v read as %s, want zero", d, at)
			}
		}
		if at := (payfip.Details{Dattrans: "05102026", Heurtrans: "1015"}).TransactionTime(); at.IsZero() || at.Format("2006-01-02 15:04") != "2026-10-05 10:15" {
			t.Errorf("05102026 1015 read as %s", at)
		}
	})
}
