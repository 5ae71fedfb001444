package payments_test

import (
	"errors"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/regie/regie/payments"
	"github.com/regie/regie/tenant"
)

// FuzzTIPIResult reads arbitrary query strings as the results DGFiP's TIPI
// server posts to the platform (unsigned: anyone can post anything). Its
// seeds are in testdata/fuzz/FuzzTIPIResult: PAYFIP.md's samples, every
// result code, duplicated and conflicting fields, odd amounts and dates.
//
// Properties: nothing panics; what TIPIFields and ParseTIPIResult accept
// is unambiguous (every copy of a field had the same value), has the
// documented shape (numcli digits, refdet 6 to 30 letters or digits, a
// positive amount written canonically, a known status for the code), and
// round-trips: written back as a form, it reads the same.
func FuzzTIPIResult(f *testing.F) {
	f.Fuzz(func(t *testing.T, raw string) {
		form, _ := url.ParseQuery(raw) // a partly broken query still gives fields: take them as the handler would
		fields, err := payments.TIPIFields(form)
		if err != nil {
			if !errors.Is(err, payments.ErrBadTIPIResult) {
				t.Fatalf("TIPIFields = %v, want ErrBadTIPIResult", err)
			}
			return
		}
		checkFolded(t, form, fields)
		p, err := payments.ParseTIPIResult(fields)
		if err != nil {
			if !errors.Is(err, payments.ErrBadTIPIResult) {
				t.Fatalf("ParseTIPIResult = %v, want ErrBadTIPIResult", err)
			}
			return
		}
		checkTIPIPost(t, fields, p)

		// written back as DGFiP would post it, it reads the same
		again := url.Values{"numcli": {p.Numcli}, "refdet": {p.Refdet}, "montant": {strconv.FormatInt(p.Amount, 10)},
			"resultrans": {p.Resultrans}, "saisie": {p.Saisie}, "numauto": {p.Numauto}}
		if !p.TransactionAt.IsZero() {
			at := p.TransactionAt.In(tenant.Paris)
			again.Set("dattrans", at.Format("02012006"))
			again.Set("heurtrans", at.Format("1504"))
		}
		f2, err := payments.TIPIFields(again)
		if err != nil {
			t.Fatalf("TIPIFields of %v: %v", again, err)
		}
		p2, err := payments.ParseTIPIResult(f2)
		if err != nil || p2 != p {
			t.Fatalf("round trip: %+v, %v; want %+v", p2, err, p)
		}
	})
}

// checkFolded: one value per lower-case name, the value every copy of the
// name had.
func checkFolded(t *testing.T, form url.Values, fields map[string]string) {
	t.Helper()
	for k, v := range fields {
		if k != strings.ToLower(k) || len(k) >= 32 {
			t.Fatalf("field name %q", k)
		}
		if strings.ContainsRune(v, 0) {
			t.Fatalf("field %q holds a NUL", k)
		}
	}
	for k, vs := range form {
		if len(k) >= 32 || strings.ContainsFunc(k, func(r rune) bool { return r >= 0x80 }) {
			continue
		}
		for _, v := range vs {
			if got, ok := fields[strings.ToLower(k)]; !ok || got != v {
				t.Fatalf("%s=%q folded to %q (present %v)", k, v, got, ok)
			}
		}
	}
}

var (
	digitsRe = regexp.MustCompile(`^[0-9]+$`)
	alnumRe  = regexp.MustCompile(`^[A-Za-z0-9]{6,30}$`)
)

// checkTIPIPost: an accepted result has the documented shape.
func checkTIPIPost(t *testing.T, fields map[string]string, p payments.TIPIPost) {
	t.Helper()
	switch {
	case !digitsRe.MatchString(p.Numcli) || p.Numcli != fields["numcli"]:
		t.Fatalf("accepted numcli %q", p.Numcli)
	case !alnumRe.MatchString(p.Refdet) || p.Refdet != fields["refdet"]:
		t.Fatalf("accepted refdet %q", p.Refdet)
	case p.Amount <= 0 || strconv.FormatInt(p.Amount, 10) != fields["montant"]:
		t.Fatalf("accepted montant %q as %d cents", fields["montant"], p.Amount)
	case p.Resultrans == "" || p.Resultrans != strings.ToUpper(p.Resultrans) || p.Saisie != strings.ToUpper(p.Saisie):
		t.Fatalf("accepted resultrans %q, saisie %q", p.Resultrans, p.Saisie)
	}
	want := map[string]payments.Status{"P": payments.Paid, "V": payments.Paid, "R": payments.Refused, "Z": payments.Refused, "A": payments.Pending}[p.Resultrans]
	if want == "" {
		want = payments.Failed // anything else is an error, never a payment
	}
	if p.Status != want {
		t.Fatalf("resultrans %q read as %s, want %s", p.Resultrans, p.Status, want)
	}
	if !p.TransactionAt.IsZero() {
		at := p.TransactionAt.In(tenant.Paris)
		if at.Format("02012006") != fields["dattrans"] || at.Format("1504") != fields["heurtrans"] {
			t.Fatalf("dattrans %q heurtrans %q read as %s", fields["dattrans"], fields["heurtrans"], at)
		}
	}
}
