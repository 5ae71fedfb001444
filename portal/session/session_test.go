package session

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/regie/regie/migrations/dbtest"
	"github.com/regie/regie/tenant"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// clock is the Store's time, moved by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func (c *clock) set(t time.Time)     { c.t = t }

// newStore returns a store on the package's Redis database whose clock
// starts at a fixed instant and moves only when the test says so.
func newStore(t *testing.T) (*Store, *clock) {
	t.Helper()
	c := &clock{t: time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC)}
	st := NewStore(dbtest.Redis(t))
	st.now = c.now
	return st, c
}

// account returns an account id no other test or earlier run uses, since the
// Redis database outlives the test process.
func account() int64 { return 1_000_000 + rand.Int64N(1<<40) }

// commune returns a commune id, random for the same reason.
func commune() tenant.ID { return tenant.ID(1_000_000 + rand.Int64N(1<<40)) }

func family(tid tenant.ID, acc int64) Session {
	return Session{Kind: Family, TenantID: tid, AccountID: acc, Email: "jean.dupont@exemple.fr", UserAgent: "Firefox", IP: "192.0.2.1"}
}

func mustCreate(t *testing.T, st *Store, s Session) (string, Session) {
	t.Helper()
	token, created, err := st.Create(context.Background(), s)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	forget(t, st, created)
	return token, created
}

// forget removes a session's keys when the test ends: with the test clock,
// Redis keeps them for as long as real sessions, up to a month.
func forget(t *testing.T, st *Store, s Session) {
	t.Cleanup(func() {
		st.rdb.Del(context.Background(), key(s.Hash), indexKey(s.Kind, s.TenantID, s.AccountID))
	})
}

func hashes(ss []Session) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.Hash
	}
	return out
}

func TestStore_Create(t *testing.T) {
	ctx := context.Background()
	st, c := newStore(t)

	t.Run("OK", func(t *testing.T) {
		in := family(commune(), account())
		in.Data = map[string]string{"role": "lecture"}
		token, s, err := st.Create(ctx, in)
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		forget(t, st, s)
		if len(token) < 40 {
			t.Errorf("token %q: want at least 40 characters (32 random bytes)", token)
		}
		if s.Hash != Hash(token) {
			t.Errorf("Hash = %q, want Hash(token) = %q", s.Hash, Hash(token))
		}
		if !s.CreatedAt.Equal(c.now()) || !s.LastSeen.Equal(c.now()) {
			t.Errorf("CreatedAt %v, LastSeen %v, want both %v", s.CreatedAt, s.LastSeen, c.now())
		}
		got, err := st.Get(ctx, token)
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if got.Hash != s.Hash || got.Kind != Family || got.TenantID != in.TenantID || got.AccountID != in.AccountID ||
			got.Email != in.Email || got.UserAgent != in.UserAgent || got.IP != in.IP || got.Data["role"] != "lecture" {
			t.Errorf("Get = %+v, want the created %+v", got, s)
		}
		if !got.ExpiresAt.Equal(s.ExpiresAt) {
			t.Errorf("ExpiresAt read back %v, want %v", got.ExpiresAt, s.ExpiresAt)
		}
	})

	t.Run("TokensDiffer", func(t *testing.T) {
		in := family(commune(), account())
		t1, _ := mustCreate(t, st, in)
		t2, _ := mustCreate(t, st, in)
		if t1 == t2 {
			t.Fatalf("two sessions got the same token %q", t1)
		}
	})

	t.Run("RawTokenNotStored", func(t *testing.T) {
		tid, acc := commune(), account()
		token, s := mustCreate(t, st, family(tid, acc))
		if s.Hash == token {
			t.Fatal("the session's public id is the token itself")
		}
		rdb := st.rdb
		var seen int
		iter := rdb.Scan(ctx, 0, "*", 500).Iterator()
		for iter.Next(ctx) {
			k := iter.Val()
			seen++
			if strings.Contains(k, token) {
				t.Errorf("key %q contains the raw token", k)
			}
			var vals []string
			switch typ := rdb.Type(ctx, k).Val(); typ {
			case "string":
				vals = []string{rdb.Get(ctx, k).Val()}
			case "set":
				vals = rdb.SMembers(ctx, k).Val()
			case "hash":
				for f, v := range rdb.HGetAll(ctx, k).Val() {
					vals = append(vals, f, v)
				}
			case "list":
				vals = rdb.LRange(ctx, k, 0, -1).Val()
			}
			for _, v := range vals {
				if strings.Contains(v, token) {
					t.Errorf("value of %q contains the raw token", k)
				}
			}
		}
		if err := iter.Err(); err != nil {
			t.Fatalf("scan: %v", err)
		}
		// The scan must have looked at the session itself.
		if n := rdb.Exists(ctx, key(s.Hash), indexKey(Family, tid, acc)).Val(); n != 2 {
			t.Fatalf("session and index keys: %d of 2 exist (scanned %d keys)", n, seen)
		}
	})
}

func TestStore_Get(t *testing.T) {
	ctx := context.Background()
	st, c := newStore(t)

	t.Run("ErrNotFound", func(t *testing.T) {
		for name, token := range map[string]string{"Empty": "", "Unknown": "pas-un-jeton"} {
			if _, err := st.Get(ctx, token); !errors.Is(err, ErrNotFound) {
				t.Errorf("%s token: err = %v, want ErrNotFound", name, err)
			}
		}
	})

	// Each kind lives exactly its lifetime when nobody uses it.
	lifetimes := []struct {
		name  string
		s     Session
		limit time.Duration
	}{
		{"FamilyPlain", Session{Kind: Family}, FamilyIdle},
		{"FamilyRemember", Session{Kind: Family, Remember: true}, FamilyRemember},
		{"Staff", Session{Kind: Staff}, StaffIdle},
		{"StaffRememberIgnored", Session{Kind: Staff, Remember: true}, StaffIdle},
		{"Operator", Session{Kind: Operator}, StaffIdle},
	}
	for _, tc := range lifetimes {
		t.Run("Lifetime"+tc.name, func(t *testing.T) {
			in := tc.s
			in.TenantID, in.AccountID = commune(), account()
			start := c.now()
			token, s := mustCreate(t, st, in)
			if want := start.Add(tc.limit); !s.ExpiresAt.Equal(want) {
				t.Errorf("ExpiresAt = %v, want %v", s.ExpiresAt, want)
			}
			c.set(start.Add(tc.limit - time.Second))
			if _, err := st.Get(ctx, token); err != nil {
				t.Fatalf("1 s before the end: %v, want the session", err)
			}
			// The Get above touched the session; a fresh one shows the
			// end itself.
			c.set(start)
			token2, _ := mustCreate(t, st, in)
			c.set(start.Add(tc.limit))
			if _, err := st.Get(ctx, token2); !errors.Is(err, ErrNotFound) {
				t.Fatalf("at the end: err = %v, want ErrNotFound", err)
			}
			c.set(start)
		})
	}

	t.Run("IdleExtendedByUse", func(t *testing.T) {
		start := c.now()
		defer c.set(start)
		token, _ := mustCreate(t, st, family(commune(), account()))
		c.add(time.Hour)
		if _, err := st.Get(ctx, token); err != nil {
			t.Fatalf("after 1 h: %v", err)
		}
		c.add(FamilyIdle - time.Second) // 2 h 59 min 59 s after login
		if _, err := st.Get(ctx, token); err != nil {
			t.Fatalf("1 h 59 min 59 s after the last use: %v, want the session", err)
		}
		c.add(FamilyIdle)
		if _, err := st.Get(ctx, token); !errors.Is(err, ErrNotFound) {
			t.Fatalf("2 h after the last use: err = %v, want ErrNotFound", err)
		}
	})

	t.Run("StaffIdleExtendedByUse", func(t *testing.T) {
		start := c.now()
		defer c.set(start)
		token, _ := mustCreate(t, st, Session{Kind: Staff, TenantID: commune(), AccountID: account()})
		for i := range 5 { // 2 h of activity every 20 min
			c.add(20 * time.Minute)
			if _, err := st.Get(ctx, token); err != nil {
				t.Fatalf("use %d, 20 min after the previous: %v", i+1, err)
			}
		}
		c.add(StaffIdle)
		if _, err := st.Get(ctx, token); !errors.Is(err, ErrNotFound) {
			t.Fatalf("30 min idle: err = %v, want ErrNotFound", err)
		}
	})

	t.Run("RememberIsAbsolute", func(t *testing.T) {
		start := c.now()
		defer c.set(start)
		in := family(commune(), account())
		in.Remember = true
		token, s := mustCreate(t, st, in)
		for day := 1; day < 30; day++ {
			c.set(start.Add(time.Duration(day) * 24 * time.Hour))
			got, err := st.Get(ctx, token)
			if err != nil {
				t.Fatalf("day %d: %v", day, err)
			}
			if !got.ExpiresAt.Equal(s.ExpiresAt) {
				t.Fatalf("day %d: ExpiresAt moved to %v, want %v", day, got.ExpiresAt, s.ExpiresAt)
			}
		}
		c.set(start.Add(FamilyRemember))
		if _, err := st.Get(ctx, token); !errors.Is(err, ErrNotFound) {
			t.Fatalf("30 days after login, used daily: err = %v, want ErrNotFound", err)
		}
	})

	t.Run("TouchOnlyAfterTouchEvery", func(t *testing.T) {
		start := c.now()
		defer c.set(start)
		token, s := mustCreate(t, st, family(commune(), account()))

		c.add(touchEvery - time.Second)
		got, err := st.Get(ctx, token)
		if err != nil {
			t.Fatal(err)
		}
		if !got.LastSeen.Equal(start) || !got.ExpiresAt.Equal(s.ExpiresAt) {
			t.Errorf("Get %v after login: LastSeen %v, ExpiresAt %v, want unchanged %v, %v",
				touchEvery-time.Second, got.LastSeen, got.ExpiresAt, start, s.ExpiresAt)
		}
		stored, err := st.byHash(ctx, s.Hash)
		if err != nil {
			t.Fatal(err)
		}
		if !stored.LastSeen.Equal(start) {
			t.Errorf("stored LastSeen %v, want %v: Get wrote before touchEvery", stored.LastSeen, start)
		}

		c.set(start.Add(touchEvery))
		got, err = st.Get(ctx, token)
		if err != nil {
			t.Fatal(err)
		}
		want := c.now().Add(FamilyIdle)
		if !got.LastSeen.Equal(c.now()) || !got.ExpiresAt.Equal(want) {
			t.Errorf("Get touchEvery after login: LastSeen %v, ExpiresAt %v, want %v, %v", got.LastSeen, got.ExpiresAt, c.now(), want)
		}
		stored, err = st.byHash(ctx, s.Hash)
		if err != nil {
			t.Fatal(err)
		}
		if !stored.LastSeen.Equal(c.now()) || !stored.ExpiresAt.Equal(want) {
			t.Errorf("stored LastSeen %v, ExpiresAt %v, want %v, %v", stored.LastSeen, stored.ExpiresAt, c.now(), want)
		}
	})
}

func TestStore_Update(t *testing.T) {
	ctx := context.Background()
	st, _ := newStore(t)
	in := Session{Kind: Staff, TenantID: commune(), AccountID: account(), Data: map[string]string{"totp": "pending"}}
	token, s := mustCreate(t, st, in)
	s.Data = map[string]string{"totp": "ok"}
	if err := st.Update(ctx, s); err != nil {
		t.Fatalf("Update: %v", err)
	}
	got, err := st.Get(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	if got.Data["totp"] != "ok" {
		t.Fatalf("Data after Update = %v, want totp=ok", got.Data)
	}
}

func TestStore_Delete(t *testing.T) {
	ctx := context.Background()
	st, _ := newStore(t)
	tid, acc := commune(), account()
	token1, s1 := mustCreate(t, st, family(tid, acc))
	token2, s2 := mustCreate(t, st, family(tid, acc))

	if err := st.Delete(ctx, s1); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := st.Get(ctx, token1); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted session: err = %v, want ErrNotFound", err)
	}
	if _, err := st.Get(ctx, token2); err != nil {
		t.Errorf("other session of the account: %v, want it alive", err)
	}
	if st.rdb.SIsMember(ctx, indexKey(Family, tid, acc), s1.Hash).Val() {
		t.Error("deleted session still in the account's index")
	}
	list, err := st.List(ctx, Family, tid, acc)
	if err != nil {
		t.Fatal(err)
	}
	if got := hashes(list); !slices.Equal(got, []string{s2.Hash}) {
		t.Errorf("List = %v, want only %v", got, s2.Hash)
	}
}

func TestStore_List(t *testing.T) {
	ctx := context.Background()
	st, c := newStore(t)

	t.Run("Empty", func(t *testing.T) {
		list, err := st.List(ctx, Family, commune(), account())
		if err != nil || len(list) != 0 {
			t.Fatalf("List of an account without sessions = %v, %v; want none", list, err)
		}
	})

	t.Run("MostRecentFirst", func(t *testing.T) {
		start := c.now()
		defer c.set(start)
		tid, acc := commune(), account()
		token1, s1 := mustCreate(t, st, family(tid, acc))
		c.add(time.Minute)
		_, s2 := mustCreate(t, st, family(tid, acc))
		c.add(time.Minute)
		_, s3 := mustCreate(t, st, family(tid, acc))

		list, err := st.List(ctx, Family, tid, acc)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := hashes(list), []string{s3.Hash, s2.Hash, s1.Hash}; !slices.Equal(got, want) {
			t.Fatalf("List = %v, want newest login first %v", got, want)
		}

		// Using the oldest session makes it the most recent.
		c.add(time.Minute)
		if _, err := st.Get(ctx, token1); err != nil {
			t.Fatal(err)
		}
		list, err = st.List(ctx, Family, tid, acc)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := hashes(list), []string{s1.Hash, s3.Hash, s2.Hash}; !slices.Equal(got, want) {
			t.Fatalf("List after using the first = %v, want %v", got, want)
		}
		if list[0].Email != s1.Email || list[0].IP != s1.IP || list[0].UserAgent != s1.UserAgent {
			t.Errorf("List entry %+v lacks the session's details", list[0])
		}
	})

	t.Run("PrunesEnded", func(t *testing.T) {
		start := c.now()
		defer c.set(start)
		tid, acc := commune(), account()
		_, plain := mustCreate(t, st, family(tid, acc))
		remember := family(tid, acc)
		remember.Remember = true
		_, kept := mustCreate(t, st, remember)
		_, removed := mustCreate(t, st, remember)
		// A session whose Redis key is gone (its TTL ran out).
		st.rdb.Del(ctx, key(removed.Hash))

		c.add(FamilyIdle + time.Minute) // the plain session is dead
		list, err := st.List(ctx, Family, tid, acc)
		if err != nil {
			t.Fatal(err)
		}
		if got := hashes(list); !slices.Equal(got, []string{kept.Hash}) {
			t.Fatalf("List = %v, want only the live %v", got, kept.Hash)
		}
		members := st.rdb.SMembers(ctx, indexKey(Family, tid, acc)).Val()
		if slices.Contains(members, plain.Hash) || slices.Contains(members, removed.Hash) || !slices.Contains(members, kept.Hash) {
			t.Fatalf("index after List = %v, want only %v", members, kept.Hash)
		}
	})
}

func TestStore_DeleteAll(t *testing.T) {
	ctx := context.Background()
	st, _ := newStore(t)

	t.Run("KeepsOne", func(t *testing.T) {
		tid, acc := commune(), account()
		token1, _ := mustCreate(t, st, family(tid, acc))
		token2, s2 := mustCreate(t, st, family(tid, acc))
		token3, _ := mustCreate(t, st, family(tid, acc))
		otherToken, _ := mustCreate(t, st, family(tid, account()))

		if err := st.DeleteAll(ctx, Family, tid, acc, s2.Hash); err != nil {
			t.Fatalf("DeleteAll: %v", err)
		}
		for name, tok := range map[string]string{"first": token1, "third": token3} {
			if _, err := st.Get(ctx, tok); !errors.Is(err, ErrNotFound) {
				t.Errorf("%s session: err = %v, want ErrNotFound", name, err)
			}
		}
		if _, err := st.Get(ctx, token2); err != nil {
			t.Errorf("kept session: %v", err)
		}
		if _, err := st.Get(ctx, otherToken); err != nil {
			t.Errorf("session of another account: %v", err)
		}
		list, err := st.List(ctx, Family, tid, acc)
		if err != nil {
			t.Fatal(err)
		}
		if got := hashes(list); !slices.Equal(got, []string{s2.Hash}) {
			t.Errorf("List = %v, want only the kept %v", got, s2.Hash)
		}
	})

	t.Run("All", func(t *testing.T) {
		tid, acc := commune(), account()
		token1, _ := mustCreate(t, st, family(tid, acc))
		token2, _ := mustCreate(t, st, family(tid, acc))
		if err := st.DeleteAll(ctx, Family, tid, acc, ""); err != nil {
			t.Fatalf("DeleteAll: %v", err)
		}
		for _, tok := range []string{token1, token2} {
			if _, err := st.Get(ctx, tok); !errors.Is(err, ErrNotFound) {
				t.Errorf("err = %v, want ErrNotFound", err)
			}
		}
		if n := st.rdb.SCard(ctx, indexKey(Family, tid, acc)).Val(); n != 0 {
			t.Errorf("index keeps %d hashes, want 0", n)
		}
	})
}

// TestStore_TenantIsolation: the same account id in two communes (ids are
// per commune) and in two kinds names four different people.
func TestStore_TenantIsolation(t *testing.T) {
	ctx := context.Background()
	st, _ := newStore(t)
	a, b := commune(), commune()
	acc := account()
	tokenA, sa := mustCreate(t, st, family(a, acc))
	tokenB, sb := mustCreate(t, st, family(b, acc))
	tokenStaff, sStaff := mustCreate(t, st, Session{Kind: Staff, TenantID: a, AccountID: acc})

	t.Run("List", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			kind Kind
			tid  tenant.ID
			want string
		}{
			{"FamilyA", Family, a, sa.Hash},
			{"FamilyB", Family, b, sb.Hash},
			{"StaffA", Staff, a, sStaff.Hash},
		} {
			list, err := st.List(ctx, tc.kind, tc.tid, acc)
			if err != nil {
				t.Fatal(err)
			}
			if got := hashes(list); !slices.Equal(got, []string{tc.want}) {
				t.Errorf("%s: List = %v, want only %v", tc.name, got, tc.want)
			}
		}
	})

	t.Run("Get", func(t *testing.T) {
		for _, tc := range []struct {
			token string
			tid   tenant.ID
			kind  Kind
		}{{tokenA, a, Family}, {tokenB, b, Family}, {tokenStaff, a, Staff}} {
			s, err := st.Get(ctx, tc.token)
			if err != nil {
				t.Fatal(err)
			}
			if s.TenantID != tc.tid || s.Kind != tc.kind {
				t.Errorf("session of commune %d/%s read as commune %d/%s", tc.tid, tc.kind, s.TenantID, s.Kind)
			}
		}
	})

	t.Run("DeleteAll", func(t *testing.T) {
		if err := st.DeleteAll(ctx, Family, a, acc, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Get(ctx, tokenA); !errors.Is(err, ErrNotFound) {
			t.Errorf("A's family session: err = %v, want ErrNotFound", err)
		}
		if _, err := st.Get(ctx, tokenB); err != nil {
			t.Errorf("B's session with the same account id was ended by A's DeleteAll: %v", err)
		}
		if _, err := st.Get(ctx, tokenStaff); err != nil {
			t.Errorf("A's staff session with the same account id was ended by the family DeleteAll: %v", err)
		}
	})
}
