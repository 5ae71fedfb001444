// Package apikey keeps the keys a commune's billing software uses on the
// JSON API. A key is shown once, when it is created; only its SHA-256 is
// stored (keys are 256 random bits: a slow hash would add nothing), with a
// short public prefix that finds it. Every function runs inside the
// commune's transaction (tenant.WithTx): a key is only ever looked up among
// its own commune's.
package apikey

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base32"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/tenant"
)

// ErrInvalid means a presented key is malformed, unknown to the commune, or
// revoked: the caller answers the same to each.
var ErrInvalid = errors.New("apikey: invalid key")

// ErrNotFound means no key of the commune has that id.
var ErrNotFound = errors.New("apikey: no such key")

// ErrName means the key's name is empty or too long.
var ErrName = errors.New("apikey: name must be 1 to 100 characters")

// Key is a stored key, without its secret.
type Key struct {
	ID         int64      `db:"id"`
	Name       string     `db:"name"`
	Prefix     string     `db:"prefix"`
	CreatedAt  time.Time  `db:"created_at"`
	CreatedBy  string     `db:"created_by"`
	RevokedAt  *time.Time `db:"revoked_at"`
	LastUsedAt *time.Time `db:"last_used_at"`
}

// keyPrefix starts every key, so that a key pasted where it should not be
// is recognisable (and secret scanners can find it).
const keyPrefix = "regie_"

var enc = base32.StdEncoding.WithPadding(base32.NoPadding)

// Create makes a key named name and returns it with its secret, the only
// time the secret is known.
func Create(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, name, createdBy string) (Key, string, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 100 {
		return Key{}, "", ErrName
	}
	b := make([]byte, 5+32)
	rand.Read(b)
	prefix := strings.ToLower(enc.EncodeToString(b[:5]))
	secret := keyPrefix + prefix + "_" + strings.ToLower(enc.EncodeToString(b[5:]))
	sum := sha256.Sum256([]byte(secret))
	var k Key
	err := sqlx.GetContext(ctx, q, &k, `INSERT INTO api_keys (tenant_id, name, prefix, key_hash, created_by)
		VALUES ($1, $2, $3, $4, $5)
		RETURNING id, name, prefix, created_at, created_by, revoked_at, last_used_at`,
		tid, name, prefix, sum[:], createdBy)
	return k, secret, err
}

// List returns the commune's keys, revoked ones included, newest first.
func List(ctx context.Context, q sqlx.ExtContext, tid tenant.ID) ([]Key, error) {
	var ks []Key
	err := sqlx.SelectContext(ctx, q, &ks, `SELECT id, name, prefix, created_at, created_by, revoked_at, last_used_at
		FROM api_keys WHERE tenant_id = $1 ORDER BY id DESC`, tid)
	return ks, err
}

// Revoke ends a key at once; revoking it again changes nothing. It
// returns the key as it was.
func Revoke(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, id int64, at time.Time) (Key, error) {
	var k Key
	err := sqlx.GetContext(ctx, q, &k, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, $3)
		WHERE tenant_id = $1 AND id = $2
		RETURNING id, name, prefix, created_at, created_by, revoked_at, last_used_at`, tid, id, at)
	if errors.Is(err, sql.ErrNoRows) {
		return Key{}, ErrNotFound
	}
	return k, err
}

// Authenticate returns the commune's live key whose secret is presented,
// and notes its use (at most once a minute, to spare writes). Anything
// else is ErrInvalid.
func Authenticate(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, presented string, now time.Time) (Key, error) {
	rest, ok := strings.CutPrefix(presented, keyPrefix)
	prefix, _, ok2 := strings.Cut(rest, "_")
	if !ok || !ok2 || len(prefix) != 8 {
		return Key{}, ErrInvalid
	}
	var row struct {
		Key
		Hash []byte `db:"key_hash"`
	}
	err := sqlx.GetContext(ctx, q, &row, `SELECT id, name, prefix, created_at, created_by, revoked_at, last_used_at, key_hash
		FROM api_keys WHERE tenant_id = $1 AND prefix = $2`, tid, prefix)
	if errors.Is(err, sql.ErrNoRows) {
		return Key{}, ErrInvalid
	}
	if err != nil {
		return Key{}, err
	}
	sum := sha256.Sum256([]byte(presented))
	if subtle.ConstantTimeCompare(sum[:], row.Hash) != 1 || row.RevokedAt != nil {
		return Key{}, ErrInvalid
	}
	if row.LastUsedAt == nil || now.Sub(*row.LastUsedAt) > time.Minute {
		if _, err := q.ExecContext(ctx, `UPDATE api_keys SET last_used_at = $3 WHERE tenant_id = $1 AND id = $2`, tid, row.ID, now); err != nil {
			return Key{}, err
		}
	}
	return row.Key, nil
}
