// Package operator stores the platform's operators and their audit trail.
// Operators belong to no commune: every function here is owner-level on
// purpose (it runs on the connection's own role, outside tenant.WithTx).
package operator

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/regie/regie/portal/audit"
	"github.com/regie/regie/portal/mfa"
	"github.com/regie/regie/tenant"
)

// Errors of the package.
var (
	ErrNotFound     = errors.New("operator: not found")
	ErrConflict     = errors.New("operator: address already an operator")
	ErrTokenInvalid = errors.New("operator: link unknown, used or expired")
)

// Operator is one account of the platform's console.
type Operator struct {
	ID            int64          `db:"id"`
	Email         string         `db:"email"`
	PasswordHash  string         `db:"password_hash"`
	TOTPSecret    string         `db:"totp_secret"`
	TOTPEnabled   bool           `db:"totp_enabled"`
	RecoveryCodes pq.StringArray `db:"recovery_codes"`
	CreatedAt     time.Time      `db:"created_at"`
	ActivatedAt   *time.Time     `db:"activated_at"`
	LastLoginAt   *time.Time     `db:"last_login_at"`
	DisabledAt    *time.Time     `db:"disabled_at"`
}

// Active reports an operator who set a password and is not disabled.
func (o Operator) Active() bool { return o.ActivatedAt != nil && o.DisabledAt == nil }

const columns = `id, email, password_hash, totp_secret, totp_enabled, recovery_codes, created_at, activated_at, last_login_at, disabled_at`

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

// Create adds an operator (or finds the one not yet activated) and returns
// a one-time activation link secret, valid 48 hours.
func Create(ctx context.Context, db *sqlx.DB, email string, now time.Time) (Operator, string, error) {
	var o Operator
	err := db.GetContext(ctx, &o, `INSERT INTO operators (email) VALUES ($1)
		ON CONFLICT (email) DO UPDATE SET email = excluded.email WHERE operators.activated_at IS NULL
		RETURNING `+columns, email)
	if errors.Is(err, sql.ErrNoRows) {
		return Operator{}, "", ErrConflict
	}
	if err != nil {
		return Operator{}, "", mapErr(err)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return Operator{}, "", err
	}
	raw := base64.RawURLEncoding.EncodeToString(b)
	h := sha256.Sum256([]byte(raw))
	_, err = db.ExecContext(ctx, `INSERT INTO operator_tokens (operator_id, token_hash, expires_at) VALUES ($1, $2, $3)`,
		o.ID, h[:], now.Add(48*time.Hour))
	return o, raw, err
}

// ByEmail returns an operator.
func ByEmail(ctx context.Context, db *sqlx.DB, email string) (Operator, error) {
	var o Operator
	err := db.GetContext(ctx, &o, `SELECT `+columns+` FROM operators WHERE email = $1`, email)
	return o, mapErr(err)
}

// ByID returns an operator.
func ByID(ctx context.Context, db *sqlx.DB, id int64) (Operator, error) {
	var o Operator
	err := db.GetContext(ctx, &o, `SELECT `+columns+` FROM operators WHERE id = $1`, id)
	return o, mapErr(err)
}

// OpenToken returns the operator of a valid activation link.
func OpenToken(ctx context.Context, db *sqlx.DB, raw string, now time.Time) (Operator, error) {
	h := sha256.Sum256([]byte(raw))
	var row struct {
		OperatorID int64      `db:"operator_id"`
		ExpiresAt  time.Time  `db:"expires_at"`
		UsedAt     *time.Time `db:"used_at"`
	}
	err := db.GetContext(ctx, &row, `SELECT operator_id, expires_at, used_at FROM operator_tokens WHERE token_hash = $1`, h[:])
	if errors.Is(err, sql.ErrNoRows) || err == nil && (row.UsedAt != nil || !now.Before(row.ExpiresAt)) {
		return Operator{}, ErrTokenInvalid
	}
	if err != nil {
		return Operator{}, err
	}
	return ByID(ctx, db, row.OperatorID)
}

// Activate sets the password of a link's operator and uses up its links.
func Activate(ctx context.Context, db *sqlx.DB, id int64, hash string, now time.Time) error {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit, a no-op
	if _, err := tx.ExecContext(ctx, `UPDATE operators SET password_hash = $2, activated_at = coalesce(activated_at, $3) WHERE id = $1`, id, hash, now); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE operator_tokens SET used_at = $2 WHERE operator_id = $1 AND used_at IS NULL`, id, now); err != nil {
		return err
	}
	return tx.Commit()
}

// EnableTOTP stores a confirmed sealed secret and returns recovery codes.
func EnableTOTP(ctx context.Context, db *sqlx.DB, id int64, sealed string) ([]string, error) {
	codes, hashes, err := mfa.NewRecoveryCodes()
	if err != nil {
		return nil, err
	}
	_, err = db.ExecContext(ctx, `UPDATE operators SET totp_secret = $2, totp_enabled = true, recovery_codes = $3 WHERE id = $1`,
		id, sealed, pq.StringArray(hashes))
	return codes, err
}

// UseRecoveryCode spends one recovery code, and reports whether it was valid.
func UseRecoveryCode(ctx context.Context, db *sqlx.DB, id int64, code string) (bool, error) {
	res, err := db.ExecContext(ctx, `UPDATE operators SET recovery_codes = array_remove(recovery_codes, $2)
		WHERE id = $1 AND $2 = ANY(recovery_codes)`, id, mfa.HashCode(code))
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// RecordLogin stamps a successful login.
func RecordLogin(ctx context.Context, db *sqlx.DB, id int64, now time.Time) error {
	_, err := db.ExecContext(ctx, `UPDATE operators SET last_login_at = $2 WHERE id = $1`, id, now)
	return err
}

// Entry is one line of the operators' audit trail.
type Entry struct {
	ID            int64      `db:"id"`
	At            time.Time  `db:"at"`
	OperatorEmail string     `db:"operator_email"`
	Action        string     `db:"action"`
	CommuneID     *tenant.ID `db:"commune_id"`
	Target        string     `db:"target"`
	Before        *string    `db:"before"`
	After         *string    `db:"after"`
}

// Audit records an operator's action in the platform's trail and, when it
// concerns a commune, in that commune's own audit log too (in one
// transaction).
func Audit(ctx context.Context, db *sqlx.DB, o Operator, action string, commune tenant.ID, target string, before, after any) error {
	b, err := jsonOrNil(before)
	if err != nil {
		return err
	}
	a, err := jsonOrNil(after)
	if err != nil {
		return err
	}
	var cid *tenant.ID
	if commune != 0 {
		cid = &commune
	}
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit, a no-op
	if _, err := tx.ExecContext(ctx, `INSERT INTO operator_audit (operator_id, operator_email, action, commune_id, target, before, after)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, o.ID, o.Email, action, cid, target, b, a); err != nil {
		return fmt.Errorf("operator: audit: %w", err)
	}
	if commune != 0 {
		if err := tenant.Enter(ctx, tx, commune); err != nil {
			return err
		}
		err := audit.Record(ctx, tx, commune, audit.Actor{Kind: "operator", ID: o.ID, Email: o.Email},
			audit.Entry{Action: "operator." + action, TargetType: "commune", TargetID: target, Before: before, After: after})
		if err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Trail returns the operators' audit trail, newest first.
func Trail(ctx context.Context, db *sqlx.DB, limit int) ([]Entry, error) {
	var es []Entry
	err := db.SelectContext(ctx, &es, `SELECT id, at, operator_email, action, commune_id, target, before::text AS before, after::text AS after
		FROM operator_audit ORDER BY id DESC LIMIT $1`, limit)
	return es, err
}

func jsonOrNil(v any) (*string, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	s := string(b)
	return &s, nil
}
