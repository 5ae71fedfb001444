package billing

import (
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/regie/regie/tenant"
)

// Family is a household as the town hall knows it. Ref is the commune's own
// family id, kept as text.
type Family struct {
	TenantID   tenant.ID `db:"tenant_id"`
	ID         int64     `db:"id"`
	Ref        string    `db:"ref"`
	Name       string    `db:"name"`
	Address    string    `db:"address"`
	PostalCode string    `db:"postal_code"`
	City       string    `db:"city"`
	Emails     []string  `db:"-"`
	CreatedAt  time.Time `db:"created_at"`
	UpdatedAt  time.Time `db:"updated_at"`
}

// NormalizeEmail returns an address in the form it is stored and compared:
// trimmed and lower-cased. It returns a *ValidationError for anything that is
// not a bare address.
func NormalizeEmail(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" || len(s) > 254 || !strings.Contains(s[strings.LastIndexByte(s, '@')+1:], ".") {
		return "", &ValidationError{"email", "adresse de messagerie invalide (exemple : prenom.nom@exemple.fr)"}
	}
	return s, nil
}

// SplitEmails parses a list of addresses separated by spaces, commas,
// semicolons or line breaks (a spreadsheet cell may hold one per line),
// normalised and without duplicates.
func SplitEmails(s string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '\t' || r == '\n' || r == '\r' }) {
		e, err := NormalizeEmail(f)
		if err != nil {
			return nil, &ValidationError{"email", "adresse de messagerie invalide : « " + f + " »"}
		}
		if !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	return out, nil
}

// Validate checks a family before it is stored; addresses must already be
// normalised.
func (f Family) Validate() error {
	switch {
	case strings.TrimSpace(f.Ref) == "" || utf8.RuneCountInString(f.Ref) > 64:
		return &ValidationError{"famille", "identifiant de famille obligatoire (64 caractères au plus)"}
	case strings.TrimSpace(f.Name) == "" || utf8.RuneCountInString(f.Name) > 200:
		return &ValidationError{"nom", "nom de famille obligatoire (200 caractères au plus)"}
	case utf8.RuneCountInString(f.Address) > 300 || utf8.RuneCountInString(f.City) > 100 || utf8.RuneCountInString(f.PostalCode) > 10:
		return &ValidationError{"adresse", "adresse trop longue"}
	}
	for _, e := range f.Emails {
		if n, err := NormalizeEmail(e); err != nil || n != e {
			return &ValidationError{"email", "adresse de messagerie invalide : « " + e + " »"}
		}
	}
	return nil
}
