package payfip_test

import (
	"encoding/xml"
	"maps"
	"strings"
	"testing"

	"github.com/regie/regie/payments/payfip"
)

// FuzzParseAnswer feeds ParseAnswer arbitrary bodies, as a broken DGFiP,
// a proxy or an attacker on the path could send. Its seeds are in
// testdata/fuzz/FuzzParseAnswer: the answers of PAYFIP.md, faults,
// garbage, an empty body and a deeply nested one, fields given twice.
//
// Properties: exactly one of fields, fault or error; keys lower-cased and
// values trimmed; accepted fields round-trip through an answer written the
// way DGFiP's server writes them; the transaction time is read only from
// a well-formed dattrans and heurtrans.
func FuzzParseAnswer(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		fields, fault, err := payfip.ParseAnswer(body)
		switch {
		case fault != nil && fields != nil:
			t.Fatalf("both a fault %+v and fields %q", fault, fields)
		case fault != nil && err != nil:
			t.Fatalf("a fault %+v and an error %v", fault, err)
		case err != nil && fields != nil:
			t.Fatalf("an error %v and fields %q", err, fields)
		case err == nil && fault == nil && fields == nil:
			t.Fatal("no fields, no fault and no error")
		}
		for k, v := range fields {
			if k != strings.ToLower(k) {
				t.Errorf("key %q is not lower-cased", k)
			}
			if v != strings.TrimSpace(v) {
				t.Errorf("value %q of %q is not trimmed", v, k)
			}
		}
		if fields != nil {
			// what was read is what DGFiP's server would write back
			var ret strings.Builder
			for k, v := range fields {
				ret.WriteString("<p:" + k + ">")
				xml.EscapeText(&ret, []byte(v)) //nolint:errcheck // a Builder does not fail
				ret.WriteString("</p:" + k + ">")
			}
			again, fault, err := payfip.ParseAnswer([]byte(jaxws("recupererDetailPaiementSecurise", ret.String())))
			if err != nil || fault != nil || !maps.Equal(again, fields) {
				t.Fatalf("round trip of %q: %q, %v, %v", fields, again, fault, err)
			}
			// a transaction time is read only from a well-formed date and hour
			d := payfip.Details{Dattrans: fields["dattrans"], Heurtrans: fields["heurtrans"]}
			if at := d.TransactionTime(); !at.IsZero() && (at.Format("02012006") != d.Dattrans || at.Format("1504") != d.Heurtrans) {
				t.Fatalf("dattrans %q heurtrans %q read as %s", d.Dattrans, d.Heurtrans, at)
			}
		}
		if fault != nil {
			_ = fault.Error()
			_ = fault.Technical()
			if fault.French() == "" {
				t.Errorf("fault %+v has no French text", fault)
			}
		}
	})
}
