package billing_test

import (
	"testing"

	"github.com/regie/regie/billing"
)

func TestFormatEuros(t *testing.T) {
	for _, tc := range []struct {
		cents int64
		want  string
	}{
		{0, "0,00\u00a0€"},
		{5, "0,05\u00a0€"},
		{3750, "37,50\u00a0€"},
		{99999, "999,99\u00a0€"},
		{100000, "1\u00a0000,00\u00a0€"},
		{173988, "1\u00a0739,88\u00a0€"},
		{123456789, "1\u00a0234\u00a0567,89\u00a0€"},
		{-500, "-5,00\u00a0€"},
		{-173988, "-1\u00a0739,88\u00a0€"},
	} {
		if got := billing.FormatEuros(tc.cents); got != tc.want {
			t.Errorf("FormatEuros(%d) = %q, want %q", tc.cents, got, tc.want)
		}
	}
}

func TestFormatQuantity(t *testing.T) {
	for _, tc := range []struct {
		milli int64
		want  string
	}{
		{15000, "15"},
		{2500, "2,5"},
		{125, "0,125"},
		{1, "0,001"},
		{10, "0,01"},
		{1500, "1,5"},
		{1234567, "1234,567"},
	} {
		if got := billing.FormatQuantity(tc.milli); got != tc.want {
			t.Errorf("FormatQuantity(%d) = %q, want %q", tc.milli, got, tc.want)
		}
	}
}

func TestParseDecimal(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		for _, tc := range []struct {
			in    string
			scale int
			want  int64
		}{
			{"2,50", 2, 250},
			{"2.50", 2, 250},
			{"2,5", 2, 250},
			{"2", 2, 200},
			{"0,05", 2, 5},
			{",5", 2, 50},
			{"  37,50  ", 2, 3750},
			{"1 234,56 €", 2, 123456},
			{"1\u00a0234,56\u00a0€", 2, 123456},
			{"1\u202f234,56 €", 2, 123456},
			{"€2.50", 2, 250},
			{"2,50 EUR", 2, 250},
			{"1.739,88", 2, 173988},
			{"1,739.88", 2, 173988},
			{"-10,00", 2, -1000},
			{"+3", 2, 300},
			{"2,5", 3, 2500},
			{"0,333", 3, 333},
			{"15", 3, 15000},
			{"999999999999", 2, 99999999999900},
		} {
			got, err := billing.ParseDecimal(tc.in, tc.scale)
			if err != nil || got != tc.want {
				t.Errorf("parseDecimal(%q, %d) = %d, %v; want %d", tc.in, tc.scale, got, err, tc.want)
			}
		}
	})
	t.Run("Refused", func(t *testing.T) {
		for _, tc := range []struct {
			in    string
			scale int
		}{
			{"", 2},
			{"abc", 2},
			{"2,505", 2}, // 3 decimals for cents
			{"1,2345", 3},
			{"1,234,567", 2},
			{"1.2.3", 2},
			{"-", 2},
			{".", 2},
			{"--5", 2},
			{"1e3", 2},
			{"0x10", 2},
			{"12 ans", 2},
			{"1234567890123", 2}, // 13 digits before the comma
		} {
			if got, err := billing.ParseDecimal(tc.in, tc.scale); err == nil {
				t.Errorf("parseDecimal(%q, %d) = %d, want an error", tc.in, tc.scale, got)
			}
		}
	})
}

func TestLineTotal(t *testing.T) {
	for _, tc := range []struct {
		name                string
		quantityMilli, unit int64
		want                int64
	}{
		{"15 meals at 2,50", 15000, 250, 3750},
		{"2,5 × 1,25 rounds half up", 2500, 125, 313},
		{"0,333 × 0,10 rounds down", 333, 10, 3},
		{"0,005 × 1,00 is half a cent, up", 5, 100, 1},
		{"0,004 × 1,00 rounds to zero", 4, 100, 0},
		{"1,5 × 0,99", 1500, 99, 149},                             // 148,5 → 149
		{"discount 1 × -10,00", 1000, -1000, -1000},               // exact
		{"discount 2,5 × -1,25 away from zero", 2500, -125, -313}, // -312,5 → -313
		{"largest accepted line", 1_000_000_000, 100_000_000, 100_000_000_000_000},
	} {
		if got := billing.LineTotal(tc.quantityMilli, tc.unit); got != tc.want {
			t.Errorf("%s: lineTotal(%d, %d) = %d, want %d", tc.name, tc.quantityMilli, tc.unit, got, tc.want)
		}
	}
}
