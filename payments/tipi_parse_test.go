package payments_test

import (
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/regie/regie/payments"
	"github.com/regie/regie/tenant"
)

// TestParseTIPIResult: what a TIPI result is read as, and the results that
// are refused whole (regression cases of FuzzTIPIResult among them).
func TestParseTIPIResult(t *testing.T) {
	const good = "numcli=001964&refdet=2015RS008001516&montant=3750&saisie=t&numauto=123456&dattrans=05102026&heurtrans=1015"
	read := func(raw string) (payments.TIPIPost, error) {
		form, err := url.ParseQuery(raw)
		if err != nil {
			t.Fatalf("ParseQuery(%q): %v", raw, err)
		}
		fields, err := payments.TIPIFields(form)
		if err != nil {
			return payments.TIPIPost{}, err
		}
		return payments.ParseTIPIResult(fields)
	}
	t.Run("OK", func(t *testing.T) {
		for code, want := range map[string]payments.Status{"P": payments.Paid, "v": payments.Paid, "R": payments.Refused,
			"Z": payments.Refused, "A": payments.Pending, "Q": payments.Failed, "PP": payments.Failed} {
			p, err := read(good + "&resultrans=" + code)
			if err != nil || p.Status != want {
				t.Errorf("resultrans=%s: %+v, %v; want status %s", code, p, err, want)
			}
		}
		p, err := read(good + "&resultrans=P&RESULTRANS=P&Montant=3750")
		at := time.Date(2026, 10, 5, 10, 15, 0, 0, tenant.Paris)
		if err != nil || p.Numcli != "001964" || p.Refdet != "2015RS008001516" || p.Amount != 3750 || p.Saisie != "T" ||
			p.Numauto != "123456" || !p.TransactionAt.Equal(at) {
			t.Errorf("%+v, %v", p, err)
		}
	})
	t.Run("ErrBadTIPIResult", func(t *testing.T) {
		for name, raw := range map[string]string{
			"conflicting copies":  good + "&resultrans=P&RESULTRANS=R",
			"two amounts":         good + "&resultrans=P&montant=1",
			"no result code":      good,
			"amount with sign":    "numcli=001964&refdet=2015RS008001516&montant=%2B3750&resultrans=P",
			"amount leading zero": "numcli=001964&refdet=2015RS008001516&montant=03750&resultrans=P",
			"negative amount":     "numcli=001964&refdet=2015RS008001516&montant=-3750&resultrans=P",
			"zero amount":         "numcli=001964&refdet=2015RS008001516&montant=0&resultrans=P",
			"decimal amount":      "numcli=001964&refdet=2015RS008001516&montant=37%2C50&resultrans=P",
			"overflowing amount":  "numcli=001964&refdet=2015RS008001516&montant=99999999999999999999&resultrans=P",
			"refdet separators":   "numcli=001964&refdet=2015-RS-00-8001516&montant=3750&resultrans=P",
			"short refdet":        "numcli=001964&refdet=ABCD&montant=3750&resultrans=P",
			"numcli letters":      "numcli=00196A&refdet=2015RS008001516&montant=3750&resultrans=P",
			"NUL in a field":      good + "&resultrans=P&objet=a%00b",
			"not UTF-8":           good + "&resultrans=P&mel=%ff",
		} {
			if p, err := read(raw); !errors.Is(err, payments.ErrBadTIPIResult) {
				t.Errorf("%s: %+v, %v; want ErrBadTIPIResult", name, p, err)
			}
		}
	})
	t.Run("UnreadableTimeIsZero", func(t *testing.T) {
		for name, tail := range map[string]string{
			"split across fields":    "&dattrans=0510202&heurtrans=61015",
			"hour skipped in spring": "&dattrans=29032026&heurtrans=0230",
			"31 February":            "&dattrans=31022026&heurtrans=1015",
		} {
			p, err := read("numcli=001964&refdet=2015RS008001516&montant=3750&resultrans=P" + tail)
			if err != nil || !p.TransactionAt.IsZero() {
				t.Errorf("%s: %+v, %v; want a result without time", name, p, err)
			}
		}
	})
}
