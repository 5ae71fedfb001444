package billing_test

import (
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/regie/regie/billing"
)

func TestSniffEncoding(t *testing.T) {
	for _, tc := range []struct {
		name        string
		data        string
		utf8, bom   bool
		oneByteOnly bool // read one byte at a time
	}{
		{"Empty", "", true, false, false},
		{"ASCII", "famille;nom\n", true, false, false},
		{"UTF8", "Échéance;Prénom\n", true, false, false},
		{"UTF8WithBOM", "\xef\xbb\xbfÉchéance\n", true, true, false},
		{"Windows1252", "\xc9ch\xe9ance\n", false, false, false},
		{"Windows1252EndsOnLeadByte", "Caf\xe9", false, false, false},
		{"TruncatedUTF8AtEOF", "Caf\xc3", false, false, false},
		{"UTF8ByteByByte", "Échéance € 😀\n", true, false, true},
		{"Windows1252ByteByByte", "Lef\xe8vre\n", false, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r io.Reader = strings.NewReader(tc.data)
			if tc.oneByteOnly {
				r = iotest.OneByteReader(r)
			}
			isUTF8, bom, err := billing.SniffEncoding(r)
			if err != nil || isUTF8 != tc.utf8 || bom != tc.bom {
				t.Errorf("sniffEncoding(%q) = utf8 %v, bom %v, %v; want %v, %v", tc.data, isUTF8, bom, err, tc.utf8, tc.bom)
			}
		})
	}
	t.Run("ReadError", func(t *testing.T) {
		boom := errors.New("disque illisible")
		r := io.MultiReader(strings.NewReader("famille;nom\n"), iotest.ErrReader(boom))
		if _, _, err := billing.SniffEncoding(r); !errors.Is(err, boom) {
			t.Errorf("err = %v, want the read error", err)
		}
	})
}

func TestCanonicalHeader(t *testing.T) {
	for in, want := range map[string]string{
		"famille":          "famille",
		"FAMILLE":          "famille",
		" Nom ":            "nom",
		"E-mail":           "email",
		"Courriel":         "email",
		"Mail":             "email",
		"emails":           "email",
		"Code postal":      "code_postal",
		"CP":               "code_postal",
		"Série":            "serie",
		"Série de facture": "serie",
		"Période":          "periode",
		"Libellé":          "libelle",
		"Quantité":         "quantite",
		"Qté":              "quantite",
		"PRIX UNITAIRE":    "prix_unitaire",
		"Prix_Unitaire":    "prix_unitaire",
		"Prix":             "prix_unitaire",
		"Échéance":         "echeance",
		"Date d'échéance":  "echeance",
		"Référence":        "reference",
		"\ufefffamille":    "famille",
		"Commentaire":      "commentaire",
		"":                 "",
	} {
		if got := billing.CanonicalHeader(in); got != want {
			t.Errorf("canonicalHeader(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParsePeriod(t *testing.T) {
	for in, want := range map[string]time.Time{
		"2026-10": date(2026, 10, 1),
		"2026-1":  date(2026, 1, 1),
		"10/2026": date(2026, 10, 1),
		"1/2026":  date(2026, 1, 1),
		"01/2026": date(2026, 1, 1),
		"2000-01": date(2000, 1, 1),
		"12/2100": date(2100, 12, 1),
	} {
		got, ok := billing.ParsePeriod(in)
		if !ok || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("parsePeriod(%q) = %v, %v; want %v UTC", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "2026", "2026-13", "13/2026", "0/2026", "2026-10-01", "10-2026", "1999-12", "2101-01", "oct. 2026", "2026/10"} {
		if got, ok := billing.ParsePeriod(in); ok {
			t.Errorf("parsePeriod(%q) = %v, want refused", in, got)
		}
	}
}

func TestParseDate(t *testing.T) {
	for in, want := range map[string]time.Time{
		"15/11/2026": date(2026, 11, 15),
		"5/1/2026":   date(2026, 1, 5),
		"05/01/2026": date(2026, 1, 5),
		"2026-11-15": date(2026, 11, 15),
		"29/02/2028": date(2028, 2, 29),
	} {
		got, ok := billing.ParseDate(in)
		if !ok || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("parseDate(%q) = %v, %v; want %v UTC", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "31/02/2026", "29/02/2026", "15/13/2026", "15/11/26", "2026/11/15", "11-15-2026", "15.11.2026", "15/11/1999", "01/01/2101"} {
		if got, ok := billing.ParseDate(in); ok {
			t.Errorf("parseDate(%q) = %v, want refused", in, got)
		}
	}
}

func TestParseRow(t *testing.T) {
	fields := map[string]string{
		"famille": "F1", "nom": "Dupont", "email": "", "adresse": "", "code_postal": "", "ville": "",
		"serie": "ga", "periode": "2026-10", "libelle": "Garderie", "quantite": "0,001", "prix_unitaire": "0", "echeance": "15/11/2026",
	} // no reference column at all
	row, errs := billing.ParseRow(7, fields, map[string]bool{"GA": true})
	if len(errs) != 0 {
		t.Fatalf("errors %q", lineErrors(errs))
	}
	if row.Line != 7 || row.SeriesCode != "GA" || row.Emails != nil || row.Reference != "" || row.QuantityMilli != 1 || row.UnitPriceCents != 0 {
		t.Errorf("row = %+v, want line 7, series GA, no e-mail, no reference, 0,001 × 0 €", row)
	}

	t.Run("NoSeries", func(t *testing.T) {
		_, errs := billing.ParseRow(2, fields, map[string]bool{})
		want := []string{"ligne 2 (colonne serie) : série inconnue « GA » (séries de la commune : aucune, créez-en une d'abord)"}
		if got := lineErrors(errs); !slices.Equal(got, want) {
			t.Errorf("errors = %q, want %q", got, want)
		}
	})

	t.Run("LongValuesCountCharacters", func(t *testing.T) {
		f := map[string]string{}
		for k, v := range fields {
			f[k] = v
		}
		f["nom"] = strings.Repeat("é", 200) // 400 bytes, 200 characters
		if _, errs := billing.ParseRow(2, f, map[string]bool{"GA": true}); len(errs) != 0 {
			t.Errorf("200 accented characters: %q, want accepted", lineErrors(errs))
		}
	})
}
