package billing_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/migrations/dbtest"
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

func mustSave(t *testing.T, db *sqlx.DB, tid tenant.ID, f billing.Family) billing.Family {
	t.Helper()
	var out billing.Family
	inTx(t, db, tid, func(tx *sqlx.Tx) error {
		var err error
		out, err = billing.SaveFamily(context.Background(), tx, tid, f)
		return err
	})
	return out
}

func mustByRef(t *testing.T, db *sqlx.DB, tid tenant.ID, ref string) billing.Family {
	t.Helper()
	var out billing.Family
	inTx(t, db, tid, func(tx *sqlx.Tx) error {
		var err error
		out, err = billing.FamilyByRef(context.Background(), tx, tid, ref)
		return err
	})
	return out
}

// emailCreatedAt returns when an address was added to a family.
func emailCreatedAt(t *testing.T, db *sqlx.DB, tid tenant.ID, family int64, email string) time.Time {
	t.Helper()
	var at time.Time
	inTx(t, db, tid, func(tx *sqlx.Tx) error {
		return tx.GetContext(context.Background(), &at,
			`SELECT created_at FROM family_emails WHERE tenant_id = $1 AND family_id = $2 AND email = $3`, tid, family, email)
	})
	return at
}

// sorted returns a sorted copy: addresses come back in the order they were
// stored, which is not the order of the list a save passed.
func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

func TestSaveFamily(t *testing.T) {
	ctx := context.Background()
	db := dbtest.DB(t)
	c := tenanttest.MustCreate(t, db, "savefamily")

	first := billing.Family{Ref: "F001", Name: "Dupont", Address: "1 rue de la Mairie", PostalCode: "44000", City: "Nantes",
		Emails: []string{"jean@exemple.fr", "marie@exemple.fr"}}
	created := mustSave(t, db, c.ID, first)

	t.Run("Create", func(t *testing.T) {
		if created.ID == 0 || created.TenantID != c.ID || created.Ref != "F001" || created.Name != "Dupont" ||
			created.Address != first.Address || created.PostalCode != "44000" || created.City != "Nantes" {
			t.Fatalf("SaveFamily = %+v, want the family of %+v in commune %d", created, first, c.ID)
		}
		if !slices.Equal(sorted(created.Emails), sorted(first.Emails)) {
			t.Errorf("returned Emails = %v, want %v", created.Emails, first.Emails)
		}
		got := mustByRef(t, db, c.ID, "F001")
		if got.ID != created.ID || !slices.Equal(sorted(got.Emails), sorted(first.Emails)) {
			t.Errorf("stored family = %+v, want id %d with %v", got, created.ID, first.Emails)
		}
	})

	t.Run("Unchanged", func(t *testing.T) {
		got := mustSave(t, db, c.ID, first)
		if got.ID != created.ID || got.Name != "Dupont" || got.Address != first.Address || got.Ref != "F001" {
			t.Fatalf("unchanged save = %+v, want the stored family %d", got, created.ID)
		}
		if !got.UpdatedAt.Equal(created.UpdatedAt) {
			t.Errorf("UpdatedAt moved from %v to %v on an unchanged save", created.UpdatedAt, got.UpdatedAt)
		}
		if !slices.Equal(sorted(got.Emails), sorted(first.Emails)) {
			t.Errorf("Emails = %v, want %v", got.Emails, first.Emails)
		}
	})

	t.Run("UpdateNameAndAddress", func(t *testing.T) {
		changed := first
		changed.Name, changed.Address, changed.PostalCode, changed.City = "Dupont-Martin", "2 place de l'Église", "44100", "Nantes Ouest"
		got := mustSave(t, db, c.ID, changed)
		if got.ID != created.ID {
			t.Fatalf("update made family %d, want the same %d", got.ID, created.ID)
		}
		stored := mustByRef(t, db, c.ID, "F001")
		if stored.Name != "Dupont-Martin" || stored.Address != "2 place de l'Église" || stored.PostalCode != "44100" || stored.City != "Nantes Ouest" {
			t.Errorf("stored after update = %+v, want the new name and address", stored)
		}
		if !stored.UpdatedAt.After(created.UpdatedAt) {
			t.Errorf("UpdatedAt %v, want after %v", stored.UpdatedAt, created.UpdatedAt)
		}
		if !stored.CreatedAt.Equal(created.CreatedAt) {
			t.Errorf("CreatedAt changed from %v to %v", created.CreatedAt, stored.CreatedAt)
		}
		if !slices.Equal(sorted(stored.Emails), sorted(first.Emails)) {
			t.Errorf("Emails = %v, want unchanged %v", stored.Emails, first.Emails)
		}
	})

	t.Run("ReplaceEmails", func(t *testing.T) {
		before := mustByRef(t, db, c.ID, "F001")
		keptSince := emailCreatedAt(t, db, c.ID, before.ID, "marie@exemple.fr")
		changed := before
		changed.Emails = []string{"marie@exemple.fr", "paul@exemple.fr"} // jean removed, paul added
		got := mustSave(t, db, c.ID, changed)
		if !slices.Equal(sorted(got.Emails), []string{"marie@exemple.fr", "paul@exemple.fr"}) {
			t.Errorf("returned Emails = %v", got.Emails)
		}
		stored := mustByRef(t, db, c.ID, "F001")
		if want := []string{"marie@exemple.fr", "paul@exemple.fr"}; !slices.Equal(sorted(stored.Emails), want) {
			t.Fatalf("stored Emails = %v, want %v", stored.Emails, want)
		}
		// marie was kept, not deleted and inserted again.
		if at := emailCreatedAt(t, db, c.ID, before.ID, "marie@exemple.fr"); !at.Equal(keptSince) {
			t.Errorf("kept address re-created: created_at %v, was %v", at, keptSince)
		}
		inTx(t, db, c.ID, func(tx *sqlx.Tx) error {
			known, err := billing.EmailKnown(ctx, tx, c.ID, "jean@exemple.fr")
			if known || err != nil {
				t.Errorf("removed jean@ still known: %v, %v", known, err)
			}
			return nil
		})
	})

	t.Run("RemoveAllEmails", func(t *testing.T) {
		f := billing.Family{Ref: "F-VIDE", Name: "Sans Adresse", Emails: []string{"vide@exemple.fr"}}
		mustSave(t, db, c.ID, f)
		f.Emails = nil
		got := mustSave(t, db, c.ID, f)
		if len(got.Emails) != 0 {
			t.Errorf("returned Emails = %v, want none", got.Emails)
		}
		if stored := mustByRef(t, db, c.ID, "F-VIDE"); len(stored.Emails) != 0 {
			t.Errorf("stored Emails = %v, want none", stored.Emails)
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		var saveErr error
		inTx(t, db, c.ID, func(tx *sqlx.Tx) error {
			_, saveErr = billing.SaveFamily(ctx, tx, c.ID, billing.Family{Ref: "F-BAD", Name: "Erreur", Emails: []string{"Pas Normalisée@x.fr"}})
			return nil
		})
		var ve *billing.ValidationError
		if !errors.As(saveErr, &ve) {
			t.Fatalf("err = %v, want *ValidationError", saveErr)
		}
		inTx(t, db, c.ID, func(tx *sqlx.Tx) error {
			if _, err := billing.FamilyByRef(ctx, tx, c.ID, "F-BAD"); !errors.Is(err, billing.ErrNotFound) {
				t.Errorf("invalid family stored: FamilyByRef err = %v, want ErrNotFound", err)
			}
			return nil
		})
	})

	t.Run("SameRefInTwoCommunes", func(t *testing.T) {
		other := tenanttest.MustCreate(t, db, "savefamily-other")
		o := mustSave(t, db, other.ID, billing.Family{Ref: "F001", Name: "Autre", Emails: []string{"autre@exemple.fr"}})
		if o.TenantID != other.ID || o.Name != "Autre" {
			t.Fatalf("other commune's F001 = %+v, want its own family", o)
		}
		if mine := mustByRef(t, db, c.ID, "F001"); mine.Name != "Dupont-Martin" || slices.Contains(mine.Emails, "autre@exemple.fr") {
			t.Fatalf("first commune's F001 became %+v after the other commune's save", mine)
		}
	})
}

func TestFamilyByID(t *testing.T) {
	ctx := context.Background()
	db := dbtest.DB(t)
	c := tenanttest.MustCreate(t, db, "familybyid")
	f := mustSave(t, db, c.ID, billing.Family{Ref: "ID1", Name: "Leroy", City: "Rennes", Emails: []string{"leroy@exemple.fr"}})

	t.Run("OK", func(t *testing.T) {
		inTx(t, db, c.ID, func(tx *sqlx.Tx) error {
			got, err := billing.FamilyByID(ctx, tx, c.ID, f.ID)
			if err != nil {
				return err
			}
			if got.Ref != "ID1" || got.Name != "Leroy" || got.City != "Rennes" || !slices.Equal(got.Emails, []string{"leroy@exemple.fr"}) {
				t.Errorf("FamilyByID = %+v, want %+v", got, f)
			}
			return nil
		})
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		inTx(t, db, c.ID, func(tx *sqlx.Tx) error {
			if _, err := billing.FamilyByID(ctx, tx, c.ID, f.ID+1_000_000); !errors.Is(err, billing.ErrNotFound) {
				t.Errorf("err = %v, want ErrNotFound", err)
			}
			return nil
		})
	})
}

func TestFamilyByRef(t *testing.T) {
	ctx := context.Background()
	db := dbtest.DB(t)
	c := tenanttest.MustCreate(t, db, "familybyref")
	f := mustSave(t, db, c.ID, billing.Family{Ref: "R1", Name: "Moreau", Emails: []string{"b@exemple.fr", "a@exemple.fr"}})

	t.Run("OK", func(t *testing.T) {
		got := mustByRef(t, db, c.ID, "R1")
		if got.ID != f.ID || got.Name != "Moreau" {
			t.Errorf("FamilyByRef = %+v, want %+v", got, f)
		}
		// Saved in one transaction: same time, so by address.
		if !slices.Equal(got.Emails, []string{"a@exemple.fr", "b@exemple.fr"}) {
			t.Errorf("Emails = %v, want [a@ b@]", got.Emails)
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		inTx(t, db, c.ID, func(tx *sqlx.Tx) error {
			for _, ref := range []string{"R2", "r1", ""} {
				if _, err := billing.FamilyByRef(ctx, tx, c.ID, ref); !errors.Is(err, billing.ErrNotFound) {
					t.Errorf("ref %q: err = %v, want ErrNotFound", ref, err)
				}
			}
			return nil
		})
	})
}

func TestFamiliesByEmail(t *testing.T) {
	ctx := context.Background()
	db := dbtest.DB(t)
	c := tenanttest.MustCreate(t, db, "byemail")
	// Saved out of name order, so the order comes from the query.
	zola := mustSave(t, db, c.ID, billing.Family{Ref: "Z", Name: "Zola", Emails: []string{"parent@exemple.fr", "zola@exemple.fr"}})
	adam := mustSave(t, db, c.ID, billing.Family{Ref: "A", Name: "Adam", Emails: []string{"parent@exemple.fr"}})
	mustSave(t, db, c.ID, billing.Family{Ref: "X", Name: "Martin", Emails: []string{"martin@exemple.fr"}})

	inTx(t, db, c.ID, func(tx *sqlx.Tx) error {
		t.Run("TwoFamilies", func(t *testing.T) {
			fs, err := billing.FamiliesByEmail(ctx, tx, c.ID, "parent@exemple.fr")
			if err != nil {
				t.Fatal(err)
			}
			var ids []int64
			for _, f := range fs {
				ids = append(ids, f.ID)
			}
			if !slices.Equal(ids, []int64{adam.ID, zola.ID}) {
				t.Fatalf("families = %v, want Adam (%d) then Zola (%d)", ids, adam.ID, zola.ID)
			}
			if !slices.Equal(fs[0].Emails, []string{"parent@exemple.fr"}) {
				t.Errorf("Adam's Emails = %v", fs[0].Emails)
			}
			if want := []string{"parent@exemple.fr", "zola@exemple.fr"}; !slices.Equal(sorted(fs[1].Emails), want) {
				t.Errorf("Zola's Emails = %v, want all of the family's %v", fs[1].Emails, want)
			}
		})

		t.Run("One", func(t *testing.T) {
			fs, err := billing.FamiliesByEmail(ctx, tx, c.ID, "zola@exemple.fr")
			if err != nil || len(fs) != 1 || fs[0].ID != zola.ID {
				t.Fatalf("FamiliesByEmail(zola@) = %+v, %v; want only Zola", fs, err)
			}
		})

		t.Run("None", func(t *testing.T) {
			fs, err := billing.FamiliesByEmail(ctx, tx, c.ID, "inconnu@exemple.fr")
			if err != nil || len(fs) != 0 {
				t.Fatalf("FamiliesByEmail(inconnu@) = %+v, %v; want none", fs, err)
			}
		})
		return nil
	})
}

func TestEmailKnown(t *testing.T) {
	ctx := context.Background()
	db := dbtest.DB(t)
	c := tenanttest.MustCreate(t, db, "emailknown")
	mustSave(t, db, c.ID, billing.Family{Ref: "K", Name: "Connu", Emails: []string{"connu@exemple.fr"}})

	inTx(t, db, c.ID, func(tx *sqlx.Tx) error {
		for addr, want := range map[string]bool{
			"connu@exemple.fr":   true,
			"inconnu@exemple.fr": false,
			"":                   false,
		} {
			got, err := billing.EmailKnown(ctx, tx, c.ID, addr)
			if err != nil || got != want {
				t.Errorf("EmailKnown(%q) = %v, %v; want %v", addr, got, err, want)
			}
		}
		return nil
	})
}

// TestFamilyIsolation: inside commune B's transaction nothing of commune A's
// families shows, whether B passes its own id (the WHERE clause) or A's (the
// row-level security policies).
func TestFamilyIsolation(t *testing.T) {
	ctx := context.Background()
	db := dbtest.DB(t)
	a := tenanttest.MustCreate(t, db, "fam-iso-a")
	b := tenanttest.MustCreate(t, db, "fam-iso-b")
	const addr = "secret@exemple.fr"
	fa := mustSave(t, db, a.ID, billing.Family{Ref: "ISO", Name: "Secret", Emails: []string{addr}})

	for _, tc := range []struct {
		name string
		tid  tenant.ID
	}{{"OwnID", b.ID}, {"OtherID", a.ID}} {
		t.Run(tc.name, func(t *testing.T) {
			inTx(t, db, b.ID, func(tx *sqlx.Tx) error {
				if got, err := billing.FamilyByID(ctx, tx, tc.tid, fa.ID); !errors.Is(err, billing.ErrNotFound) {
					t.Errorf("FamilyByID of A's family = %+v, %v; want ErrNotFound", got, err)
				}
				if got, err := billing.FamilyByRef(ctx, tx, tc.tid, "ISO"); !errors.Is(err, billing.ErrNotFound) {
					t.Errorf("FamilyByRef of A's family = %+v, %v; want ErrNotFound", got, err)
				}
				if known, err := billing.EmailKnown(ctx, tx, tc.tid, addr); known || err != nil {
					t.Errorf("EmailKnown of A's address = %v, %v; want false", known, err)
				}
				if fs, err := billing.FamiliesByEmail(ctx, tx, tc.tid, addr); len(fs) != 0 || err != nil {
					t.Errorf("FamiliesByEmail of A's address = %+v, %v; want none", fs, err)
				}
				return nil
			})
		})
	}

	t.Run("SaveWithOtherIDRefused", func(t *testing.T) {
		err := tenant.WithTx(ctx, db, b.ID, func(tx *sqlx.Tx) error {
			_, err := billing.SaveFamily(ctx, tx, a.ID, billing.Family{Ref: "ISO", Name: "Volé", Emails: []string{"voleur@exemple.fr"}})
			return err
		})
		if err == nil {
			t.Fatal("B's transaction saved a family of A")
		}
		got := mustByRef(t, db, a.ID, "ISO")
		if got.Name != "Secret" || !slices.Equal(got.Emails, []string{addr}) {
			t.Fatalf("A's family after B's attempt = %+v, want unchanged", got)
		}
	})
}
