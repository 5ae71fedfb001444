package billing_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/regie/regie/billing"
)

func TestNormalizeEmail(t *testing.T) {
	for _, tc := range []struct {
		in, want string // want "" for a rejected address
	}{
		{"jean.dupont@exemple.fr", "jean.dupont@exemple.fr"},
		{"Jean.Dupont@Exemple.FR", "jean.dupont@exemple.fr"},
		{"  marie@exemple.fr \t", "marie@exemple.fr"},
		{"\r\nmarie@exemple.fr\r\n", "marie@exemple.fr"},
		{"prenom+factures@sous.exemple.fr", "prenom+factures@sous.exemple.fr"},
		{"Élodie@Exemple.fr", "élodie@exemple.fr"},
		{"", ""},
		{"   ", ""},
		{"jean.dupont", ""},
		{"jean@", ""},
		{"@exemple.fr", ""},
		{"jean@localhost", ""},           // no dot in the domain
		{"jean@exemple.fr@autre.fr", ""}, // two @
		{"Jean Dupont <jean@exemple.fr>", ""},
		{"<jean@exemple.fr>", ""},
		{"jean dupont@exemple.fr", ""},
		{"jean@exemple.fr, marie@exemple.fr", ""},
		{strings.Repeat("a", 250) + "@exemple.fr", ""}, // over 254
	} {
		got, err := billing.NormalizeEmail(tc.in)
		if tc.want == "" {
			var ve *billing.ValidationError
			if !errors.As(err, &ve) {
				t.Errorf("NormalizeEmail(%q) = %q, %v; want a *ValidationError", tc.in, got, err)
				continue
			}
			if ve.Field != "email" || !strings.Contains(ve.Message, "adresse de messagerie invalide") {
				t.Errorf("NormalizeEmail(%q): ValidationError{%q, %q}, want field email and a French message", tc.in, ve.Field, ve.Message)
			}
			if got != "" {
				t.Errorf("NormalizeEmail(%q) returned %q with its error, want empty", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestSplitEmails(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
		wantBad  string // the offending entry, quoted in the message
	}{
		{"Empty", "", nil, ""},
		{"OnlySeparators", " ,; \t", nil, ""},
		{"One", "jean@exemple.fr", []string{"jean@exemple.fr"}, ""},
		{"Comma", "jean@exemple.fr,marie@exemple.fr", []string{"jean@exemple.fr", "marie@exemple.fr"}, ""},
		{"Semicolon", "jean@exemple.fr;marie@exemple.fr", []string{"jean@exemple.fr", "marie@exemple.fr"}, ""},
		{"Spaces", "jean@exemple.fr  marie@exemple.fr\tpaul@exemple.fr", []string{"jean@exemple.fr", "marie@exemple.fr", "paul@exemple.fr"}, ""},
		{"Mixed", " Jean@Exemple.fr ; marie@exemple.fr, ,;", []string{"jean@exemple.fr", "marie@exemple.fr"}, ""},
		{"DuplicatesKeepFirstOrder", "marie@exemple.fr, jean@exemple.fr; MARIE@exemple.fr jean@exemple.fr", []string{"marie@exemple.fr", "jean@exemple.fr"}, ""},
		{"Invalid", "jean@exemple.fr; pas-une-adresse", nil, "pas-une-adresse"},
		{"InvalidDomain", "jean@localhost", nil, "jean@localhost"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := billing.SplitEmails(tc.in)
			if tc.wantBad != "" {
				var ve *billing.ValidationError
				if !errors.As(err, &ve) {
					t.Fatalf("SplitEmails(%q) = %v, %v; want a *ValidationError", tc.in, got, err)
				}
				if ve.Field != "email" || !strings.Contains(ve.Message, "adresse de messagerie invalide : « "+tc.wantBad+" »") {
					t.Fatalf("ValidationError{%q, %q}: want field email and a message quoting « %s »", ve.Field, ve.Message, tc.wantBad)
				}
				if got != nil {
					t.Fatalf("SplitEmails returned %v with its error, want nil", got)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("SplitEmails(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestFamily_Validate(t *testing.T) {
	ok := billing.Family{Ref: "F001", Name: "Dupont", Address: "1 rue de la Mairie", PostalCode: "44000", City: "Nantes",
		Emails: []string{"jean@exemple.fr"}}
	for _, tc := range []struct {
		name      string
		change    func(*billing.Family)
		wantField string // "" when valid
	}{
		{"OK", func(*billing.Family) {}, ""},
		{"NoEmails", func(f *billing.Family) { f.Emails = nil }, ""},
		{"RefMissing", func(f *billing.Family) { f.Ref = "" }, "famille"},
		{"RefBlank", func(f *billing.Family) { f.Ref = "   " }, "famille"},
		{"RefMax", func(f *billing.Family) { f.Ref = strings.Repeat("1", 64) }, ""},
		{"RefTooLong", func(f *billing.Family) { f.Ref = strings.Repeat("1", 65) }, "famille"},
		{"NameMissing", func(f *billing.Family) { f.Name = " " }, "nom"},
		{"NameTooLong", func(f *billing.Family) { f.Name = strings.Repeat("n", 201) }, "nom"},
		{"AddressTooLong", func(f *billing.Family) { f.Address = strings.Repeat("a", 301) }, "adresse"},
		{"CityTooLong", func(f *billing.Family) { f.City = strings.Repeat("c", 101) }, "adresse"},
		{"PostalCodeTooLong", func(f *billing.Family) { f.PostalCode = strings.Repeat("4", 11) }, "adresse"},
		{"EmailNotNormalized", func(f *billing.Family) { f.Emails = []string{"Jean@Exemple.fr"} }, "email"},
		{"EmailWithSpace", func(f *billing.Family) { f.Emails = []string{" jean@exemple.fr"} }, "email"},
		{"EmailInvalid", func(f *billing.Family) { f.Emails = []string{"jean@exemple.fr", "jean"} }, "email"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := ok
			f.Emails = slices.Clone(ok.Emails)
			tc.change(&f)
			err := f.Validate()
			if tc.wantField == "" {
				if err != nil {
					t.Fatalf("Validate: %v, want valid", err)
				}
				return
			}
			var ve *billing.ValidationError
			if !errors.As(err, &ve) || ve.Field != tc.wantField || ve.Message == "" {
				t.Fatalf("Validate = %v, want a *ValidationError on %q", err, tc.wantField)
			}
			if ve.Error() != ve.Field+" : "+ve.Message {
				t.Errorf("Error() = %q", ve.Error())
			}
		})
	}
}
