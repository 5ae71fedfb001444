package tenant

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Store reads and writes communes.
//
// Most of its methods are owner-level on purpose and say so: they run before
// a commune is known (host resolution), for the platform operators (create,
// list, suspend), or for the CLI. The settings a commune's own staff change
// go through WithTx.
type Store struct {
	db *sqlx.DB
}

// NewStore returns a Store on db, connected as the schema owner (or a role
// that can SET ROLE regie_app).
func NewStore(db *sqlx.DB) *Store { return &Store{db: db} }

const columns = `id, slug, name, numcli, protocol, mode, status, logo_key, accent_color,
	contact_email, contact_phone, postal_address, legal_notice, privacy_notice,
	accessibility_statement, created_at, updated_at`

// Create stores a new commune and returns it with its id. Empty protocol,
// mode, status and accent colour take their defaults. It returns a
// *ValidationError for bad fields and ErrConflict when the slug is taken.
// Owner-level: operators create communes.
func (s *Store) Create(ctx context.Context, t Tenant) (Tenant, error) {
	if t.Protocol == "" {
		t.Protocol = ProtocolPayFiP
	}
	if t.Mode == "" {
		t.Mode = ModeTest
	}
	if t.Status == "" {
		t.Status = StatusActive
	}
	if t.AccentColor == "" {
		t.AccentColor = DefaultAccentColor
	}
	if err := t.Validate(); err != nil {
		return Tenant{}, err
	}
	const q = `INSERT INTO tenants (slug, name, search_name, numcli, protocol, mode, status,
			logo_key, accent_color, contact_email, contact_phone, postal_address,
			legal_notice, privacy_notice, accessibility_statement)
		VALUES (:slug, :name, :search_name, :numcli, :protocol, :mode, :status,
			:logo_key, :accent_color, :contact_email, :contact_phone, :postal_address,
			:legal_notice, :privacy_notice, :accessibility_statement)
		RETURNING ` + columns
	row := struct {
		Tenant
		SearchName string `db:"search_name"`
	}{t, FoldName(t.Name)}
	q2, args, err := s.db.BindNamed(q, row)
	if err != nil {
		return Tenant{}, err
	}
	var out Tenant
	if err := s.db.GetContext(ctx, &out, q2, args...); err != nil {
		return Tenant{}, mapErr(err)
	}
	return out, nil
}

// BySlug returns the commune with that slug. Owner-level: host resolution and
// the CLI need it before any commune is selected.
func (s *Store) BySlug(ctx context.Context, slug string) (Tenant, error) {
	const q = `SELECT ` + columns + ` FROM tenants WHERE slug = $1`
	var t Tenant
	if err := s.db.GetContext(ctx, &t, q, slug); err != nil {
		return Tenant{}, mapErr(err)
	}
	return t, nil
}

// ByDomain returns the commune that owns a custom domain. Owner-level: host
// resolution.
func (s *Store) ByDomain(ctx context.Context, domain string) (Tenant, error) {
	const q = `SELECT ` + prefixed + ` FROM tenant_domains d JOIN tenants t ON t.id = d.tenant_id
		WHERE d.domain = $1`
	var t Tenant
	if err := s.db.GetContext(ctx, &t, q, domain); err != nil {
		return Tenant{}, mapErr(err)
	}
	return t, nil
}

const prefixed = `t.id, t.slug, t.name, t.numcli, t.protocol, t.mode, t.status, t.logo_key,
	t.accent_color, t.contact_email, t.contact_phone, t.postal_address, t.legal_notice,
	t.privacy_notice, t.accessibility_statement, t.created_at, t.updated_at`

// ByID returns a commune by id. Owner-level: background jobs and operators.
func (s *Store) ByID(ctx context.Context, id ID) (Tenant, error) {
	const q = `SELECT ` + columns + ` FROM tenants WHERE id = $1`
	var t Tenant
	if err := s.db.GetContext(ctx, &t, q, id); err != nil {
		return Tenant{}, mapErr(err)
	}
	return t, nil
}

// List returns every commune ordered by slug. Owner-level: an operator-wide
// read.
func (s *Store) List(ctx context.Context) ([]Tenant, error) {
	const q = `SELECT ` + columns + ` FROM tenants ORDER BY slug`
	var ts []Tenant
	if err := s.db.SelectContext(ctx, &ts, q); err != nil {
		return nil, err
	}
	return ts, nil
}

// Search returns up to limit active communes whose name contains every word
// of query (accents and case ignored), best matches first. Owner-level: the
// base host's "find your commune" page serves people not yet in any commune.
func (s *Store) Search(ctx context.Context, query string, limit int) ([]Tenant, error) {
	folded := FoldName(query)
	if folded == "" {
		return nil, nil
	}
	const q = `SELECT ` + columns + ` FROM tenants
		WHERE status = 'active' AND search_name LIKE '%' || $1 || '%'
		ORDER BY search_name <> $1, length(search_name), search_name
		LIMIT $2`
	var ts []Tenant
	// FoldName leaves letters, digits and spaces only: no LIKE wildcard to escape.
	if err := s.db.SelectContext(ctx, &ts, q, folded, limit); err != nil {
		return nil, err
	}
	return ts, nil
}

// SetStatus suspends or resumes a commune. Owner-level: an operator action.
// It returns ErrNotFound for an unknown id.
func (s *Store) SetStatus(ctx context.Context, id ID, st Status) error {
	if st != StatusActive && st != StatusSuspended {
		return &ValidationError{"status", "état inconnu (active ou suspended)"}
	}
	const q = `UPDATE tenants SET status = $2, updated_at = now() WHERE id = $1`
	res, err := s.db.ExecContext(ctx, q, id, st)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// AddDomain attaches a custom domain to a commune. base is the platform's
// base host, which custom domains must stay outside of. It returns
// ErrConflict when another commune (or this one) has it. Owner-level: an
// operator action.
func (s *Store) AddDomain(ctx context.Context, id ID, domain, base string) error {
	if err := ValidateDomain(domain, base); err != nil {
		return err
	}
	const q = `INSERT INTO tenant_domains (tenant_id, domain) VALUES ($1, $2)`
	_, err := s.db.ExecContext(ctx, q, id, NormalizeHost(domain))
	return mapErr(err)
}

// Domains returns the custom domains of a commune. Owner-level: the operator
// console.
func (s *Store) Domains(ctx context.Context, id ID) ([]string, error) {
	const q = `SELECT domain FROM tenant_domains WHERE tenant_id = $1 ORDER BY domain`
	var ds []string
	err := s.db.SelectContext(ctx, &ds, q, id)
	return ds, err
}

// mapErr turns driver errors into the package's errors, in one place.
func mapErr(err error) error {
	var pqErr *pq.Error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return ErrNotFound
	case errors.As(err, &pqErr) && pqErr.Code == "23505":
		return fmt.Errorf("%w (%s)", ErrConflict, pqErr.Constraint)
	case errors.As(err, &pqErr) && pqErr.Code == "23503":
		return ErrNotFound
	}
	return err
}
