package billing_test

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"testing"

	"github.com/regie/regie/billing"
)

var (
	referenceRe = regexp.MustCompile(`^[A-Za-z0-9/_.-]+$`)
	refdetRe    = regexp.MustCompile(`^[A-Za-z0-9]{6,30}$`)
	seriesRe    = regexp.MustCompile(`^[A-Z0-9]{1,10}$`)
)

// FuzzReference renders arbitrary series patterns ("{exer}-RS-00-{numero:7}")
// for arbitrary codes, years, months and numbers, and turns the references
// into DGFiP's refdet. Its seeds are in testdata/fuzz/FuzzReference: the
// demo's pattern, every placeholder, bad widths, unknown or repeated
// placeholders, stray braces, accents, limits.
//
// Properties: nothing panics; FormatReference refuses every pattern
// ValidatePattern refuses, and out-of-range years, months and numbers;
// what it renders holds only the allowed characters and the zero-padded
// number, and two numbers never share a reference or a refdet; what
// Refdet accepts is 6 to 30 letters and digits, taken in order from the
// reference, and stable; a series that Validate accepts gives valid
// refdets for its next numbers.
func FuzzReference(f *testing.F) {
	f.Fuzz(func(t *testing.T, pattern, code string, exer, month int, number int64) {
		checkRefdet(t, pattern) // any text as a reference the commune's software numbered
		ref, err := billing.FormatReference(pattern, code, exer, month, number)
		if perr := billing.ValidatePattern(pattern); perr != nil {
			checkValidationError(t, perr)
			if err == nil {
				t.Fatalf("FormatReference(%q) = %q, but ValidatePattern says %v", pattern, ref, perr)
			}
			return
		}
		inRange := exer >= 1000 && exer <= 9999 && month >= 1 && month <= 12 && number >= 0
		if !inRange {
			if err == nil {
				t.Fatalf("FormatReference(%q, %d, %d, %d) = %q, want an error", pattern, exer, month, number, ref)
			}
			return
		}
		if err != nil {
			t.Fatalf("FormatReference(%q, %q, %d, %d, %d): %v", pattern, code, exer, month, number, err)
		}
		if !strings.Contains(ref, fmt.Sprint(number)) {
			t.Fatalf("reference %q lacks the number %d", ref, number)
		}
		checkRefdet(t, ref)
		if !seriesRe.MatchString(code) {
			return // codes are checked with the series; the rest needs a valid one
		}
		if !referenceRe.MatchString(ref) {
			t.Fatalf("FormatReference(%q, %q) = %q: characters outside letters, digits and - / _ .", pattern, code, ref)
		}
		if number < math.MaxInt64 {
			next, err := billing.FormatReference(pattern, code, exer, month, number+1)
			if err != nil || next == ref {
				t.Fatalf("numbers %d and %d give %q and %q (%v)", number, number+1, ref, next, err)
			}
			r1, err1 := billing.Refdet(ref)
			r2, err2 := billing.Refdet(next)
			if err1 == nil && err2 == nil && r1 == r2 {
				t.Fatalf("numbers %d and %d share the refdet %q", number, number+1, r1)
			}
		}
		s := billing.Series{Code: code, Label: "Restauration scolaire", Pattern: pattern, NextNumber: number}
		if err := s.Validate(); err != nil {
			checkValidationError(t, err)
			return
		}
		for _, n := range []int64{number, number + 1, number + 999_999} {
			ref, err := billing.FormatReference(pattern, code, exer, month, n)
			if err != nil {
				t.Fatalf("valid series %+v: number %d: %v", s, n, err)
			}
			if _, err := billing.Refdet(ref); err != nil {
				t.Fatalf("valid series %+v: number %d gives %q: %v", s, n, ref, err)
			}
		}
	})
}

// checkRefdet: Refdet accepts 6 to 30 letters and digits taken in order
// from the reference, and leaves them unchanged.
func checkRefdet(t *testing.T, ref string) {
	t.Helper()
	r, err := billing.Refdet(ref)
	if err != nil {
		checkValidationError(t, err)
		return
	}
	if !refdetRe.MatchString(r) {
		t.Fatalf("Refdet(%q) = %q", ref, r)
	}
	if again, err := billing.Refdet(r); err != nil || again != r {
		t.Fatalf("Refdet(%q) = %q, then %q (%v)", ref, r, again, err)
	}
	rest := ref
	for _, c := range r {
		i := strings.IndexRune(rest, c)
		if i < 0 {
			t.Fatalf("Refdet(%q) = %q: %q is not from the reference", ref, r, c)
		}
		rest = rest[i+1:]
	}
}

// checkValidationError: refusals are ValidationErrors with a French message.
func checkValidationError(t *testing.T, err error) {
	t.Helper()
	var v *billing.ValidationError
	if !errors.As(err, &v) || v.Message == "" {
		t.Fatalf("error %v (%T), want a *ValidationError with a message", err, err)
	}
}
