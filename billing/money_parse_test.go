package billing_test

import (
	"errors"
	"testing"

	"github.com/regie/regie/billing"
)

func TestParseEuros(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"37,50", 3750, true},
		{"37.50", 3750, true},
		{"37", 3700, true},
		{"37,5", 3750, true},
		{"1 739,88 €", 173988, true},
		{"1\u00a0739,88\u00a0€", 173988, true},
		{"0,05", 5, true},
		{"37,505", 0, false},
		{"douze", 0, false},
		{"", 0, false},
		{"1,2,3", 0, false},
	} {
		got, err := billing.ParseEuros(tc.in)
		var ve *billing.ValidationError
		switch {
		case tc.ok && (err != nil || got != tc.want):
			t.Errorf("ParseEuros(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		case !tc.ok && !errors.As(err, &ve):
			t.Errorf("ParseEuros(%q) = %d, %v; want a validation error", tc.in, got, err)
		}
	}
}

func TestFormatEurosInput_RoundTrip(t *testing.T) {
	for _, cents := range []int64{0, 5, 50, 3750, 173988, 123456789} {
		s := billing.FormatEurosInput(cents)
		if got, err := billing.ParseEuros(s); err != nil || got != cents {
			t.Errorf("%d → %q → %d, %v", cents, s, got, err)
		}
	}
	if got := billing.FormatEurosInput(173988); got != "1739,88" {
		t.Errorf("FormatEurosInput(173988) = %q", got)
	}
}
