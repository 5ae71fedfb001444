package billing_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/regie/regie/billing"
)

// validationMessage returns the French message of a *ValidationError, or
// fails the test.
func validationMessage(t *testing.T, what string, err error) string {
	t.Helper()
	var ve *billing.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("%s: err = %v, want *ValidationError", what, err)
	}
	return ve.Message
}

func TestValidatePattern(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		for _, p := range []string{
			"{exer}-RS-00-{numero:7}",
			"{numero}",
			"{serie}/{exer}/{mois}/{numero:15}",
			"F_{exer}.{numero:1}",
			"cantine-{numero:6}",
			strings.Repeat("A", 52) + "{numero}", // 60 characters: the longest
		} {
			if err := billing.ValidatePattern(p); err != nil {
				t.Errorf("ValidatePattern(%q) = %v, want nil", p, err)
			}
		}
	})
	t.Run("Refused", func(t *testing.T) {
		for _, tc := range []struct {
			pattern, want string
		}{
			{"{exer}-{annee}-{numero}", "marqueur inconnu {annee} (connus : {exer}, {mois}, {serie}, {numero:N})"},
			{"{exer}-{numero}-{numero:3}", "le modèle doit contenir une fois {numero} ou {numero:N}"},
			{"{exer}-RS", "le modèle doit contenir une fois {numero} ou {numero:N}"},
			{"{NUMERO}", "le modèle doit contenir une fois {numero} ou {numero:N}"},
			{"{exer} RS {numero}", "caractère «   » non permis dans le modèle (lettres, chiffres, - / _ .)"},
			{"RS#{numero}", "caractère « # » non permis dans le modèle (lettres, chiffres, - / _ .)"},
			{"Réf-{numero}", "caractère « é » non permis dans le modèle (lettres, chiffres, - / _ .)"},
			{"{exer-{numero}", "caractère « { » non permis dans le modèle (lettres, chiffres, - / _ .)"},
			{"{numero:0}", "largeur de {numero:N} entre 1 et 15"},
			{"{numero:16}", "largeur de {numero:N} entre 1 et 15"},
			{"{exer:4}-{numero}", "{exer} ne prend pas de largeur"},
			{"{mois:2}-{numero}", "{mois} ne prend pas de largeur"},
			{strings.Repeat("A", 53) + "{numero}", "modèle trop long (60 caractères au plus)"},
		} {
			got := validationMessage(t, tc.pattern, billing.ValidatePattern(tc.pattern))
			if got != tc.want {
				t.Errorf("ValidatePattern(%q) message = %q, want %q", tc.pattern, got, tc.want)
			}
		}
	})
}

func TestFormatReference(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		for _, tc := range []struct {
			pattern, code string
			exer, month   int
			number        int64
			want          string
		}{
			{"{exer}-RS-00-{numero:7}", "RS", 2015, 10, 8001516, "2015-RS-00-8001516"},
			{"{exer}-RS-00-{numero:7}", "RS", 2026, 1, 42, "2026-RS-00-0000042"},
			{"{exer}-RS-00-{numero:3}", "RS", 2015, 10, 8001516, "2015-RS-00-8001516"}, // wider than its padding
			{"{serie}{exer}{mois}-{numero:4}", "GA", 2026, 3, 7, "GA202603-0007"},
			{"{serie}/{mois}/{numero}", "PS", 2026, 12, 0, "PS/12/0"},
			{"F-{numero}", "X", 2026, 10, 123456789012345, "F-123456789012345"},
		} {
			got, err := billing.FormatReference(tc.pattern, tc.code, tc.exer, tc.month, tc.number)
			if err != nil || got != tc.want {
				t.Errorf("FormatReference(%q, %q, %d, %d, %d) = %q, %v; want %q", tc.pattern, tc.code, tc.exer, tc.month, tc.number, got, err, tc.want)
			}
		}
	})
	t.Run("Refused", func(t *testing.T) {
		for _, tc := range []struct {
			name, pattern string
			exer, month   int
			number        int64
			want          string
		}{
			{"BadPattern", "{annee}-{numero}", 2026, 10, 1, "marqueur inconnu {annee} (connus : {exer}, {mois}, {serie}, {numero:N})"},
			{"NegativeNumber", "{numero}", 2026, 10, -1, "numéro, exercice ou mois hors limites"},
			{"Month13", "{numero}", 2026, 13, 1, "numéro, exercice ou mois hors limites"},
			{"Month0", "{numero}", 2026, 0, 1, "numéro, exercice ou mois hors limites"},
			{"Year999", "{numero}", 999, 10, 1, "numéro, exercice ou mois hors limites"},
			{"Year10000", "{numero}", 10000, 10, 1, "numéro, exercice ou mois hors limites"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ref, err := billing.FormatReference(tc.pattern, "RS", tc.exer, tc.month, tc.number)
				if ref != "" {
					t.Errorf("reference = %q, want none", ref)
				}
				if got := validationMessage(t, tc.name, err); got != tc.want {
					t.Errorf("message = %q, want %q", got, tc.want)
				}
			})
		}
	})
}

func TestRefdet(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		for in, want := range map[string]string{
			"2015-RS-00-8001516":     "2015RS008001516",
			"GA202603-0007":          "GA2026030007",
			"a/b_c.d-e f1":           "abcdef1",
			"ABCDEF":                 "ABCDEF",                // 6: the shortest
			strings.Repeat("9", 30):  strings.Repeat("9", 30), // 30: the longest
			"Réf-É-2026-01":          "Rf202601",              // letters outside A-Z are dropped
			"  2026 / RS / 000001  ": "2026RS000001",
		} {
			got, err := billing.Refdet(in)
			if err != nil || got != want {
				t.Errorf("Refdet(%q) = %q, %v; want %q", in, got, err, want)
			}
		}
	})
	t.Run("Refused", func(t *testing.T) {
		for in, want := range map[string]string{
			"AB-12":                 "la référence doit compter de 6 à 30 lettres et chiffres pour la DGFiP (« AB-12 » en compte 4)",
			"ABCDE":                 "la référence doit compter de 6 à 30 lettres et chiffres pour la DGFiP (« ABCDE » en compte 5)",
			"----":                  "la référence doit compter de 6 à 30 lettres et chiffres pour la DGFiP (« ---- » en compte 0)",
			strings.Repeat("9", 31): "la référence doit compter de 6 à 30 lettres et chiffres pour la DGFiP (« " + strings.Repeat("9", 31) + " » en compte 31)",
		} {
			got, err := billing.Refdet(in)
			if got != "" {
				t.Errorf("Refdet(%q) = %q, want none", in, got)
			}
			if msg := validationMessage(t, in, err); msg != want {
				t.Errorf("Refdet(%q) message = %q, want %q", in, msg, want)
			}
		}
	})
}

func TestSeries_Validate(t *testing.T) {
	valid := billing.Series{Code: "RS", Label: "Restauration scolaire", Pattern: rsPattern, NextNumber: rsNext}
	t.Run("OK", func(t *testing.T) {
		for name, s := range map[string]billing.Series{
			"Seed":      valid,
			"Numcli":    seriesWith(valid, func(s *billing.Series) { s.Numcli = ptr("001965") }),
			"TenDigits": seriesWith(valid, func(s *billing.Series) { s.Code = "CANTINE123" }),
			"Next1":     seriesWith(valid, func(s *billing.Series) { s.NextNumber = 1 }),
		} {
			if err := s.Validate(); err != nil {
				t.Errorf("%s: Validate(%+v) = %v, want nil", name, s, err)
			}
		}
	})
	t.Run("Refused", func(t *testing.T) {
		for _, tc := range []struct {
			name          string
			s             billing.Series
			field, prefix string
		}{
			{"LowerCode", seriesWith(valid, func(s *billing.Series) { s.Code = "rs" }), "code", "code de série : 1 à 10 lettres majuscules ou chiffres"},
			{"EmptyCode", seriesWith(valid, func(s *billing.Series) { s.Code = "" }), "code", "code de série"},
			{"LongCode", seriesWith(valid, func(s *billing.Series) { s.Code = "CANTINE1234" }), "code", "code de série"},
			{"BlankLabel", seriesWith(valid, func(s *billing.Series) { s.Label = "  " }), "label", "libellé de série obligatoire"},
			{"LongLabel", seriesWith(valid, func(s *billing.Series) { s.Label = strings.Repeat("x", 101) }), "label", "libellé de série obligatoire (100 caractères au plus)"},
			{"NextZero", seriesWith(valid, func(s *billing.Series) { s.NextNumber = 0 }), "next", "le prochain numéro doit être positif"},
			{"BadNumcli", seriesWith(valid, func(s *billing.Series) { s.Numcli = ptr("1964") }), "numcli", "l'identifiant collectivité DGFiP compte exactement 6 chiffres"},
			{"BadPattern", seriesWith(valid, func(s *billing.Series) { s.Pattern = "{exer}-{numero}-{numero}" }), "pattern", "le modèle doit contenir une fois"},
			// "{numero}" alone gives "1", far too short for a DGFiP refdet.
			{"ShortRefdet", seriesWith(valid, func(s *billing.Series) { s.Pattern = "{numero}"; s.NextNumber = 1 }), "pattern", "le modèle donne la référence « 1 », qui ne convient pas à la DGFiP : la référence doit compter de 6 à 30"},
			// fine for the next number, too long a million numbers later
			{"LongRefdetLater", seriesWith(valid, func(s *billing.Series) { s.Pattern = "ABCDEFGHIJKLMNOPQRSTUVWX-{numero}"; s.NextNumber = 1 }), "pattern", "le modèle donne la référence « ABCDEFGHIJKLMNOPQRSTUVWX-1000000 »"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				err := tc.s.Validate()
				var ve *billing.ValidationError
				if !errors.As(err, &ve) {
					t.Fatalf("Validate(%+v) = %v, want *ValidationError", tc.s, err)
				}
				if ve.Field != tc.field || !strings.HasPrefix(ve.Message, tc.prefix) {
					t.Errorf("Validate = %q : %q, want field %q and a message starting %q", ve.Field, ve.Message, tc.field, tc.prefix)
				}
			})
		}
	})
}

// seriesWith returns a copy of s changed by fn.
func seriesWith(s billing.Series, fn func(s *billing.Series)) billing.Series {
	fn(&s)
	return s
}

func TestSeries_NumcliOr(t *testing.T) {
	s := billing.Series{Code: "RS"}
	if got := s.NumcliOr("001964"); got != "001964" {
		t.Errorf("without its own numcli: %q, want the commune's 001964", got)
	}
	s.Numcli = ptr("001965")
	if got := s.NumcliOr("001964"); got != "001965" {
		t.Errorf("with its own numcli: %q, want 001965", got)
	}
}
