package account_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/regie/regie/portal/account"
)

func TestHasher_Hash(t *testing.T) {
	ctx := context.Background()
	h := account.NewHasher()

	t.Run("OK", func(t *testing.T) {
		hash, err := h.Hash(ctx, "correct horse battery")
		if err != nil {
			t.Fatalf("Hash: %v", err)
		}
		p := account.HashParams
		if want := fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$", p.Memory, p.Iterations, p.Parallelism); !strings.HasPrefix(hash, want) {
			t.Errorf("hash %q: want argon2id with HashParams, %s…", hash, want)
		}
		if strings.Contains(hash, "correct horse battery") {
			t.Errorf("hash %q contains the password", hash)
		}
	})

	t.Run("Salted", func(t *testing.T) {
		h1, err1 := h.Hash(ctx, "même mot de passe")
		h2, err2 := h.Hash(ctx, "même mot de passe")
		if err1 != nil || err2 != nil {
			t.Fatalf("Hash: %v, %v", err1, err2)
		}
		if h1 == h2 {
			t.Fatalf("two hashes of one password are equal (%q): no salt", h1)
		}
	})

}

func TestHasher_Verify(t *testing.T) {
	ctx := context.Background()
	h := account.NewHasher()
	const password = "Mot de passe d'été"
	hash, err := h.Hash(ctx, password)
	if err != nil {
		t.Fatal(err)
	}

	long := strings.Repeat("a", account.MaxPasswordLength+1)
	longHash, err := h.Hash(ctx, long)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, password, hash string
		want                 bool
	}{
		{"Right", password, hash, true},
		{"Wrong", "mot de passe d'été", hash, false},
		{"Empty", "", hash, false},
		{"NoAccount", password, "", false},
		{"NoAccountEmptyPassword", "", "", false},
		// Refused before hashing, even when it is the right one.
		{"TooLong", long, longHash, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := h.Verify(ctx, tc.password, tc.hash)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got != tc.want {
				t.Fatalf("Verify = %v, want %v", got, tc.want)
			}
		})
	}

	t.Run("MaxLengthAccepted", func(t *testing.T) {
		max := strings.Repeat("b", account.MaxPasswordLength)
		maxHash, err := h.Hash(ctx, max)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := h.Verify(ctx, max, maxHash); !ok || err != nil {
			t.Fatalf("Verify of a %d-byte password = %v, %v; want true", account.MaxPasswordLength, ok, err)
		}
	})

	t.Run("MalformedHash", func(t *testing.T) {
		ok, err := h.Verify(ctx, password, "pas-un-hash")
		if ok || err == nil {
			t.Fatalf("Verify against a malformed hash = %v, %v; want false and an error", ok, err)
		}
	})

}

func TestCheckNewPassword(t *testing.T) {
	const min = 10
	for _, tc := range []struct {
		name, password, confirm string
		wantField               string // "" when the password is accepted
		wantIn                  string // part of the message
	}{
		{"OK", "bonjour-la-mairie", "bonjour-la-mairie", "", ""},
		{"ExactlyMin", "0123456789", "0123456789", "", ""},
		{"TooShort", "court", "court", "password", "au moins 10 caractères (il en contient 5)"},
		{"Empty", "", "", "password", "il en contient 0"},
		// Ten accented letters are ten characters although twenty bytes.
		{"AccentsCountAsOne", "éééééééééé", "éééééééééé", "", ""},
		{"AccentsTooShort", "ééééééééé", "ééééééééé", "password", "il en contient 9"},
		{"MaxLength", strings.Repeat("a", account.MaxPasswordChars), strings.Repeat("a", account.MaxPasswordChars), "", ""},
		{"TooLong", strings.Repeat("a", account.MaxPasswordChars+1), strings.Repeat("a", account.MaxPasswordChars+1), "password", "au plus 128 caractères"},
		// The widest characters still fit the byte bound that Verify applies.
		{"MaxLengthWide", strings.Repeat("😀", account.MaxPasswordChars), strings.Repeat("😀", account.MaxPasswordChars), "", ""},
		{"Mismatch", "bonjour-la-mairie", "bonjour-la-Mairie", "password_confirm", "pas identiques"},
		{"ConfirmEmpty", "bonjour-la-mairie", "", "password_confirm", "pas identiques"},
		// Length is reported before the mismatch.
		{"TooShortAndMismatch", "court", "autre", "password", "au moins"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := account.CheckNewPassword(tc.password, tc.confirm, min)
			if tc.wantField == "" {
				if err != nil {
					t.Fatalf("err = %v, want the password accepted", err)
				}
				return
			}
			var pe *account.PasswordError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v (%T), want *PasswordError", err, err)
			}
			if pe.Field != tc.wantField || !strings.Contains(pe.Message, tc.wantIn) || pe.Error() != pe.Message {
				t.Fatalf("PasswordError{%q, %q}, want field %q and a message with %q", pe.Field, pe.Message, tc.wantField, tc.wantIn)
			}
		})
	}

	t.Run("RunesNotBytes", func(t *testing.T) {
		// "éééé" is 4 characters in 8 bytes: enough for 4, not for 5.
		if err := account.CheckNewPassword("éééé", "éééé", 4); err != nil {
			t.Errorf("min 4: err = %v, want accepted", err)
		}
		err := account.CheckNewPassword("éééé", "éééé", 5)
		var pe *account.PasswordError
		if !errors.As(err, &pe) || !strings.Contains(pe.Message, "il en contient 4") {
			t.Errorf("min 5: err = %v, want a message counting 4 characters", err)
		}
	})
}

func BenchmarkHasher_Hash(b *testing.B) {
	ctx := context.Background()
	h := account.NewHasher()
	for b.Loop() {
		if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}
