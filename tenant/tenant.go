// Package tenant owns the communes (tenants) of the platform: their settings,
// their storage, the resolution of a request's host to its commune, and
// WithTx, the transaction in which all of a commune's work runs.
package tenant

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// ID identifies a commune. It is the distribution column of every
// tenant-owned table.
type ID int64

// Protocol is the DGFiP payment protocol a commune uses.
type Protocol string

// The payment protocols (PAYFIP.md).
const (
	ProtocolPayFiP Protocol = "payfip" // the PayFiP web service, the default
	ProtocolTIPI   Protocol = "tipi"   // the legacy TIPI URL protocol
)

// Mode is a commune's payment mode, mapped per protocol to DGFiP's saisie.
type Mode string

// The payment modes. Only ModeTest moves no money.
const (
	ModeTest       Mode = "test"
	ModeActivation Mode = "activation"
	ModeProduction Mode = "production"
)

// Status says whether a commune's portal is open.
type Status string

// The statuses of a commune.
const (
	StatusActive    Status = "active"
	StatusSuspended Status = "suspended"
)

// Errors of the package.
var (
	// ErrNotFound means no commune matches.
	ErrNotFound = errors.New("tenant: not found")
	// ErrConflict means the slug or domain is already taken.
	ErrConflict = errors.New("tenant: already exists")
)

// ValidationError is a rejected field, with a French message for the person
// who typed it.
type ValidationError struct {
	Field   string
	Message string
}

func (e *ValidationError) Error() string { return e.Field + " : " + e.Message }

// Tenant is a commune and its settings.
type Tenant struct {
	ID       ID       `db:"id"`
	Slug     string   `db:"slug"`
	Name     string   `db:"name"`
	Numcli   string   `db:"numcli"`
	Protocol Protocol `db:"protocol"`
	Mode     Mode     `db:"mode"`
	Status   Status   `db:"status"`
	Branding
	LegalNotice            string    `db:"legal_notice"`
	PrivacyNotice          string    `db:"privacy_notice"`
	AccessibilityStatement string    `db:"accessibility_statement"`
	CreatedAt              time.Time `db:"created_at"`
	UpdatedAt              time.Time `db:"updated_at"`
}

// Branding is how a commune's pages and documents look and whom families
// contact.
type Branding struct {
	LogoKey       string `db:"logo_key"` // document-store key of the logo, empty if none
	AccentColor   string `db:"accent_color"`
	ContactEmail  string `db:"contact_email"`
	ContactPhone  string `db:"contact_phone"`
	PostalAddress string `db:"postal_address"`
}

// DefaultAccentColor is the accent of a commune that chose none; it passes AA
// contrast with white text.
const DefaultAccentColor = "#1f4e8c"

// Suspended reports whether the commune's portal is closed.
func (t Tenant) Suspended() bool { return t.Status == StatusSuspended }

// ReservedSlugs are host labels that never name a commune.
var ReservedSlugs = []string{"admin", "paiement", "www", "api", "static", "mail"}

var (
	slugRe   = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	numcliRe = regexp.MustCompile(`^[0-9]{6}$`)
	colorRe  = regexp.MustCompile(`^#[0-9a-f]{6}$`)
)

// ValidateSlug checks a commune's host label: lower-case letters, digits and
// inner hyphens, 2 to 63 characters, not reserved.
func ValidateSlug(slug string) error {
	switch {
	case len(slug) < 2 || !slugRe.MatchString(slug):
		return &ValidationError{"slug", "2 à 63 lettres minuscules sans accent, chiffres ou tirets (pas de tiret au début ni à la fin)"}
	case isReserved(slug):
		return &ValidationError{"slug", fmt.Sprintf("« %s » est réservé à la plateforme", slug)}
	}
	return nil
}

func isReserved(slug string) bool {
	for _, r := range ReservedSlugs {
		if slug == r {
			return true
		}
	}
	return false
}

// ValidateNumcli checks a DGFiP client number: exactly 6 digits, leading zeros
// kept.
func ValidateNumcli(numcli string) error {
	if !numcliRe.MatchString(numcli) {
		return &ValidationError{"numcli", "l'identifiant collectivité DGFiP compte exactement 6 chiffres (ex. 001964)"}
	}
	return nil
}

// Validate checks everything a commune needs before it is stored.
func (t Tenant) Validate() error {
	if err := ValidateSlug(t.Slug); err != nil {
		return err
	}
	if strings.TrimSpace(t.Name) == "" || utf8.RuneCountInString(t.Name) > 200 {
		return &ValidationError{"name", "le nom de la commune est obligatoire (200 caractères au plus)"}
	}
	if err := ValidateNumcli(t.Numcli); err != nil {
		return err
	}
	if t.Protocol != ProtocolPayFiP && t.Protocol != ProtocolTIPI {
		return &ValidationError{"protocol", "protocole de paiement inconnu (payfip ou tipi)"}
	}
	if t.Mode != ModeTest && t.Mode != ModeActivation && t.Mode != ModeProduction {
		return &ValidationError{"mode", "mode de paiement inconnu (test, activation ou production)"}
	}
	if t.Status != StatusActive && t.Status != StatusSuspended {
		return &ValidationError{"status", "état inconnu (active ou suspended)"}
	}
	return ValidateAccentColor(t.AccentColor)
}

// ValidateAccentColor checks a colour written #rrggbb and that white text on
// it reaches the WCAG AA contrast ratio of 4.5:1.
func ValidateAccentColor(c string) error {
	if !colorRe.MatchString(c) {
		return &ValidationError{"accent_color", "couleur attendue au format #rrggbb (ex. #1f4e8c)"}
	}
	if r := ContrastWithWhite(c); r < 4.5 {
		return &ValidationError{"accent_color", fmt.Sprintf("contraste insuffisant avec le texte blanc (%.1f:1, il faut au moins 4,5:1) : choisissez une couleur plus foncée", r)}
	}
	return nil
}

// FoldName returns a name in the form the commune search compares: lower
// case, accents removed, anything but letters and digits turned into single
// spaces ("Villes-sur-Auzon" → "villes sur auzon").
func FoldName(s string) string {
	s, _, _ = transform.String(stripMarks(), strings.ToLower(s))
	s = strings.NewReplacer("œ", "oe", "æ", "ae").Replace(s)
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
	}), " ")
}

// stripMarks removes diacritics: é → e, ç → c. A chain keeps state, so
// each call gets its own.
func stripMarks() transform.Transformer {
	return transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
}
