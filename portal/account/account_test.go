package account_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/migrations/dbtest"
	"github.com/regie/regie/portal/account"
	"github.com/regie/regie/tenant"
	"github.com/regie/regie/tenant/tenanttest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// inTx runs fn in a transaction of commune tid and fails the test if the
// transaction fails.
func inTx(t *testing.T, db *sqlx.DB, tid tenant.ID, fn func(tx *sqlx.Tx) error) {
	t.Helper()
	if err := tenant.WithTx(context.Background(), db, tid, fn); err != nil {
		t.Fatalf("commune %d: %v", tid, err)
	}
}

// mustActivate creates the account of email with a placeholder hash.
func mustActivate(t *testing.T, db *sqlx.DB, tid tenant.ID, email, hash string) account.Account {
	t.Helper()
	var a account.Account
	inTx(t, db, tid, func(tx *sqlx.Tx) error {
		var err error
		a, err = account.Activate(context.Background(), tx, tid, email, hash)
		return err
	})
	return a
}

func mustByID(t *testing.T, db *sqlx.DB, tid tenant.ID, id int64) account.Account {
	t.Helper()
	var a account.Account
	inTx(t, db, tid, func(tx *sqlx.Tx) error {
		var err error
		a, err = account.ByID(context.Background(), tx, tid, id)
		return err
	})
	return a
}

func TestActivate(t *testing.T) {
	ctx := context.Background()
	db := dbtest.DB(t)
	c := tenanttest.MustCreate(t, db, "activate")

	t.Run("New", func(t *testing.T) {
		before := time.Now().Add(-time.Minute)
		a := mustActivate(t, db, c.ID, "nouveau@exemple.fr", "hash-1")
		if a.ID == 0 || a.TenantID != c.ID || a.Email != "nouveau@exemple.fr" || a.PasswordHash != "hash-1" {
			t.Fatalf("Activate = %+v, want a new account of nouveau@exemple.fr in commune %d with hash-1", a, c.ID)
		}
		if !a.Active() || !a.NotifyInvoices || a.LastLoginAt != nil {
			t.Errorf("new account: Active %v, NotifyInvoices %v, LastLoginAt %v; want true, true, nil", a.Active(), a.NotifyInvoices, a.LastLoginAt)
		}
		if a.CreatedAt.Before(before) || a.PasswordChangedAt.Before(before) {
			t.Errorf("CreatedAt %v, PasswordChangedAt %v: want now", a.CreatedAt, a.PasswordChangedAt)
		}
	})

	t.Run("ErrConflict", func(t *testing.T) {
		a := mustActivate(t, db, c.ID, "actif@exemple.fr", "hash-1")
		err := tenant.WithTx(ctx, db, c.ID, func(tx *sqlx.Tx) error {
			_, err := account.Activate(ctx, tx, c.ID, "actif@exemple.fr", "hash-2")
			return err
		})
		if !errors.Is(err, account.ErrConflict) {
			t.Fatalf("second activation: err = %v, want ErrConflict", err)
		}
		if got := mustByID(t, db, c.ID, a.ID); got.PasswordHash != "hash-1" {
			t.Fatalf("password hash after the refused activation = %q, want the first %q", got.PasswordHash, "hash-1")
		}
	})

	t.Run("ReenablesDisabled", func(t *testing.T) {
		a := mustActivate(t, db, c.ID, "desactive@exemple.fr", "hash-1")
		inTx(t, db, c.ID, func(tx *sqlx.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE family_accounts SET disabled_at = now(), password_changed_at = now() - interval '1 day'
				WHERE tenant_id = $1 AND id = $2`, c.ID, a.ID)
			return err
		})
		if mustByID(t, db, c.ID, a.ID).Active() {
			t.Fatal("setup: the account is still active")
		}
		old := mustByID(t, db, c.ID, a.ID).PasswordChangedAt

		b := mustActivate(t, db, c.ID, "desactive@exemple.fr", "hash-2")
		if b.ID != a.ID {
			t.Errorf("re-activation made account %d, want the disabled %d", b.ID, a.ID)
		}
		if !b.Active() || b.PasswordHash != "hash-2" {
			t.Errorf("re-activated: Active %v, hash %q; want true, hash-2", b.Active(), b.PasswordHash)
		}
		if !b.PasswordChangedAt.After(old) {
			t.Errorf("PasswordChangedAt %v, want later than %v", b.PasswordChangedAt, old)
		}
		if got := mustByID(t, db, c.ID, a.ID); !got.Active() || got.PasswordHash != "hash-2" {
			t.Errorf("stored after re-activation: Active %v, hash %q; want true, hash-2", got.Active(), got.PasswordHash)
		}
	})

	t.Run("SameAddressInTwoCommunes", func(t *testing.T) {
		other := tenanttest.MustCreate(t, db, "activate-other")
		a := mustActivate(t, db, c.ID, "deux.communes@exemple.fr", "hash-a")
		b := mustActivate(t, db, other.ID, "deux.communes@exemple.fr", "hash-b")
		if b.TenantID != other.ID || b.PasswordHash != "hash-b" {
			t.Fatalf("second commune's account = %+v, want its own with hash-b", b)
		}
		if got := mustByID(t, db, c.ID, a.ID); got.PasswordHash != "hash-a" {
			t.Fatalf("first commune's hash = %q after the second commune's activation, want hash-a", got.PasswordHash)
		}
	})
}

func TestByEmail(t *testing.T) {
	ctx := context.Background()
	db := dbtest.DB(t)
	c := tenanttest.MustCreate(t, db, "byemail")
	a := mustActivate(t, db, c.ID, "marie@exemple.fr", "hash")

	t.Run("OK", func(t *testing.T) {
		inTx(t, db, c.ID, func(tx *sqlx.Tx) error {
			got, err := account.ByEmail(ctx, tx, c.ID, "marie@exemple.fr")
			if err != nil {
				return err
			}
			if got.ID != a.ID || got.Email != a.Email || got.PasswordHash != "hash" {
				t.Errorf("ByEmail = %+v, want %+v", got, a)
			}
			return nil
		})
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		inTx(t, db, c.ID, func(tx *sqlx.Tx) error {
			if _, err := account.ByEmail(ctx, tx, c.ID, "inconnu@exemple.fr"); !errors.Is(err, account.ErrNotFound) {
				t.Errorf("unknown address: err = %v, want ErrNotFound", err)
			}
			return nil
		})
	})
}

func TestByID(t *testing.T) {
	ctx := context.Background()
	db := dbtest.DB(t)
	c := tenanttest.MustCreate(t, db, "byid")
	a := mustActivate(t, db, c.ID, "paul@exemple.fr", "hash")

	t.Run("OK", func(t *testing.T) {
		if got := mustByID(t, db, c.ID, a.ID); got.Email != "paul@exemple.fr" || got.ID != a.ID {
			t.Fatalf("ByID = %+v, want %+v", got, a)
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		inTx(t, db, c.ID, func(tx *sqlx.Tx) error {
			if _, err := account.ByID(ctx, tx, c.ID, a.ID+1_000_000); !errors.Is(err, account.ErrNotFound) {
				t.Errorf("unknown id: err = %v, want ErrNotFound", err)
			}
			return nil
		})
	})
}

func TestSetPassword(t *testing.T) {
	ctx := context.Background()
	db := dbtest.DB(t)
	c := tenanttest.MustCreate(t, db, "setpw")
	a := mustActivate(t, db, c.ID, "luc@exemple.fr", "old")
	other := mustActivate(t, db, c.ID, "autre@exemple.fr", "other")

	t.Run("OK", func(t *testing.T) {
		inTx(t, db, c.ID, func(tx *sqlx.Tx) error {
			return account.SetPassword(ctx, tx, c.ID, a.ID, "new")
		})
		got := mustByID(t, db, c.ID, a.ID)
		if got.PasswordHash != "new" {
			t.Errorf("hash = %q, want new", got.PasswordHash)
		}
		if got.PasswordChangedAt.Before(a.PasswordChangedAt) {
			t.Errorf("PasswordChangedAt %v went back from %v", got.PasswordChangedAt, a.PasswordChangedAt)
		}
		if o := mustByID(t, db, c.ID, other.ID); o.PasswordHash != "other" {
			t.Errorf("another account's hash became %q", o.PasswordHash)
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		err := tenant.WithTx(ctx, db, c.ID, func(tx *sqlx.Tx) error {
			return account.SetPassword(ctx, tx, c.ID, a.ID+1_000_000, "x")
		})
		if !errors.Is(err, account.ErrNotFound) {
			t.Fatalf("unknown id: err = %v, want ErrNotFound", err)
		}
	})
}

func TestSetNotifyInvoices(t *testing.T) {
	ctx := context.Background()
	db := dbtest.DB(t)
	c := tenanttest.MustCreate(t, db, "notify")
	a := mustActivate(t, db, c.ID, "notif@exemple.fr", "hash")

	for _, on := range []bool{false, true} {
		inTx(t, db, c.ID, func(tx *sqlx.Tx) error {
			return account.SetNotifyInvoices(ctx, tx, c.ID, a.ID, on)
		})
		if got := mustByID(t, db, c.ID, a.ID).NotifyInvoices; got != on {
			t.Errorf("after SetNotifyInvoices(%v): NotifyInvoices = %v", on, got)
		}
	}

	t.Run("ErrNotFound", func(t *testing.T) {
		err := tenant.WithTx(ctx, db, c.ID, func(tx *sqlx.Tx) error {
			return account.SetNotifyInvoices(ctx, tx, c.ID, a.ID+1_000_000, false)
		})
		if !errors.Is(err, account.ErrNotFound) {
			t.Fatalf("unknown id: err = %v, want ErrNotFound", err)
		}
	})
}

func TestRecordLogin(t *testing.T) {
	ctx := context.Background()
	db := dbtest.DB(t)
	c := tenanttest.MustCreate(t, db, "login")
	a := mustActivate(t, db, c.ID, "login@exemple.fr", "hash")

	before := time.Now().Add(-time.Minute)
	inTx(t, db, c.ID, func(tx *sqlx.Tx) error {
		return account.RecordLogin(ctx, tx, c.ID, a.ID)
	})
	got := mustByID(t, db, c.ID, a.ID)
	if got.LastLoginAt == nil || got.LastLoginAt.Before(before) {
		t.Errorf("LastLoginAt = %v, want now", got.LastLoginAt)
	}

	t.Run("ErrNotFound", func(t *testing.T) {
		err := tenant.WithTx(ctx, db, c.ID, func(tx *sqlx.Tx) error {
			return account.RecordLogin(ctx, tx, c.ID, a.ID+1_000_000)
		})
		if !errors.Is(err, account.ErrNotFound) {
			t.Fatalf("unknown id: err = %v, want ErrNotFound", err)
		}
	})
}

func TestPurpose_TTL(t *testing.T) {
	for p, want := range map[account.Purpose]time.Duration{
		account.PurposeActivation: 48 * time.Hour,
		account.PurposeReset:      time.Hour,
	} {
		if got := p.TTL(); got != want {
			t.Errorf("%s.TTL() = %v, want %v", p, got, want)
		}
	}
}

// newToken stores a link and returns its secret.
func newToken(t *testing.T, db *sqlx.DB, tid tenant.ID, p account.Purpose, email string, now time.Time) string {
	t.Helper()
	var raw string
	inTx(t, db, tid, func(tx *sqlx.Tx) error {
		var err error
		raw, err = account.NewToken(context.Background(), tx, tid, p, email, now)
		return err
	})
	return raw
}

// openToken opens a link in its own transaction.
func openToken(t *testing.T, db *sqlx.DB, tid tenant.ID, p account.Purpose, raw string, now time.Time) (account.Token, error) {
	t.Helper()
	var tok account.Token
	var openErr error
	inTx(t, db, tid, func(tx *sqlx.Tx) error {
		tok, openErr = account.OpenToken(context.Background(), tx, tid, p, raw, now)
		return nil
	})
	return tok, openErr
}

func TestNewToken(t *testing.T) {
	db := dbtest.DB(t)
	c := tenanttest.MustCreate(t, db, "newtoken")
	now := time.Now()
	raw := newToken(t, db, c.ID, account.PurposeActivation, "jeton@exemple.fr", now)
	raw2 := newToken(t, db, c.ID, account.PurposeActivation, "jeton@exemple.fr", now)

	if len(raw) < 40 || raw == raw2 {
		t.Fatalf("secrets %q and %q: want two different ones of 32 random bytes", raw, raw2)
	}
	// Only the SHA-256 of the secret is stored.
	var hashed, raws int
	const q = `SELECT count(*) FILTER (WHERE token_hash = sha256(convert_to($2, 'UTF8'))),
		count(*) FILTER (WHERE position(convert_to($2, 'UTF8') IN token_hash) > 0)
		FROM family_tokens WHERE tenant_id = $1`
	if err := db.QueryRow(q, c.ID, raw).Scan(&hashed, &raws); err != nil {
		t.Fatal(err)
	}
	if hashed != 1 || raws != 0 {
		t.Errorf("rows holding the secret's hash: %d, want 1; holding the secret itself: %d, want 0", hashed, raws)
	}
	// Earlier links stay valid.
	for _, r := range []string{raw, raw2} {
		if _, err := openToken(t, db, c.ID, account.PurposeActivation, r, now); err != nil {
			t.Errorf("open %q: %v, want both links valid", r, err)
		}
	}
}

func TestOpenToken(t *testing.T) {
	db := dbtest.DB(t)
	c := tenanttest.MustCreate(t, db, "opentoken")
	now := time.Date(2025, 6, 2, 10, 0, 0, 0, time.UTC)

	t.Run("OK", func(t *testing.T) {
		raw := newToken(t, db, c.ID, account.PurposeReset, "ouvrir@exemple.fr", now)
		tok, err := openToken(t, db, c.ID, account.PurposeReset, raw, now.Add(time.Minute))
		if err != nil {
			t.Fatalf("OpenToken: %v", err)
		}
		if tok.Email != "ouvrir@exemple.fr" || tok.Purpose != account.PurposeReset || tok.TenantID != c.ID || tok.UsedAt != nil {
			t.Errorf("token = %+v, want an unused reset link of ouvrir@exemple.fr", tok)
		}
		if want := now.Add(account.ResetTTL); !tok.ExpiresAt.Equal(want) {
			t.Errorf("ExpiresAt = %v, want %v", tok.ExpiresAt, want)
		}
	})

	t.Run("WrongPurpose", func(t *testing.T) {
		raw := newToken(t, db, c.ID, account.PurposeReset, "but@exemple.fr", now)
		if _, err := openToken(t, db, c.ID, account.PurposeActivation, raw, now); !errors.Is(err, account.ErrTokenInvalid) {
			t.Fatalf("reset link opened as activation: err = %v, want ErrTokenInvalid", err)
		}
	})

	t.Run("Unknown", func(t *testing.T) {
		if _, err := openToken(t, db, c.ID, account.PurposeReset, "pas-un-lien", now); !errors.Is(err, account.ErrTokenInvalid) {
			t.Fatalf("err = %v, want ErrTokenInvalid", err)
		}
	})

	for _, p := range []account.Purpose{account.PurposeActivation, account.PurposeReset} {
		t.Run("Expiry"+string(p), func(t *testing.T) {
			raw := newToken(t, db, c.ID, p, "expire-"+string(p)+"@exemple.fr", now)
			if _, err := openToken(t, db, c.ID, p, raw, now.Add(p.TTL()-time.Second)); err != nil {
				t.Errorf("1 s before the end: %v, want valid", err)
			}
			if _, err := openToken(t, db, c.ID, p, raw, now.Add(p.TTL())); !errors.Is(err, account.ErrTokenInvalid) {
				t.Errorf("at the end (%v): err = %v, want ErrTokenInvalid", p.TTL(), err)
			}
		})
	}

	t.Run("Used", func(t *testing.T) {
		raw := newToken(t, db, c.ID, account.PurposeActivation, "utilise@exemple.fr", now)
		inTx(t, db, c.ID, func(tx *sqlx.Tx) error {
			return account.UseTokens(context.Background(), tx, c.ID, account.PurposeActivation, "utilise@exemple.fr")
		})
		if _, err := openToken(t, db, c.ID, account.PurposeActivation, raw, now); !errors.Is(err, account.ErrTokenInvalid) {
			t.Fatalf("used link: err = %v, want ErrTokenInvalid", err)
		}
	})
}

func TestUseTokens(t *testing.T) {
	db := dbtest.DB(t)
	c := tenanttest.MustCreate(t, db, "usetokens")
	now := time.Now()
	const addr, other = "utiliser@exemple.fr", "voisin@exemple.fr"
	first := newToken(t, db, c.ID, account.PurposeReset, addr, now)
	second := newToken(t, db, c.ID, account.PurposeReset, addr, now)
	activation := newToken(t, db, c.ID, account.PurposeActivation, addr, now)
	neighbour := newToken(t, db, c.ID, account.PurposeReset, other, now)

	inTx(t, db, c.ID, func(tx *sqlx.Tx) error {
		return account.UseTokens(context.Background(), tx, c.ID, account.PurposeReset, addr)
	})

	for _, tc := range []struct {
		name   string
		p      account.Purpose
		raw    string
		wantOK bool
	}{
		{"FirstLinkOfAddress", account.PurposeReset, first, false},
		{"SecondLinkOfAddress", account.PurposeReset, second, false},
		{"OtherPurposeOfAddress", account.PurposeActivation, activation, true},
		{"OtherAddress", account.PurposeReset, neighbour, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := openToken(t, db, c.ID, tc.p, tc.raw, now)
			switch {
			case tc.wantOK && err != nil:
				t.Errorf("err = %v, want the link still valid", err)
			case !tc.wantOK && !errors.Is(err, account.ErrTokenInvalid):
				t.Errorf("err = %v, want ErrTokenInvalid", err)
			}
		})
	}
}

// TestIsolation: inside commune B's transaction, nothing of commune A can be
// read or changed, whether B passes its own id (the WHERE clause) or A's (the
// row-level security policies).
func TestIsolation(t *testing.T) {
	ctx := context.Background()
	db := dbtest.DB(t)
	a := tenanttest.MustCreate(t, db, "iso-a")
	b := tenanttest.MustCreate(t, db, "iso-b")
	const addr = "isole@exemple.fr"
	acc := mustActivate(t, db, a.ID, addr, "hash-a")
	now := time.Now()
	raw := newToken(t, db, a.ID, account.PurposeActivation, addr, now)

	for _, tc := range []struct {
		name string
		tid  tenant.ID // the commune passed to the store, in B's transaction
	}{{"OwnID", b.ID}, {"OtherID", a.ID}} {
		t.Run(tc.name, func(t *testing.T) {
			err := tenant.WithTx(ctx, db, b.ID, func(tx *sqlx.Tx) error {
				if got, err := account.ByEmail(ctx, tx, tc.tid, addr); !errors.Is(err, account.ErrNotFound) {
					t.Errorf("ByEmail of A's address = %+v, %v; want ErrNotFound", got, err)
				}
				if got, err := account.ByID(ctx, tx, tc.tid, acc.ID); !errors.Is(err, account.ErrNotFound) {
					t.Errorf("ByID of A's account = %+v, %v; want ErrNotFound", got, err)
				}
				if got, err := account.OpenToken(ctx, tx, tc.tid, account.PurposeActivation, raw, now); !errors.Is(err, account.ErrTokenInvalid) {
					t.Errorf("OpenToken of A's link = %+v, %v; want ErrTokenInvalid", got, err)
				}
				if err := account.SetPassword(ctx, tx, tc.tid, acc.ID, "hash-b"); !errors.Is(err, account.ErrNotFound) {
					t.Errorf("SetPassword of A's account: err = %v, want ErrNotFound", err)
				}
				if err := account.UseTokens(ctx, tx, tc.tid, account.PurposeActivation, addr); err != nil {
					t.Errorf("UseTokens: %v", err)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := mustByID(t, db, a.ID, acc.ID); got.PasswordHash != "hash-a" {
				t.Errorf("A's hash after B's SetPassword = %q, want hash-a", got.PasswordHash)
			}
			if _, err := openToken(t, db, a.ID, account.PurposeActivation, raw, now); err != nil {
				t.Errorf("A's link after B's UseTokens: %v, want still valid", err)
			}
		})
	}
}
