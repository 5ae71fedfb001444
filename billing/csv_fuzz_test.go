package billing_test

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/regie/regie/billing"
)

// FuzzCSVSource reads arbitrary bytes as an import file. The seed corpus is
// in testdata/fuzz/FuzzCSVSource: valid files in both separators and
// encodings, a BOM, broken quotes, an empty file, a header alone, garbage.
func FuzzCSVSource(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		src, headErrs, err := billing.NewCSVSource(bytes.NewReader(data), seriesCodes)
		if err != nil {
			if !errors.Is(err, billing.ErrBadFile) || len(headErrs) == 0 {
				t.Fatalf("NewCSVSource = %v with errors %q, want ErrBadFile with its reasons", err, lineErrors(headErrs))
			}
			checkLineErrors(t, headErrs, 1)
			return
		}
		last := 1 // the header
		for n := 0; ; n++ {
			if n > len(data) {
				t.Fatalf("more rows (%d) than bytes (%d)", n, len(data))
			}
			row, errs, err := src.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				t.Fatalf("Next: %v (a bytes.Reader cannot fail)", err)
			}
			if row.Line <= last {
				t.Fatalf("row on line %d after line %d", row.Line, last)
			}
			last = row.Line
			if len(errs) > 0 {
				checkLineErrors(t, errs, row.Line)
				continue
			}
			checkAcceptedRow(t, row)
		}
	})
}

// checkLineErrors: every error names its line (that of its row), a column
// and a message.
func checkLineErrors(t *testing.T, errs []billing.LineError, line int) {
	t.Helper()
	for _, e := range errs {
		if e.Line < 1 || e.Line != line || e.Column == "" || e.Message == "" {
			t.Fatalf("bad LineError %+v (row on line %d)", e, line)
		}
	}
}

// checkAcceptedRow: a row without errors has everything the import needs.
func checkAcceptedRow(t *testing.T, r billing.ImportRow) {
	t.Helper()
	switch {
	case r.FamilyRef == "" || r.Name == "" || r.Label == "":
		t.Fatalf("accepted row without family, name or label: %+v", r)
	case !slices.Contains(seriesCodes, r.SeriesCode):
		t.Fatalf("accepted row of series %q, not one of %v", r.SeriesCode, seriesCodes)
	case r.QuantityMilli <= 0:
		t.Fatalf("accepted row with quantity %d", r.QuantityMilli)
	case r.Period.IsZero() || r.Period.Day() != 1 || r.Period.Hour() != 0:
		t.Fatalf("accepted row with period %v, want the 1st of a month", r.Period)
	case r.DueDate.IsZero() || r.DueDate.Year() < 2000 || r.DueDate.Year() > 2100 || r.Period.Year() < 2000 || r.Period.Year() > 2100:
		t.Fatalf("accepted row with due date %v, period %v", r.DueDate, r.Period)
	case r.QuantityMilli > 1_000_000_000 || r.UnitPriceCents > 100_000_000 || r.UnitPriceCents < -100_000_000:
		t.Fatalf("accepted row with quantity %d, unit price %d", r.QuantityMilli, r.UnitPriceCents)
	}
	// text that PostgreSQL stores as is: UTF-8 without NUL, trimmed, within
	// its column's limit
	for _, f := range []struct {
		name string
		v    string
		max  int
	}{{"famille", r.FamilyRef, 64}, {"nom", r.Name, 200}, {"adresse", r.Address, 300}, {"code_postal", r.PostalCode, 10},
		{"ville", r.City, 100}, {"libelle", r.Label, 200}, {"reference", r.Reference, 40}} {
		if !utf8.ValidString(f.v) || strings.ContainsRune(f.v, 0) || f.v != strings.TrimSpace(f.v) || utf8.RuneCountInString(f.v) > f.max {
			t.Fatalf("accepted %s %q", f.name, f.v)
		}
	}
	for _, e := range r.Emails {
		if n, err := billing.NormalizeEmail(e); err != nil || n != e {
			t.Fatalf("accepted row with e-mail %q not normalised", e)
		}
	}
	if r.Reference != "" {
		if _, err := billing.Refdet(r.Reference); err != nil {
			t.Fatalf("accepted row with reference %q: %v", r.Reference, err)
		}
	}
}
