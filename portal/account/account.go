// Package account stores the logins of families: accounts, passwords and
// the one-time links that activate an account or reset its password. It
// runs inside tenant.WithTx like every tenant store; it has no web code.
package account

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
	ErrNotFound = errors.New("account: not found")
	ErrConflict = errors.New("account: already exists")
	// ErrTokenInvalid means a link is unknown, used or expired.
	ErrTokenInvalid = errors.New("account: link unknown, used or expired")
)

// Account is one login (one e-mail address) in one commune.
type Account struct {
	TenantID          tenant.ID  `db:"tenant_id"`
	ID                int64      `db:"id"`
	Email             string     `db:"email"`
	PasswordHash      string     `db:"password_hash"`
	NotifyInvoices    bool       `db:"notify_invoices"`
	DisabledAt        *time.Time `db:"disabled_at"`
	CreatedAt         time.Time  `db:"created_at"`
	PasswordChangedAt time.Time  `db:"password_changed_at"`
	LastLoginAt       *time.Time `db:"last_login_at"`
}

// Active reports whether the account may log in.
func (a Account) Active() bool { return a.DisabledAt == nil }

const columns = `tenant_id, id, email, password_hash, notify_invoices, disabled_at, created_at, password_changed_at, last_login_at`

// ByEmail returns the account of a (normalised) address.
func ByEmail(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, email string) (Account, error) {
	const sel = `SELECT ` + columns + ` FROM family_accounts WHERE tenant_id = $1 AND email = $2`
	var a Account
	if err := sqlx.GetContext(ctx, q, &a, sel, tid, email); err != nil {
		return Account{}, mapErr(err)
	}
	return a, nil
}

// ByID returns an account.
func ByID(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, id int64) (Account, error) {
	const sel = `SELECT ` + columns + ` FROM family_accounts WHERE tenant_id = $1 AND id = $2`
	var a Account
	if err := sqlx.GetContext(ctx, q, &a, sel, tid, id); err != nil {
		return Account{}, mapErr(err)
	}
	return a, nil
}

// Activate creates the account of an address with its first password, or
// gives a disabled account of that address a new password and enables it.
// It returns ErrConflict when an active account already exists.
func Activate(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, email, hash string) (Account, error) {
	const ins = `INSERT INTO family_accounts (tenant_id, email, password_hash) VALUES ($1, $2, $3)
		ON CONFLICT (tenant_id, email) DO UPDATE
		SET password_hash = excluded.password_hash, disabled_at = NULL, password_changed_at = now()
		WHERE family_accounts.disabled_at IS NOT NULL
		RETURNING ` + columns
	var a Account
	err := sqlx.GetContext(ctx, q, &a, ins, tid, email, hash)
	if errors.Is(err, sql.ErrNoRows) {
		return Account{}, ErrConflict
	}
	return a, mapErr(err)
}

// SetPassword replaces an account's password hash.
func SetPassword(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, id int64, hash string) error {
	const upd = `UPDATE family_accounts SET password_hash = $3, password_changed_at = now() WHERE tenant_id = $1 AND id = $2`
	return expectOne(q.ExecContext(ctx, upd, tid, id, hash))
}

// SetNotifyInvoices turns the "new invoice" e-mails of an account on or off.
func SetNotifyInvoices(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, id int64, on bool) error {
	const upd = `UPDATE family_accounts SET notify_invoices = $3 WHERE tenant_id = $1 AND id = $2`
	return expectOne(q.ExecContext(ctx, upd, tid, id, on))
}

// RecordLogin stamps the time of a successful login.
func RecordLogin(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, id int64) error {
	const upd = `UPDATE family_accounts SET last_login_at = now() WHERE tenant_id = $1 AND id = $2`
	return expectOne(q.ExecContext(ctx, upd, tid, id))
}

// Purpose is what a one-time link does.
type Purpose string

// The purposes of links and how long they live.
const (
	PurposeActivation Purpose = "activation"
	PurposeReset      Purpose = "reset"

	ActivationTTL = 48 * time.Hour
	ResetTTL      = time.Hour
)

// TTL returns how long a link of this purpose stays valid.
func (p Purpose) TTL() time.Duration {
	if p == PurposeReset {
		return ResetTTL
	}
	return ActivationTTL
}

// Token is a one-time link as stored: only the hash of its secret.
type Token struct {
	TenantID  tenant.ID  `db:"tenant_id"`
	ID        int64      `db:"id"`
	Purpose   Purpose    `db:"purpose"`
	Email     string     `db:"email"`
	ExpiresAt time.Time  `db:"expires_at"`
	UsedAt    *time.Time `db:"used_at"`
	CreatedAt time.Time  `db:"created_at"`
}

// NewToken stores a link for an address and returns its secret, which goes
// into the mail and nowhere else. Earlier links of the address stay valid.
func NewToken(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, p Purpose, email string, now time.Time) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	raw := base64.RawURLEncoding.EncodeToString(b)
	const ins = `INSERT INTO family_tokens (tenant_id, purpose, email, token_hash, expires_at) VALUES ($1, $2, $3, $4, $5)`
	if _, err := q.ExecContext(ctx, ins, tid, p, email, hashToken(raw), now.Add(p.TTL())); err != nil {
		return "", err
	}
	return raw, nil
}

// OpenToken returns the valid (unused, unexpired) link of that secret and
// purpose, or ErrTokenInvalid.
func OpenToken(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, p Purpose, raw string, now time.Time) (Token, error) {
	const sel = `SELECT tenant_id, id, purpose, email, expires_at, used_at, created_at FROM family_tokens
		WHERE tenant_id = $1 AND token_hash = $2 AND purpose = $3`
	var t Token
	err := sqlx.GetContext(ctx, q, &t, sel, tid, hashToken(raw), p)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Token{}, ErrTokenInvalid
	case err != nil:
		return Token{}, err
	case t.UsedAt != nil || !now.Before(t.ExpiresAt):
		return t, ErrTokenInvalid
	}
	return t, nil
}

// UseTokens marks every open link of an address and purpose used: once one
// link has served, the others die with it.
func UseTokens(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, p Purpose, email string) error {
	const upd = `UPDATE family_tokens SET used_at = now()
		WHERE tenant_id = $1 AND email = $2 AND purpose = $3 AND used_at IS NULL`
	_, err := q.ExecContext(ctx, upd, tid, email, p)
	return err
}

func hashToken(raw string) []byte {
	h := sha256.Sum256([]byte(raw))
	return h[:]
}

func expectOne(res sql.Result, err error) error {
	if err != nil {
		return mapErr(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

func mapErr(err error) error {
	var pqErr *pq.Error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return ErrNotFound
	case errors.As(err, &pqErr) && pqErr.Code == "23505":
		return fmt.Errorf("%w (%s)", ErrConflict, pqErr.Constraint)
	}
	return err
}
