package payfip_test

import (
	"strings"
	"testing"

	"github.com/regie/regie/payments/payfip"
)

func TestNormalizeObjet(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"PAYFIPSample", "Précompte famille #1234", "Precompte famille 1234"},
		{"AlreadyClean", "coucou", "coucou"},
		{"Empty", "", ""},
		{"Accents", "Crèche été à Noël ÇÀÉÎÔÛ", "Creche ete a Noel CAEIOU"},
		{"Apostrophe", "Cantine de l'école", "Cantine de l ecole"},
		{"TypographicApostrophe", "Cantine de l’école", "Cantine de l ecole"},
		{"Hyphen", "Saint-Étienne-de-Tinée", "Saint Etienne de Tinee"},
		{"CollapseSpaces", "  Garderie   du\tsoir  ", "Garderie du soir"},
		{"HyphenAndSpaces", "Janvier - Mars", "Janvier Mars"},
		{"OtherCharactersDropped", "Facture n°12/2024 : 37,50 € (payée) !", "Facture n122024 3750 payee"},
		{"OnlyDropped", "#@!?€", ""},
		{"Digits", "2024 01", "2024 01"},
		{"CombiningMarks", "Cre\u0300che", "Creche"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := payfip.NormalizeObjet(tt.in); got != tt.want {
				t.Errorf("NormalizeObjet(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestNormalizeObjet_Cap(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"Exactly100", strings.Repeat("a", 100), strings.Repeat("a", 100)},
		{"101", strings.Repeat("a", 101), strings.Repeat("a", 100)},
		{"LongAccented", strings.Repeat("é", 150), strings.Repeat("e", 100)},
		// Cut on a space: the trailing space goes, the objet is then 99.
		{"CutOnSpace", strings.Repeat("abcd ", 30), strings.TrimSpace(strings.Repeat("abcd ", 20))},
		// Dropped characters do not count.
		{"DroppedDoNotCount", strings.Repeat("#", 50) + strings.Repeat("b", 100), strings.Repeat("b", 100)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := payfip.NormalizeObjet(tt.in)
			if got != tt.want {
				t.Errorf("NormalizeObjet(%d characters) = %q (%d), want %q (%d)", len(tt.in), got, len(got), tt.want, len(tt.want))
			}
		})
	}
}

// TestNormalizeObjet_Accepted checks the contract on odd input: what comes
// out is always what DGFiP accepts (ASCII letters, digits, single spaces,
// no space at the ends, 100 characters at most), and normalising twice
// changes nothing.
func TestNormalizeObjet_Accepted(t *testing.T) {
	inputs := []string{
		"Précompte famille #1234", "\x00\xff\xfe", "a\u200bb", "ｆｕｌｌｗｉｄｔｈ", "ﬁnance", "x\u0301\u0301\u0301",
		strings.Repeat("ab-'", 60), "Ελληνικά Кириллица 中文", "\t\n\r ", "ß æ œ Œ ø",
	}
	for _, in := range inputs {
		got := payfip.NormalizeObjet(in)
		if len(got) > 100 || strings.TrimSpace(got) != got || strings.Contains(got, "  ") {
			t.Errorf("NormalizeObjet(%q) = %q: length, ends or double spaces", in, got)
		}
		for _, r := range got {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == ' ') {
				t.Errorf("NormalizeObjet(%q) = %q holds %q", in, got, r)
				break
			}
		}
		if again := payfip.NormalizeObjet(got); again != got {
			t.Errorf("NormalizeObjet(%q) = %q, then %q", in, got, again)
		}
	}
}

func TestNormalizeObjet_UnicodeSeparatorsAndLigatures(t *testing.T) {
	for in, want := range map[string]string{
		"Saint\u2011Jean":          "Saint Jean",
		"Cœuvres–et–Valsery":       "Coeuvres et Valsery",
		"Œuvre sociale":            "OEuvre sociale",
		"Straße\u00a0du\u202fport": "Strasse du port",
		"ligne\nsuivante":          "ligne suivante",
	} {
		if got := payfip.NormalizeObjet(in); got != want {
			t.Errorf("NormalizeObjet(%q) = %q, want %q", in, got, want)
		}
	}
}
