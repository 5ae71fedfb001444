package billing_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/migrations/dbtest"
	"github.com/regie/regie/tenant"
	"github.com/regie/regie/tenant/tenanttest"
)

func TestUpdateSeries(t *testing.T) {
	ctx := context.Background()
	db := dbtest.DB(t)
	a := tenanttest.MustCreate(t, db, "upseries-a")
	b := tenanttest.MustCreate(t, db, "upseries-b")
	var rs billing.Series
	inTx(t, db, a.ID, func(tx *sqlx.Tx) error {
		var err error
		rs, err = billing.CreateSeries(ctx, tx, a.ID, billing.Series{Code: "RS", Label: "Restauration scolaire", Pattern: rsPattern, NextNumber: rsNext})
		return err
	})
	update := func(tid tenant.ID, ch billing.SeriesChange) (before, after billing.Series, err error) {
		err = tenant.WithTx(ctx, db, tid, func(tx *sqlx.Tx) error {
			var err error
			before, after, err = billing.UpdateSeries(ctx, tx, tid, rs.ID, ch)
			return err
		})
		return before, after, err
	}

	t.Run("OK", func(t *testing.T) {
		before, after, err := update(a.ID, billing.SeriesChange{Label: " Cantine ", Pattern: "RS-{exer}-{numero:8}", Numcli: ptr("001965"), NextNumber: rsNext + 10})
		if err != nil {
			t.Fatal(err)
		}
		if before.Label != "Restauration scolaire" || before.NextNumber != rsNext || before.Numcli != nil {
			t.Fatalf("before = %+v, want the series as created", before)
		}
		if after.Code != "RS" || after.Label != "Cantine" || after.Pattern != "RS-{exer}-{numero:8}" || deref(after.Numcli) != "001965" ||
			after.NextNumber != rsNext+10 || !after.UpdatedAt.After(before.UpdatedAt) {
			t.Fatalf("after = %+v", after)
		}
		// the same number again is fine, and the numcli can go back to the commune's
		if _, after, err = update(a.ID, billing.SeriesChange{Label: "Cantine", Pattern: rsPattern, NextNumber: rsNext + 10}); err != nil || after.Numcli != nil {
			t.Fatalf("same number, no numcli: %+v, %v", after, err)
		}
	})
	t.Run("NextNeverGoesBack", func(t *testing.T) {
		_, _, err := update(a.ID, billing.SeriesChange{Label: "Cantine", Pattern: rsPattern, NextNumber: rsNext + 9})
		var ve *billing.ValidationError
		if !errors.As(err, &ve) || ve.Field != "next" {
			t.Fatalf("next number going back: %v, want a ValidationError on next", err)
		}
		got := seriesNext(t, db, a.ID, rs.ID)
		if got != rsNext+10 {
			t.Fatalf("next number is %d after a refused change, want %d", got, rsNext+10)
		}
	})
	t.Run("Invalid", func(t *testing.T) {
		for name, ch := range map[string]billing.SeriesChange{
			"pattern": {Label: "Cantine", Pattern: "{annee}-{numero}", NextNumber: rsNext + 10},
			"label":   {Label: "  ", Pattern: rsPattern, NextNumber: rsNext + 10},
			"numcli":  {Label: "Cantine", Pattern: rsPattern, Numcli: ptr("12"), NextNumber: rsNext + 10},
			"next":    {Label: "Cantine", Pattern: rsPattern, NextNumber: 0},
		} {
			_, _, err := update(a.ID, ch)
			var ve *billing.ValidationError
			if !errors.As(err, &ve) || ve.Field != name {
				t.Errorf("bad %s: %v, want a ValidationError on %s", name, err, name)
			}
		}
	})
	t.Run("OtherCommune", func(t *testing.T) {
		_, _, err := update(b.ID, billing.SeriesChange{Label: "Pris", Pattern: rsPattern, NextNumber: rsNext + 100})
		if !errors.Is(err, billing.ErrNotFound) {
			t.Fatalf("B updating A's series: %v, want ErrNotFound", err)
		}
		if got := seriesNext(t, db, a.ID, rs.ID); got != rsNext+10 {
			t.Fatalf("A's series moved to %d", got)
		}
	})
}

func seriesNext(t *testing.T, db *sqlx.DB, tid tenant.ID, id int64) int64 {
	t.Helper()
	var s billing.Series
	inTx(t, db, tid, func(tx *sqlx.Tx) error {
		var err error
		s, err = billing.SeriesByID(context.Background(), tx, tid, id)
		return err
	})
	return s.NextNumber
}
