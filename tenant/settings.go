package tenant

import (
	"context"
	"errors"
	"net/mail"
	"strings"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"
)

// Settings are what a commune's own administrators change: its name,
// accent colour, contact details and the texts of its legal pages. Its slug
// and status stay with the platform's operators.
type Settings struct {
	Name                   string `json:"name"`
	AccentColor            string `json:"accent_color"`
	ContactEmail           string `json:"contact_email"`
	ContactPhone           string `json:"contact_phone"`
	PostalAddress          string `json:"postal_address"`
	LegalNotice            string `json:"legal_notice"`
	PrivacyNotice          string `json:"privacy_notice"`
	AccessibilityStatement string `json:"accessibility_statement"`
}

// PaymentSettings are how a commune's invoices are paid: its DGFiP client
// number, the protocol and the mode.
type PaymentSettings struct {
	Numcli   string   `json:"numcli"`
	Protocol Protocol `json:"protocol"`
	Mode     Mode     `json:"mode"`
}

// Settings returns the part of the commune its administrators change.
func (t Tenant) Settings() Settings {
	return Settings{
		Name: t.Name, AccentColor: t.AccentColor, ContactEmail: t.ContactEmail, ContactPhone: t.ContactPhone,
		PostalAddress: t.PostalAddress, LegalNotice: t.LegalNotice, PrivacyNotice: t.PrivacyNotice,
		AccessibilityStatement: t.AccessibilityStatement,
	}
}

// PaymentSettings returns the commune's payment settings.
func (t Tenant) PaymentSettings() PaymentSettings {
	return PaymentSettings{Numcli: t.Numcli, Protocol: t.Protocol, Mode: t.Mode}
}

// Limits of the texts a commune types, in characters.
const (
	maxAddress  = 300
	maxPhone    = 30
	maxLegalDoc = 20000
)

// Normalize trims what was typed and writes the colour in lower case, as
// the database stores it.
func (s Settings) Normalize() Settings {
	s.Name = strings.TrimSpace(s.Name)
	s.AccentColor = strings.ToLower(strings.TrimSpace(s.AccentColor))
	s.ContactEmail = strings.ToLower(strings.TrimSpace(s.ContactEmail))
	s.ContactPhone = strings.TrimSpace(s.ContactPhone)
	s.PostalAddress = strings.TrimSpace(s.PostalAddress)
	s.LegalNotice = strings.TrimSpace(s.LegalNotice)
	s.PrivacyNotice = strings.TrimSpace(s.PrivacyNotice)
	s.AccessibilityStatement = strings.TrimSpace(s.AccessibilityStatement)
	return s
}

// Validate checks normalized settings. It returns nil or every rejected
// field at once, as *ValidationError values joined with errors.Join, so a
// form can show each message next to its field.
func (s Settings) Validate() error {
	var errs []error
	if s.Name == "" || utf8.RuneCountInString(s.Name) > 200 {
		errs = append(errs, &ValidationError{"name", "le nom de la commune est obligatoire (200 caractères au plus)"})
	}
	if err := ValidateAccentColor(s.AccentColor); err != nil {
		errs = append(errs, err)
	}
	if s.ContactEmail != "" && !validEmail(s.ContactEmail) {
		errs = append(errs, &ValidationError{"contact_email", "adresse de messagerie attendue, par exemple accueil@mairie-exemple.fr"})
	}
	if s.ContactPhone != "" && !validPhone(s.ContactPhone) {
		errs = append(errs, &ValidationError{"contact_phone", "numéro de téléphone attendu (chiffres, espaces, points, + et tirets ; 30 caractères au plus)"})
	}
	if utf8.RuneCountInString(s.PostalAddress) > maxAddress {
		errs = append(errs, &ValidationError{"postal_address", "adresse trop longue (300 caractères au plus)"})
	}
	for _, d := range []struct{ field, text string }{
		{"legal_notice", s.LegalNotice}, {"privacy_notice", s.PrivacyNotice}, {"accessibility_statement", s.AccessibilityStatement},
	} {
		if utf8.RuneCountInString(d.text) > maxLegalDoc {
			errs = append(errs, &ValidationError{d.field, "texte trop long (20 000 caractères au plus)"})
		}
	}
	return errors.Join(errs...)
}

// validEmail accepts a bare address whose domain has a dot.
func validEmail(e string) bool {
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || len(e) > 254 {
		return false
	}
	_, domain, _ := strings.Cut(e, "@")
	return strings.Contains(domain, ".")
}

func validPhone(p string) bool {
	if len(p) > maxPhone {
		return false
	}
	digits := 0
	for _, r := range p {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case strings.ContainsRune(" .+-()", r):
		default:
			return false
		}
	}
	return digits >= 3
}

// Validate checks payment settings; it returns a *ValidationError.
func (p PaymentSettings) Validate() error {
	if err := ValidateNumcli(p.Numcli); err != nil {
		return err
	}
	if p.Protocol != ProtocolPayFiP && p.Protocol != ProtocolTIPI {
		return &ValidationError{"protocol", "protocole de paiement inconnu (PayFiP ou TIPI)"}
	}
	if p.Mode != ModeTest && p.Mode != ModeActivation && p.Mode != ModeProduction {
		return &ValidationError{"mode", "mode de paiement inconnu (test, activation ou production)"}
	}
	return nil
}

// Current reads the commune inside its own transaction (tenant.WithTx):
// the copy the settings page shows, fresher than the resolver's cache. It
// returns ErrNotFound when the transaction's commune is not id.
func Current(ctx context.Context, q sqlx.ExtContext, id ID) (Tenant, error) {
	const sel = `SELECT ` + columns + ` FROM tenants WHERE id = $1`
	var t Tenant
	err := sqlx.GetContext(ctx, q, &t, sel, id)
	return t, mapErr(err)
}

// locked reads the commune and locks its row until the transaction ends,
// so that the values an update replaces are the ones the audit log records.
func locked(ctx context.Context, q sqlx.ExtContext, id ID) (Tenant, error) {
	const sel = `SELECT ` + columns + ` FROM tenants WHERE id = $1 FOR UPDATE`
	var t Tenant
	err := sqlx.GetContext(ctx, q, &t, sel, id)
	return t, mapErr(err)
}

// UpdateSettings saves the settings a commune's administrators change, in
// the transaction of tenant.WithTx (regie_app may update only those
// columns), and returns the commune before and after. The search name
// follows the name; settings equal to the stored ones write nothing (after
// equals before). It returns the joined *ValidationError values of
// Settings.Validate, or ErrNotFound. The caller announces the change
// (Announce) once the transaction is committed, so that every instance
// drops its cached copy.
func UpdateSettings(ctx context.Context, q sqlx.ExtContext, id ID, s Settings) (before, after Tenant, err error) {
	s = s.Normalize()
	if err := s.Validate(); err != nil {
		return Tenant{}, Tenant{}, err
	}
	if before, err = locked(ctx, q, id); err != nil || before.Settings() == s {
		return before, before, err
	}
	const upd = `UPDATE tenants SET name = $2, search_name = $3, accent_color = $4, contact_email = $5,
			contact_phone = $6, postal_address = $7, legal_notice = $8, privacy_notice = $9,
			accessibility_statement = $10, updated_at = now()
		WHERE id = $1 RETURNING ` + columns
	after, err = updateOne(ctx, q, upd, id, s.Name, FoldName(s.Name), s.AccentColor, s.ContactEmail, s.ContactPhone,
		s.PostalAddress, s.LegalNotice, s.PrivacyNotice, s.AccessibilityStatement)
	return before, after, err
}

// UpdatePaymentSettings saves a commune's DGFiP client number, protocol and
// mode, like UpdateSettings. It returns a *ValidationError or ErrNotFound.
func UpdatePaymentSettings(ctx context.Context, q sqlx.ExtContext, id ID, p PaymentSettings) (before, after Tenant, err error) {
	if err := p.Validate(); err != nil {
		return Tenant{}, Tenant{}, err
	}
	if before, err = locked(ctx, q, id); err != nil || before.PaymentSettings() == p {
		return before, before, err
	}
	const upd = `UPDATE tenants SET numcli = $2, protocol = $3, mode = $4, updated_at = now()
		WHERE id = $1 RETURNING ` + columns
	after, err = updateOne(ctx, q, upd, id, p.Numcli, p.Protocol, p.Mode)
	return before, after, err
}

// SetLogo records the document-store key of a commune's logo (empty: no
// logo), like UpdateSettings. It returns ErrNotFound.
func SetLogo(ctx context.Context, q sqlx.ExtContext, id ID, key string) (before, after Tenant, err error) {
	if before, err = locked(ctx, q, id); err != nil || before.LogoKey == key {
		return before, before, err
	}
	const upd = `UPDATE tenants SET logo_key = $2, updated_at = now() WHERE id = $1 RETURNING ` + columns
	after, err = updateOne(ctx, q, upd, id, key)
	return before, after, err
}

func updateOne(ctx context.Context, q sqlx.ExtContext, upd string, args ...any) (Tenant, error) {
	var t Tenant
	err := sqlx.GetContext(ctx, q, &t, upd, args...)
	return t, mapErr(err)
}
