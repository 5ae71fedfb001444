package account

import (
	"context"
	"fmt"
	"runtime"
	"unicode/utf8"

	"github.com/alexedwards/argon2id"
)

// HashParams are the argon2id parameters of new hashes: OWASP's second
// recommended set (19 MiB, 2 passes, 1 lane). On the 2-core reference
// machine one hash takes about 22 ms (BenchmarkHasher_Hash); older hashes
// keep the parameters they were made with.
var HashParams = &argon2id.Params{Memory: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// MaxPasswordLength bounds what is hashed, in bytes, so a huge "password"
// cannot tie up a core; MaxPasswordChars is the same bound said in
// characters (at most 4 bytes each).
const (
	MaxPasswordLength = 512
	MaxPasswordChars  = 128
)

// Hasher hashes and verifies passwords, at most two per core at once, so
// that a burst of logins costs memory in proportion to the machine, not to
// the burst.
type Hasher struct {
	sem   chan struct{}
	dummy string
}

// NewHasher returns a Hasher.
func NewHasher() *Hasher {
	h := &Hasher{sem: make(chan struct{}, 2*runtime.GOMAXPROCS(0))}
	h.dummy, _ = argon2id.CreateHash("not a real password", HashParams)
	return h
}

// Hash returns the encoded argon2id hash of password.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	return argon2id.CreateHash(password, HashParams)
}

// Verify reports whether password matches hash. An empty hash (no such
// account) is compared against a dummy hash, so that both cases take the
// same time.
func (h *Hasher) Verify(ctx context.Context, password, hash string) (bool, error) {
	if len(password) > MaxPasswordLength {
		return false, nil
	}
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	if hash == "" {
		argon2id.ComparePasswordAndHash(password, h.dummy) //nolint:errcheck // timing only
		return false, nil
	}
	ok, err := argon2id.ComparePasswordAndHash(password, hash)
	if err != nil {
		return false, fmt.Errorf("account: verify: %w", err)
	}
	return ok, nil
}

func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *Hasher) release() { <-h.sem }

// PasswordError is a password rule a submission broke, in French, with the
// field it belongs next to.
type PasswordError struct {
	Field   string // "password" or "password_confirm"
	Message string
}

func (e *PasswordError) Error() string { return e.Message }

// CheckNewPassword applies the rules of a new password: at least min
// characters (not bytes), at most MaxPasswordChars, and the same twice.
func CheckNewPassword(password, confirm string, min int) error {
	switch n := utf8.RuneCountInString(password); {
	case n < min:
		return &PasswordError{"password", fmt.Sprintf("Le mot de passe doit contenir au moins %d caractères (il en contient %d).", min, n)}
	case n > MaxPasswordChars:
		return &PasswordError{"password", fmt.Sprintf("Le mot de passe doit contenir au plus %d caractères.", MaxPasswordChars)}
	case password != confirm:
		return &PasswordError{"password_confirm", "Les deux mots de passe ne sont pas identiques."}
	}
	return nil
}
