// Package session keeps login sessions in Redis.
//
// The browser holds a random token; Redis holds the session under the
// SHA-256 of that token (never the token itself), so a copy of Redis opens
// no session. Each session records its kind (family, staff, operator), its
// commune and its account; a set per account lists its sessions so that a
// person can see them and end them all.
package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/regie/regie/tenant"
)

// ErrNotFound means the token opens no live session.
var ErrNotFound = errors.New("session: not found")

// Kind separates the three populations; a session of one kind never serves
// another.
type Kind string

// The kinds of session.
const (
	Family   Kind = "family"
	Staff    Kind = "staff"
	Operator Kind = "operator"
)

// Lifetimes. A plain family login ends after two hours without activity;
// "Se souvenir de moi" keeps it thirty days; staff and operators time out
// after thirty minutes idle.
const (
	FamilyIdle     = 2 * time.Hour
	FamilyRemember = 30 * 24 * time.Hour
	StaffIdle      = 30 * time.Minute
	// touchEvery spares Redis a write per request.
	touchEvery = time.Minute
)

// Session is one login.
type Session struct {
	Hash      string    `json:"-"` // hex SHA-256 of the token: the Redis key and the public id
	Kind      Kind      `json:"kind"`
	TenantID  tenant.ID `json:"tenant_id"` // 0 for operators
	AccountID int64     `json:"account_id"`
	Email     string    `json:"email"`
	Remember  bool      `json:"remember"`
	CreatedAt time.Time `json:"created_at"`
	LastSeen  time.Time `json:"last_seen"`
	ExpiresAt time.Time `json:"expires_at"` // absolute end (remember) or end of idleness
	UserAgent string    `json:"user_agent"`
	IP        string    `json:"ip"`
	// Data carries what a kind needs besides (staff role, pending TOTP).
	Data map[string]string `json:"data,omitempty"`
}

// idle returns the idle timeout of the session, zero for one with a fixed
// end.
func (s Session) idle() time.Duration {
	switch {
	case s.Kind == Family && s.Remember:
		return 0
	case s.Kind == Family:
		return FamilyIdle
	}
	return StaffIdle
}

// Store reads and writes sessions.
type Store struct {
	rdb *redis.Client
	now func() time.Time
}

// NewStore returns a store on rdb.
func NewStore(rdb *redis.Client) *Store { return &Store{rdb: rdb, now: time.Now} }

func key(hash string) string { return "session:" + hash }

func indexKey(k Kind, tid tenant.ID, account int64) string {
	return fmt.Sprintf("sessions:%s:%d:%d", k, tid, account)
}

// Hash returns the public id of a token.
func Hash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// Create stores a new session and returns its token for the cookie.
func (st *Store) Create(ctx context.Context, s Session) (string, Session, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", Session{}, err
	}
	token := base64.RawURLEncoding.EncodeToString(b)
	now := st.now()
	s.Hash, s.CreatedAt, s.LastSeen = Hash(token), now, now
	if s.Remember && s.Kind == Family {
		s.ExpiresAt = now.Add(FamilyRemember)
	} else {
		s.ExpiresAt = now.Add(s.idle())
	}
	if err := st.write(ctx, s, true); err != nil {
		return "", Session{}, err
	}
	return token, s, nil
}

func (st *Store) write(ctx context.Context, s Session, index bool) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	ttl := s.ExpiresAt.Sub(st.now())
	if ttl <= 0 {
		return nil
	}
	_, err = st.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, key(s.Hash), b, ttl)
		if index {
			ik := indexKey(s.Kind, s.TenantID, s.AccountID)
			p.SAdd(ctx, ik, s.Hash)
			p.Expire(ctx, ik, FamilyRemember+24*time.Hour)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("session: write: %w", err)
	}
	return nil
}

// Get returns the live session of a token and records the activity
// (extending an idle timeout). It returns ErrNotFound for an unknown or
// expired token.
func (st *Store) Get(ctx context.Context, token string) (Session, error) {
	if token == "" {
		return Session{}, ErrNotFound
	}
	s, err := st.byHash(ctx, Hash(token))
	if err != nil {
		return Session{}, err
	}
	now := st.now()
	if now.Sub(s.LastSeen) >= touchEvery {
		s.LastSeen = now
		if d := s.idle(); d > 0 {
			s.ExpiresAt = now.Add(d)
		}
		if err := st.write(ctx, s, false); err != nil {
			return Session{}, err
		}
	}
	return s, nil
}

func (st *Store) byHash(ctx context.Context, hash string) (Session, error) {
	b, err := st.rdb.Get(ctx, key(hash)).Bytes()
	if errors.Is(err, redis.Nil) {
		return Session{}, ErrNotFound
	}
	if err != nil {
		return Session{}, fmt.Errorf("session: read: %w", err)
	}
	var s Session
	if err := json.Unmarshal(b, &s); err != nil {
		return Session{}, fmt.Errorf("session: decode: %w", err)
	}
	s.Hash = hash
	if !st.now().Before(s.ExpiresAt) {
		return Session{}, ErrNotFound
	}
	return s, nil
}

// Update rewrites a session's Data (a staff login passing its TOTP step).
func (st *Store) Update(ctx context.Context, s Session) error {
	return st.write(ctx, s, false)
}

// Delete ends one session.
func (st *Store) Delete(ctx context.Context, s Session) error {
	_, err := st.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, key(s.Hash))
		p.SRem(ctx, indexKey(s.Kind, s.TenantID, s.AccountID), s.Hash)
		return nil
	})
	return err
}

// List returns the live sessions of an account, most recent first, and
// forgets the ended ones.
func (st *Store) List(ctx context.Context, k Kind, tid tenant.ID, account int64) ([]Session, error) {
	ik := indexKey(k, tid, account)
	hashes, err := st.rdb.SMembers(ctx, ik).Result()
	if err != nil || len(hashes) == 0 {
		return nil, err
	}
	keys := make([]string, len(hashes))
	for i, h := range hashes {
		keys[i] = key(h)
	}
	vals, err := st.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, err
	}
	var out []Session
	var gone []any
	for i, v := range vals {
		str, ok := v.(string)
		var s Session
		if !ok || json.Unmarshal([]byte(str), &s) != nil || !st.now().Before(s.ExpiresAt) {
			gone = append(gone, hashes[i])
			continue
		}
		s.Hash = hashes[i]
		out = append(out, s)
	}
	if len(gone) > 0 {
		st.rdb.SRem(ctx, ik, gone...) //nolint:errcheck // tidying only
	}
	sort.Slice(out, func(i, j int) bool { return out[i].LastSeen.After(out[j].LastSeen) })
	return out, nil
}

// DeleteAll ends every session of an account except the one whose hash is
// keep (empty: all of them).
func (st *Store) DeleteAll(ctx context.Context, k Kind, tid tenant.ID, account int64, keep string) error {
	ik := indexKey(k, tid, account)
	hashes, err := st.rdb.SMembers(ctx, ik).Result()
	if err != nil {
		return err
	}
	_, err = st.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, h := range hashes {
			if h != keep {
				p.Del(ctx, key(h))
				p.SRem(ctx, ik, h)
			}
		}
		return nil
	})
	return err
}
