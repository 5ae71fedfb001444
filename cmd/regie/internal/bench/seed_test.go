package bench

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"
	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/migrations/dbtest"
	"github.com/regie/regie/tenant"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func TestShapeFor(t *testing.T) {
	for _, p := range Profiles {
		s := ShapeFor(p)
		got := s.Invoices()
		if got < p.Invoices || got > p.Invoices+p.Invoices/100 {
			t.Errorf("profile %s: A = %d gives %d invoices, want %d to 1%% more", p.Name, s.A, got, p.Invoices)
		}
		if s.Families(p.Communes) < 1 {
			t.Errorf("profile %s: the smallest commune has no family", p.Name)
		}
	}
}

// The families the load draws are invoiced in two series three times in
// ten on every profile, so that the profiles' pages are alike.
func TestPickUsers_TwoSeries(t *testing.T) {
	for _, p := range Profiles {
		s := ShapeFor(p)
		users := PickUsers(s, &url.URL{Host: "localhost:8080"}, 400, 1)
		two := 0
		for _, u := range users {
			var r, k int
			if _, err := fmt.Sscanf(u.Base.Host, "commune-%d.", &r); err != nil {
				t.Fatal(err)
			}
			if _, err := fmt.Sscanf(u.Email, "f%d@", &k); err != nil {
				t.Fatal(err)
			}
			if TwoSeries(r, k) {
				two++
			}
		}
		if share := float64(two) / float64(len(users)); share < 0.25 || share > 0.35 {
			t.Errorf("profile %s: %d of %d families drawn have two series, want about 30 %%", p.Name, two, len(users))
		}
	}
}

func TestSeed(t *testing.T) {
	ctx := context.Background()
	db := sqlx.MustOpen("postgres", dbtest.NewDatabase(t))
	defer db.Close()
	p := Profile{Name: "tiny", Communes: 3, Invoices: 1_000}
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	res, err := Seed(ctx, db, p, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	count := func(q string, args ...any) int {
		t.Helper()
		var n int
		if err := db.GetContext(ctx, &n, q, args...); err != nil {
			t.Fatal(err)
		}
		return n
	}

	t.Run("Counts", func(t *testing.T) {
		if want := res.Shape.Invoices(); res.Rows["invoices"] != want || count(`SELECT count(DISTINCT id) FROM invoices`) != want {
			t.Errorf("%d invoices written, %d distinct ids; want %d", res.Rows["invoices"], count(`SELECT count(DISTINCT id) FROM invoices`), want)
		}
		if n := count(`SELECT count(*) FROM tenants`); n != 3 {
			t.Errorf("%d communes, want 3", n)
		}
		if n := count(`SELECT count(*) FROM invoices i LEFT JOIN invoice_lines l ON l.tenant_id = i.tenant_id AND l.invoice_id = i.id WHERE l.invoice_id IS NULL`); n != 0 {
			t.Errorf("%d invoices without lines", n)
		}
		if n := count(`SELECT count(*) FROM invoices i WHERE total_cents <> (SELECT sum(total_cents) FROM invoice_lines l WHERE l.tenant_id = i.tenant_id AND l.invoice_id = i.id)`); n != 0 {
			t.Errorf("%d invoices whose total is not the sum of their lines", n)
		}
		if n := count(`SELECT count(*) FROM invoices i WHERE (status = 'paid') <> EXISTS (SELECT 1 FROM payments p WHERE p.tenant_id = i.tenant_id AND p.invoice_id = i.id AND p.applied)`); n != 0 {
			t.Errorf("%d invoices whose status disagrees with their payments", n)
		}
		if n := count(`SELECT count(DISTINCT period) FROM invoices`); n != Months {
			t.Errorf("%d months invoiced, want %d", n, Months)
		}
		if n := count(`SELECT count(*) FROM series WHERE next_number <> 1 + (SELECT count(*) FROM invoices i WHERE i.tenant_id = series.tenant_id AND i.series_id = series.id)`); n != 0 {
			t.Errorf("%d series whose next number does not follow their invoices", n)
		}
	})

	t.Run("FamiliesSeeTheirOwnInvoices", func(t *testing.T) {
		second := tenant.ID(res.FirstTenant + 1)
		// in the commune of rank 2, family 1 is invoiced in one series
		// ((2 + 1) % 10 = 3) and family 8 in two ((2 + 8) % 10 = 0)
		for _, f := range []struct{ k, want int }{{1, Months}, {8, 2 * Months}} {
			err := tenant.WithTx(ctx, db, second, func(tx *sqlx.Tx) error {
				list, err := billing.AccountInvoices(ctx, tx, second, Email(f.k), time.Now())
				if err != nil {
					return err
				}
				if len(list) != f.want {
					t.Errorf("family %d of the second commune sees %d invoices, want %d", f.k, len(list), f.want)
				}
				for _, i := range list {
					if i.TenantID != second {
						t.Errorf("invoice %d of commune %d listed in commune %d", i.ID, i.TenantID, second)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	})

	t.Run("Accounts", func(t *testing.T) {
		var hash string
		if err := db.GetContext(ctx, &hash, `SELECT password_hash FROM family_accounts WHERE tenant_id = $1 AND email = $2`, res.FirstTenant, Email(1)); err != nil {
			t.Fatal(err)
		}
		if ok, err := argon2id.ComparePasswordAndHash(Password, hash); !ok || err != nil {
			t.Errorf("the seeded hash does not verify Password: %v %v", ok, err)
		}
	})

	t.Run("SequencesGoOn", func(t *testing.T) {
		created, err := tenant.NewStore(db).Create(ctx, tenant.Tenant{Slug: "after-seed", Name: "Mairie d'Après", Numcli: "001964"})
		if err != nil {
			t.Fatal(err)
		}
		if created.ID <= tenant.ID(res.FirstTenant+2) {
			t.Errorf("a commune created after the seed got id %d, taken by the seed", created.ID)
		}
	})

	t.Run("RefusesASeededDatabase", func(t *testing.T) {
		if _, err := Seed(ctx, db, p, now, nil); err == nil {
			t.Error("a second seed of the same database succeeded")
		}
	})
}
