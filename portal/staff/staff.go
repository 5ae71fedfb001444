// Package staff stores the town halls' staff accounts: roles and what each
// may do, invitations, passwords, TOTP second factors and recovery codes.
// It has no web code; it runs inside tenant.WithTx like every tenant store.
package staff

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/regie/regie/tenant"
)

// Errors of the package.
var (
	ErrNotFound     = errors.New("staff: not found")
	ErrConflict     = errors.New("staff: address already on the team")
	ErrTokenInvalid = errors.New("staff: link unknown, used or expired")
	ErrLastAdmin    = errors.New("staff: the commune must keep an administrator")
)

// Role is what a staff member may do.
type Role string

// The roles.
const (
	Admin  Role = "administrateur" // everything
	Agent  Role = "agent"          // import, publish, families, invoices, payments; no settings, no team
	Reader Role = "lecture"        // read only
)

// Roles lists the roles, most powerful first.
var Roles = []Role{Admin, Agent, Reader}

// ParseRole checks a role's name.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if string(r) == s {
			return r, nil
		}
	}
	return "", fmt.Errorf("staff: unknown role %q (administrateur, agent or lecture)", s)
}

// Permission is one kind of action in the back office.
type Permission string

// The permissions.
const (
	PermRead       Permission = "read"        // see everything
	PermImport     Permission = "import"      // upload, publish, cancel batches
	PermFamilies   Permission = "families"    // change families, addresses and accounts
	PermInvoices   Permission = "invoices"    // cancel invoices, record counter payments
	PermSettings   Permission = "settings"    // the commune's settings and series
	PermTeam       Permission = "team"        // invite, change roles, reset TOTP, remove
	PermAuditTrail Permission = "audit-trail" // read the audit log
	PermAPIKeys    Permission = "api-keys"    // create and revoke the API keys
)

var grants = map[Role][]Permission{
	Admin:  {PermRead, PermImport, PermFamilies, PermInvoices, PermSettings, PermTeam, PermAuditTrail, PermAPIKeys},
	Agent:  {PermRead, PermImport, PermFamilies, PermInvoices},
	Reader: {PermRead},
}

// Can reports whether a role has a permission.
func (r Role) Can(p Permission) bool {
	for _, g := range grants[r] {
		if g == p {
			return true
		}
	}
	return false
}

// Label is the role's name as the pages show it.
func (r Role) Label() string {
	switch r {
	case Admin:
		return "Administrateur"
	case Agent:
		return "Agent"
	}
	return "Lecture seule"
}

// TOTPRequired reports whether the role must use a second factor.
func (r Role) TOTPRequired() bool { return r == Admin }

// Member is one staff account.
type Member struct {
	TenantID      tenant.ID      `db:"tenant_id"`
	ID            int64          `db:"id"`
	Email         string         `db:"email"`
	Name          string         `db:"name"`
	Role          Role           `db:"role"`
	PasswordHash  string         `db:"password_hash"`
	TOTPSecret    string         `db:"totp_secret"` // sealed
	TOTPEnabled   bool           `db:"totp_enabled"`
	RecoveryCodes pq.StringArray `db:"recovery_codes"` // hashes
	RemovedAt     *time.Time     `db:"removed_at"`
	InvitedAt     time.Time      `db:"invited_at"`
	ActivatedAt   *time.Time     `db:"activated_at"`
	LastLoginAt   *time.Time     `db:"last_login_at"`
	CreatedAt     time.Time      `db:"created_at"`
}

// Active reports a member who has set a password and was not removed.
func (m Member) Active() bool { return m.RemovedAt == nil && m.ActivatedAt != nil }

const columns = `tenant_id, id, email, name, role, password_hash, totp_secret, totp_enabled, recovery_codes,
	removed_at, invited_at, activated_at, last_login_at, created_at`

func mapErr(err error) error {
	var pqErr *pq.Error
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return ErrNotFound
	case errors.As(err, &pqErr) && pqErr.Code == "23505":
		return ErrConflict
	}
	return err
}

// ByEmail returns the member (not removed) with that address.
func ByEmail(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, email string) (Member, error) {
	var m Member
	err := sqlx.GetContext(ctx, q, &m, `SELECT `+columns+` FROM staff WHERE tenant_id = $1 AND email = $2 AND removed_at IS NULL`, tid, email)
	return m, mapErr(err)
}

// ByID returns a member, removed ones included.
func ByID(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, id int64) (Member, error) {
	var m Member
	err := sqlx.GetContext(ctx, q, &m, `SELECT `+columns+` FROM staff WHERE tenant_id = $1 AND id = $2`, tid, id)
	return m, mapErr(err)
}

// List returns the team, removed members excluded, by role then address.
func List(ctx context.Context, q sqlx.ExtContext, tid tenant.ID) ([]Member, error) {
	var ms []Member
	err := sqlx.SelectContext(ctx, q, &ms, `SELECT `+columns+` FROM staff WHERE tenant_id = $1 AND removed_at IS NULL
		ORDER BY CASE role WHEN 'administrateur' THEN 0 WHEN 'agent' THEN 1 ELSE 2 END, email`, tid)
	return ms, err
}

// Invite adds a member (or returns the pending one of that address) and an
// invitation link valid for a week, whose secret it returns.
func Invite(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, email, name string, role Role, now time.Time) (Member, string, error) {
	m, err := ByEmail(ctx, q, tid, email)
	switch {
	case err == nil && m.Active():
		return m, "", ErrConflict
	case errors.Is(err, ErrNotFound):
		const ins = `INSERT INTO staff (tenant_id, email, name, role, invited_at) VALUES ($1, $2, $3, $4, $5) RETURNING ` + columns
		if err := sqlx.GetContext(ctx, q, &m, ins, tid, email, name, role, now); err != nil {
			return m, "", mapErr(err)
		}
	case err != nil:
		return m, "", err
	default: // invited again: the role may change
		if _, err := q.ExecContext(ctx, `UPDATE staff SET role = $3, invited_at = $4 WHERE tenant_id = $1 AND id = $2`, tid, m.ID, role, now); err != nil {
			return m, "", err
		}
		m.Role = role
	}
	raw, err := newToken(ctx, q, tid, m.ID, now.Add(7*24*time.Hour))
	return m, raw, err
}

func newToken(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, staffID int64, expires time.Time) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	raw := base64.RawURLEncoding.EncodeToString(b)
	h := sha256.Sum256([]byte(raw))
	_, err := q.ExecContext(ctx, `INSERT INTO staff_tokens (tenant_id, staff_id, token_hash, expires_at) VALUES ($1, $2, $3, $4)`,
		tid, staffID, h[:], expires)
	return raw, err
}

// OpenToken returns the member of a valid invitation (or reset) link.
func OpenToken(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, raw string, now time.Time) (Member, error) {
	h := sha256.Sum256([]byte(raw))
	var row struct {
		StaffID   int64      `db:"staff_id"`
		ExpiresAt time.Time  `db:"expires_at"`
		UsedAt    *time.Time `db:"used_at"`
	}
	err := sqlx.GetContext(ctx, q, &row, `SELECT staff_id, expires_at, used_at FROM staff_tokens WHERE tenant_id = $1 AND token_hash = $2`, tid, h[:])
	if errors.Is(err, sql.ErrNoRows) || err == nil && (row.UsedAt != nil || !now.Before(row.ExpiresAt)) {
		return Member{}, ErrTokenInvalid
	}
	if err != nil {
		return Member{}, err
	}
	m, err := ByID(ctx, q, tid, row.StaffID)
	if err != nil || m.RemovedAt != nil {
		return Member{}, ErrTokenInvalid
	}
	return m, nil
}

// SetPassword saves a member's password from a link and uses up the
// member's links.
func SetPassword(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, id int64, hash string, now time.Time) error {
	if _, err := q.ExecContext(ctx, `UPDATE staff SET password_hash = $3, activated_at = coalesce(activated_at, $4)
		WHERE tenant_id = $1 AND id = $2`, tid, id, hash, now); err != nil {
		return err
	}
	_, err := q.ExecContext(ctx, `UPDATE staff_tokens SET used_at = $3 WHERE tenant_id = $1 AND staff_id = $2 AND used_at IS NULL`, tid, id, now)
	return err
}

// RecordLogin stamps a successful login.
func RecordLogin(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, id int64, now time.Time) error {
	_, err := q.ExecContext(ctx, `UPDATE staff SET last_login_at = $3 WHERE tenant_id = $1 AND id = $2`, tid, id, now)
	return err
}

// SetRole changes a member's role; the commune keeps at least one active
// administrator.
func SetRole(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, id int64, role Role) error {
	if role != Admin {
		if err := keepsAnAdmin(ctx, q, tid, id); err != nil {
			return err
		}
	}
	res, err := q.ExecContext(ctx, `UPDATE staff SET role = $3 WHERE tenant_id = $1 AND id = $2 AND removed_at IS NULL`, tid, id, role)
	return expectOne(res, err)
}

// Remove ends a member's access; the commune keeps at least one active
// administrator.
func Remove(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, id int64, now time.Time) error {
	if err := keepsAnAdmin(ctx, q, tid, id); err != nil {
		return err
	}
	res, err := q.ExecContext(ctx, `UPDATE staff SET removed_at = $3 WHERE tenant_id = $1 AND id = $2 AND removed_at IS NULL`, tid, id, now)
	return expectOne(res, err)
}

// keepsAnAdmin fails when member id is the commune's last active
// administrator.
func keepsAnAdmin(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, id int64) error {
	var others int
	err := sqlx.GetContext(ctx, q, &others, `SELECT count(*) FROM staff WHERE tenant_id = $1 AND id <> $2
		AND role = 'administrateur' AND removed_at IS NULL AND activated_at IS NOT NULL`, tid, id)
	if err != nil {
		return err
	}
	var isAdmin bool
	if err := sqlx.GetContext(ctx, q, &isAdmin, `SELECT role = 'administrateur' AND activated_at IS NOT NULL FROM staff
		WHERE tenant_id = $1 AND id = $2 AND removed_at IS NULL`, tid, id); err != nil {
		return mapErr(err)
	}
	if isAdmin && others == 0 {
		return ErrLastAdmin
	}
	return nil
}

func expectOne(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}
