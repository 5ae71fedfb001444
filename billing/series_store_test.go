package billing_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/migrations/dbtest"
	"github.com/regie/regie/tenant"
	"github.com/regie/regie/tenant/tenanttest"
)

func TestCreateSeries(t *testing.T) {
	ctx := context.Background()
	db := dbtest.DB(t)
	c := tenanttest.MustCreate(t, db, "createseries")

	t.Run("OK", func(t *testing.T) {
		var got billing.Series
		inTx(t, db, c.ID, func(tx *sqlx.Tx) error {
			var err error
			got, err = billing.CreateSeries(ctx, tx, c.ID, billing.Series{Code: "RS", Label: "Restauration scolaire", Pattern: rsPattern, NextNumber: rsNext, Numcli: ptr("001965")})
			return err
		})
		if got.ID == 0 || got.TenantID != c.ID || got.Code != "RS" || got.Label != "Restauration scolaire" || got.Pattern != rsPattern ||
			got.NextNumber != rsNext || deref(got.Numcli) != "001965" || got.CreatedAt.IsZero() {
			t.Fatalf("CreateSeries = %+v, want the RS series from %d with numcli 001965", got, rsNext)
		}
	})

	t.Run("NextDefaultsTo1", func(t *testing.T) {
		var got billing.Series
		inTx(t, db, c.ID, func(tx *sqlx.Tx) error {
			var err error
			got, err = billing.CreateSeries(ctx, tx, c.ID, billing.Series{Code: "GA", Label: "Garderie", Pattern: gaPattern})
			return err
		})
		if got.NextNumber != 1 || got.Numcli != nil {
			t.Fatalf("CreateSeries without next = %+v, want next 1 and no numcli", got)
		}
	})

	t.Run("ErrConflict", func(t *testing.T) {
		err := tenant.WithTx(ctx, db, c.ID, func(tx *sqlx.Tx) error {
			_, err := billing.CreateSeries(ctx, tx, c.ID, billing.Series{Code: "RS", Label: "Encore", Pattern: "X{exer}-{numero:6}"})
			return err
		})
		if !errors.Is(err, billing.ErrConflict) {
			t.Fatalf("second RS: err = %v, want ErrConflict", err)
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		err := tenant.WithTx(ctx, db, c.ID, func(tx *sqlx.Tx) error {
			_, err := billing.CreateSeries(ctx, tx, c.ID, billing.Series{Code: "PS", Label: "Périscolaire", Pattern: "{exer}-{annee}-{numero}"})
			return err
		})
		var ve *billing.ValidationError
		if !errors.As(err, &ve) || ve.Field != "pattern" {
			t.Fatalf("bad pattern: err = %v, want a *ValidationError on pattern", err)
		}
		inTx(t, db, c.ID, func(tx *sqlx.Tx) error {
			if s, err := billing.SeriesByCode(ctx, tx, c.ID, "PS"); !errors.Is(err, billing.ErrNotFound) {
				t.Errorf("invalid series stored: %+v, %v", s, err)
			}
			return nil
		})
	})

	t.Run("SameCodeInAnotherCommune", func(t *testing.T) {
		other := tenanttest.MustCreate(t, db, "createseries-other")
		inTx(t, db, other.ID, func(tx *sqlx.Tx) error {
			s, err := billing.CreateSeries(ctx, tx, other.ID, billing.Series{Code: "RS", Label: "Cantine", Pattern: "C{exer}-{numero:6}"})
			if err != nil {
				return err
			}
			if s.TenantID != other.ID || s.NextNumber != 1 {
				t.Errorf("other commune's RS = %+v", s)
			}
			return nil
		})
	})
}

func TestSeriesByCode(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "seriesbycode")
	f.inTx(t, func(tx *sqlx.Tx) error {
		t.Run("OK", func(t *testing.T) {
			got, err := billing.SeriesByCode(ctx, tx, f.tid, "RS")
			if err != nil || got.ID != f.rs.ID || got.Pattern != rsPattern || got.NextNumber != rsNext {
				t.Errorf("SeriesByCode(RS) = %+v, %v; want %+v", got, err, f.rs)
			}
		})
		t.Run("ErrNotFound", func(t *testing.T) {
			for _, code := range []string{"XX", "rs", ""} {
				got, err := billing.SeriesByCode(ctx, tx, f.tid, code)
				mustNotFound(t, "SeriesByCode("+code+")", got, err)
			}
		})
		return nil
	})
}

func TestListSeries(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "listseries") // creates RS, then GA
	other := newFixture(t, "listseries-other")
	f.inTx(t, func(tx *sqlx.Tx) error {
		ss, err := billing.ListSeries(ctx, tx, f.tid)
		if err != nil {
			return err
		}
		var ids []int64
		for _, s := range ss {
			ids = append(ids, s.ID)
		}
		if want := []int64{f.ga.ID, f.rs.ID}; !slices.Equal(ids, want) {
			t.Errorf("ListSeries = %v, want GA then RS %v (and none of commune %d: %d, %d)", ids, want, other.tid, other.ga.ID, other.rs.ID)
		}
		return nil
	})
	t.Run("Empty", func(t *testing.T) {
		c := tenanttest.MustCreate(t, f.db, "listseries-empty")
		inTx(t, f.db, c.ID, func(tx *sqlx.Tx) error {
			ss, err := billing.ListSeries(ctx, tx, c.ID)
			if err != nil || len(ss) != 0 {
				t.Errorf("ListSeries of a commune without series = %+v, %v", ss, err)
			}
			return nil
		})
	})
}

func TestReserveNumbers(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "reserve")

	reserve := func(t *testing.T, n int) int64 {
		t.Helper()
		var first int64
		f.inTx(t, func(tx *sqlx.Tx) error {
			var err error
			first, err = billing.ReserveNumbers(ctx, tx, f.tid, f.rs.ID, n)
			return err
		})
		return first
	}

	t.Run("OK", func(t *testing.T) {
		if got := reserve(t, 3); got != rsNext {
			t.Fatalf("first of 3 = %d, want %d", got, rsNext)
		}
		if got := reserve(t, 1); got != rsNext+3 {
			t.Fatalf("next first = %d, want %d", got, rsNext+3)
		}
		if got := f.series(t, "RS").NextNumber; got != rsNext+4 {
			t.Fatalf("next_number = %d, want %d", got, rsNext+4)
		}
	})

	t.Run("RollbackGivesNumbersBack", func(t *testing.T) {
		before := f.series(t, "RS").NextNumber
		abandon := errors.New("abandon")
		err := tenant.WithTx(ctx, f.db, f.tid, func(tx *sqlx.Tx) error {
			if _, err := billing.ReserveNumbers(ctx, tx, f.tid, f.rs.ID, 10); err != nil {
				return err
			}
			return abandon
		})
		if !errors.Is(err, abandon) {
			t.Fatalf("WithTx = %v, want the callback's error", err)
		}
		if got := reserve(t, 1); got != before {
			t.Fatalf("after a rollback the next number is %d, want %d again", got, before)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		const workers, each = 8, 5
		start := f.series(t, "RS").NextNumber
		var (
			mu     sync.Mutex
			firsts []int64
			wg     sync.WaitGroup
			errs   = make(chan error, workers)
			ready  = make(chan struct{})
		)
		for range workers {
			wg.Go(func() {
				<-ready
				errs <- tenant.WithTx(ctx, f.db, f.tid, func(tx *sqlx.Tx) error {
					first, err := billing.ReserveNumbers(ctx, tx, f.tid, f.rs.ID, each)
					mu.Lock()
					firsts = append(firsts, first)
					mu.Unlock()
					return err
				})
			})
		}
		close(ready)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("concurrent reservation: %v", err)
			}
		}
		slices.Sort(firsts)
		for i, first := range firsts {
			if want := start + int64(i*each); first != want {
				t.Fatalf("first numbers = %v, want %d, %d, … every %d", firsts, start, start+each, each)
			}
		}
		if got := f.series(t, "RS").NextNumber; got != start+workers*each {
			t.Fatalf("next_number = %d, want %d", got, start+workers*each)
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		other := newFixture(t, "reserve-other")
		err := tenant.WithTx(ctx, f.db, f.tid, func(tx *sqlx.Tx) error {
			_, err := billing.ReserveNumbers(ctx, tx, f.tid, other.rs.ID, 1)
			return err
		})
		if !errors.Is(err, billing.ErrNotFound) {
			t.Fatalf("reserving another commune's series: err = %v, want ErrNotFound", err)
		}
		if got := other.series(t, "RS").NextNumber; got != rsNext {
			t.Fatalf("other commune's next_number = %d, want %d unchanged", got, rsNext)
		}
	})
}
