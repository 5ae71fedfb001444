package billing

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/regie/regie/tenant"
)

// Series numbers a kind of invoice (RS = restauration scolaire) without gaps.
type Series struct {
	TenantID   tenant.ID `db:"tenant_id"`
	ID         int64     `db:"id"`
	Code       string    `db:"code"`
	Label      string    `db:"label"`
	Pattern    string    `db:"pattern"`
	Numcli     *string   `db:"numcli"` // nil: the commune's
	NextNumber int64     `db:"next_number"`
	CreatedAt  time.Time `db:"created_at"`
	UpdatedAt  time.Time `db:"updated_at"`
}

var codeRe = regexp.MustCompile(`^[A-Z0-9]{1,10}$`)

// Validate checks a series before it is stored.
func (s Series) Validate() error {
	switch {
	case !codeRe.MatchString(s.Code):
		return &ValidationError{"code", "code de série : 1 à 10 lettres majuscules ou chiffres (ex. RS)"}
	case strings.TrimSpace(s.Label) == "" || utf8.RuneCountInString(s.Label) > 100:
		return &ValidationError{"label", "libellé de série obligatoire (100 caractères au plus)"}
	case s.NextNumber < 1:
		return &ValidationError{"next", "le prochain numéro doit être positif"}
	}
	if s.Numcli != nil {
		if err := tenant.ValidateNumcli(*s.Numcli); err != nil {
			return &ValidationError{"numcli", err.(*tenant.ValidationError).Message}
		}
	}
	if err := ValidatePattern(s.Pattern); err != nil {
		return err
	}
	// the pattern must give a valid DGFiP reference for the next numbers
	for _, n := range []int64{s.NextNumber, s.NextNumber + 999_999} {
		ref, err := FormatReference(s.Pattern, s.Code, 2026, 10, n)
		if err != nil {
			return err
		}
		if _, err := Refdet(ref); err != nil {
			return &ValidationError{"pattern", fmt.Sprintf("le modèle donne la référence « %s », qui ne convient pas à la DGFiP : %s", ref, err.(*ValidationError).Message)}
		}
	}
	return nil
}

// NumcliOr returns the DGFiP client number of the series invoices.
func (s Series) NumcliOr(commune string) string {
	if s.Numcli != nil {
		return *s.Numcli
	}
	return commune
}

var tokenRe = regexp.MustCompile(`\{([a-z0-9]+)(?::([0-9]+))?\}`)

// ValidatePattern checks a reference pattern: literal letters, digits and
// the separators - / _ . with the placeholders {exer} (year of the invoiced
// period), {mois} (its month, 2 digits), {serie} (the series' code) and
// exactly one {numero} or {numero:N} (the number, zero-padded to N digits).
func ValidatePattern(p string) error {
	if len(p) > 60 {
		return &ValidationError{"pattern", "modèle trop long (60 caractères au plus)"}
	}
	numeros := 0
	for _, m := range tokenRe.FindAllStringSubmatch(p, -1) {
		switch m[1] {
		case "numero":
			numeros++
			if m[2] != "" {
				if w, _ := strconv.Atoi(m[2]); w < 1 || w > 15 {
					return &ValidationError{"pattern", "largeur de {numero:N} entre 1 et 15"}
				}
			}
		case "exer", "mois", "serie":
			if m[2] != "" {
				return &ValidationError{"pattern", fmt.Sprintf("{%s} ne prend pas de largeur", m[1])}
			}
		default:
			return &ValidationError{"pattern", fmt.Sprintf("marqueur inconnu {%s} (connus : {exer}, {mois}, {serie}, {numero:N})", m[1])}
		}
	}
	if numeros != 1 {
		return &ValidationError{"pattern", "le modèle doit contenir une fois {numero} ou {numero:N}"}
	}
	for _, r := range tokenRe.ReplaceAllString(p, "") {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("-/_.", r)) {
			return &ValidationError{"pattern", fmt.Sprintf("caractère « %c » non permis dans le modèle (lettres, chiffres, - / _ .)", r)}
		}
	}
	return nil
}

// FormatReference renders a pattern for one invoice: FormatReference(
// "{exer}-RS-00-{numero:7}", "RS", 2015, 10, 8001516) = "2015-RS-00-8001516".
// A number wider than its padding keeps all its digits.
func FormatReference(pattern, code string, exer, month int, number int64) (string, error) {
	if err := ValidatePattern(pattern); err != nil {
		return "", err
	}
	if number < 0 || exer < 1000 || exer > 9999 || month < 1 || month > 12 {
		return "", &ValidationError{"pattern", "numéro, exercice ou mois hors limites"}
	}
	return tokenRe.ReplaceAllStringFunc(pattern, func(tok string) string {
		m := tokenRe.FindStringSubmatch(tok)
		switch m[1] {
		case "exer":
			return strconv.Itoa(exer)
		case "mois":
			return fmt.Sprintf("%02d", month)
		case "serie":
			return code
		}
		w, _ := strconv.Atoi(m[2])
		return fmt.Sprintf("%0*d", w, number)
	}), nil
}

// Refdet is the DGFiP debt reference of an invoice reference: its letters
// and digits only, 6 to 30 of them ("2015-RS-00-8001516" → "2015RS008001516").
func Refdet(reference string) (string, error) {
	var b strings.Builder
	for _, r := range reference {
		if r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	s := b.String()
	if len(s) < 6 || len(s) > 30 {
		return "", &ValidationError{"reference", fmt.Sprintf("la référence doit compter de 6 à 30 lettres et chiffres pour la DGFiP (« %s » en compte %d)", reference, len(s))}
	}
	return s, nil
}
