package payfip_test

import (
	"strings"
	"testing"

	"github.com/regie/regie/payments/payfip"
)

// FuzzParseAnswer feeds ParseAnswer arbitrary bodies, as a broken DGFiP,
// a proxy or an attacker on the path could send. Its seeds are in
// testdata/fuzz/FuzzParseAnswer: the answers of PAYFIP.md, faults,
// garbage, an empty body and a deeply nested one.
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
		if fault != nil {
			_ = fault.Error()
			_ = fault.Technical()
			if fault.French() == "" {
				t.Errorf("fault %+v has no French text", fault)
			}
		}
	})
}
