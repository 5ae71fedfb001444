package billing_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/billing"
)

func TestMonthBounds(t *testing.T) {
	utc := func(y int, m time.Month, d, h int) time.Time { return time.Date(y, m, d, h, 0, 0, 0, time.UTC) }
	// 31 October 23:30 UTC is already November in Paris; summer time ends
	// in October and starts in March
	got := billing.MonthBounds(utc(2026, 10, 31, 23), 6)
	want := []time.Time{utc(2026, 10, 31, 23), utc(2026, 11, 30, 23), utc(2026, 12, 31, 23),
		utc(2027, 1, 31, 23), utc(2027, 2, 28, 23), utc(2027, 3, 31, 22), utc(2027, 4, 30, 22)}
	if len(got) != len(want) {
		t.Fatalf("%d bounds, want %d", len(got), len(want))
	}
	for i := range want {
		if !got[i].Equal(want[i]) {
			t.Errorf("bound %d = %s, want %s", i, got[i].UTC(), want[i])
		}
	}
}

func TestPublishedByMonth(t *testing.T) {
	f := newFixture(t, "stats")
	other := newFixture(t, "statsb")
	jobs := jobsClient(t, f.db)
	ctx := context.Background()
	f.mustPublish(t, jobs, f.mustImport(t, csvFile(meal("F1", "Dupont"), meal("F2", "Martin"), meal("F3", "Roux"))).BatchID)
	other.mustPublish(t, jobs, other.mustImport(t, csvFile(meal("F9", "Ailleurs"))).BatchID)
	// a draft (never published) and a cancelled invoice count for nothing
	f.mustImport(t, csvFile(meal("F4", "Brouillon").with(func(r *csvRow) { r.Periode = "2026-11" })))
	roux := f.invoiceOf(t, "F3", f.rs, "2026-10")
	f.inTx(t, func(tx *sqlx.Tx) error {
		_, err := billing.CancelInvoice(ctx, tx, f.tid, roux.Ref(), "erreur", publishedAt)
		return err
	})

	by := func(first time.Time, n int) []billing.MonthTotal {
		var out []billing.MonthTotal
		f.inTx(t, func(tx *sqlx.Tx) error {
			var err error
			out, err = billing.PublishedByMonth(ctx, tx, f.tid, billing.MonthBounds(first, n))
			return err
		})
		return out
	}
	t.Run("ParisMonth", func(t *testing.T) {
		// published 31 October 23:30 UTC: November in Paris, month 1 of
		// October–November
		got := by(date(2026, 10, 1), 2)
		if want := []billing.MonthTotal{{Month: 1, Count: 2, Cents: 7500}}; !slices.Equal(got, want) {
			t.Errorf("October–November: %+v, want %+v", got, want)
		}
	})
	t.Run("OutsideTheWindow", func(t *testing.T) {
		if got := by(date(2026, 10, 1), 1); len(got) != 0 {
			t.Errorf("October alone: %+v, want nothing", got)
		}
		if got := by(date(2026, 12, 1), 3); len(got) != 0 {
			t.Errorf("December to February: %+v, want nothing", got)
		}
	})
	t.Run("OtherCommune", func(t *testing.T) {
		var got []billing.MonthTotal
		other.inTx(t, func(tx *sqlx.Tx) error {
			var err error
			got, err = billing.PublishedByMonth(ctx, tx, other.tid, billing.MonthBounds(date(2026, 11, 1), 1))
			return err
		})
		if want := []billing.MonthTotal{{Month: 0, Count: 1, Cents: 3750}}; !slices.Equal(got, want) {
			t.Errorf("commune B: %+v, want %+v", got, want)
		}
	})
}

func TestReceivablesOn(t *testing.T) {
	f := newFixture(t, "owed")
	other := newFixture(t, "owedb")
	jobs := jobsClient(t, f.db)
	ctx := context.Background()
	// three invoices of 37,50 € due 15/11/2026; the third one two weeks later
	late := meal("F3", "Roux").with(func(r *csvRow) { r.Echeance = "29/11/2026" })
	f.mustPublish(t, jobs, f.mustImport(t, csvFile(meal("F1", "Dupont"), meal("F2", "Martin"), late)).BatchID)
	other.mustPublish(t, jobs, other.mustImport(t, csvFile(meal("F9", "Ailleurs"))).BatchID)
	dupont := f.invoiceOf(t, "F1", f.rs, "2026-10")
	f.inTx(t, func(tx *sqlx.Tx) error {
		_, err := billing.MarkPaid(ctx, tx, f.tid, dupont.ID, publishedAt, false)
		return err
	})
	on := func(day time.Time) billing.Receivables {
		var r billing.Receivables
		f.inTx(t, func(tx *sqlx.Tx) error {
			var err error
			r, err = billing.ReceivablesOn(ctx, tx, f.tid, day)
			return err
		})
		return r
	}
	for _, c := range []struct {
		day  time.Time
		want billing.Receivables
	}{
		{date(2026, 11, 15), billing.Receivables{UnpaidCount: 2, UnpaidCents: 7500}},
		{date(2026, 11, 16), billing.Receivables{UnpaidCount: 2, UnpaidCents: 7500, OverdueCount: 1, OverdueCents: 3750}},
		{date(2026, 12, 1), billing.Receivables{UnpaidCount: 2, UnpaidCents: 7500, OverdueCount: 2, OverdueCents: 7500}},
	} {
		if got := on(c.day); got != c.want {
			t.Errorf("on %s: %+v, want %+v", c.day.Format(time.DateOnly), got, c.want)
		}
	}
	// Today gives Paris' date: 15 November 23:30 UTC is already the 16th
	if got := on(billing.Today(time.Date(2026, 11, 15, 23, 30, 0, 0, time.UTC))); got.OverdueCount != 1 {
		t.Errorf("at 00:30 in Paris on the 16th: %d overdue, want 1", got.OverdueCount)
	}
}
