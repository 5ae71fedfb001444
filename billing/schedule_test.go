package billing_test

import (
	"context"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/billing/billingtest"
	"github.com/regie/regie/tenant"
)

func TestPublishDueWorker(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "sched")
	other := newFixture(t, "schedb")
	suspended := newFixture(t, "schedc")
	at := time.Date(2026, 11, 2, 7, 0, 0, 0, time.UTC) // 8:00 in Paris

	due := f.mustImport(t, csvFile(meal("F1", "Dupont"), meal("F2", "Martin")))
	later := other.mustImport(t, csvFile(meal("F1", "Aubert")))
	asleep := suspended.mustImport(t, csvFile(meal("F1", "Roux")))
	// (numbered by the commune: CancelBatch cannot cancel drafts without a reference)
	cancelled := f.mustImport(t, csvFile(meal("F3", "Blanc").with(func(r *csvRow) { r.Periode, r.Reference = "2026-09", "BLANC-2026-09" })))
	schedule := func(fx fixture, batch int64, when time.Time) {
		t.Helper()
		fx.inTx(t, func(tx *sqlx.Tx) error { return billing.ScheduleBatch(ctx, tx, fx.tid, batch, when) })
	}
	schedule(f, due.BatchID, at)
	schedule(other, later.BatchID, at.Add(time.Hour))
	schedule(suspended, asleep.BatchID, at)
	schedule(f, cancelled.BatchID, at)
	f.inTx(t, func(tx *sqlx.Tx) error {
		_, _, err := billing.CancelBatch(ctx, tx, f.tid, cancelled.BatchID, "erreur de tarif", at)
		return err
	})
	if err := tenant.NewStore(f.db).SetStatus(ctx, suspended.tid, tenant.StatusSuspended); err != nil {
		t.Fatal(err)
	}

	work := func(now time.Time) {
		t.Helper()
		billingtest.WorkPublishDue(t, f.db, now)
	}
	status := func(fx fixture, batch int64) billing.Batch {
		t.Helper()
		var b billing.Batch
		fx.inTx(t, func(tx *sqlx.Tx) error {
			var err error
			b, err = billing.BatchByID(ctx, tx, fx.tid, batch)
			return err
		})
		return b
	}

	t.Run("NotYet", func(t *testing.T) {
		work(at.Add(-time.Second))
		if b := status(f, due.BatchID); b.Status != billing.BatchImported {
			t.Fatalf("batch %s a second before its time", b.Status)
		}
	})
	t.Run("AtItsTime", func(t *testing.T) {
		work(at)
		b := status(f, due.BatchID)
		if b.Status != billing.BatchPublished || b.PublishedAt == nil || !b.PublishedAt.Equal(at) {
			t.Fatalf("batch %+v, want published at %v", b, at)
		}
		if n := publishedJobs(t, f.db, f.tid, due.BatchID); n != 1 {
			t.Fatalf("%d notification jobs, want 1", n)
		}
		for _, inv := range f.invoices(t) {
			if inv.BatchID == due.BatchID && (inv.Status != billing.Published || inv.Ref() == "") {
				t.Errorf("invoice %d: %s %q, want published and numbered", inv.ID, inv.Status, inv.Ref())
			}
		}
		if b := status(other, later.BatchID); b.Status != billing.BatchImported {
			t.Errorf("the other commune's batch due an hour later is %s", b.Status)
		}
		if b := status(suspended, asleep.BatchID); b.Status != billing.BatchImported {
			t.Errorf("a suspended commune's batch is %s", b.Status)
		}
		if b := status(f, cancelled.BatchID); b.Status != billing.BatchCancelled {
			t.Errorf("a cancelled batch is %s", b.Status)
		}
	})
	t.Run("Once", func(t *testing.T) {
		work(at.Add(time.Minute))
		if n := publishedJobs(t, f.db, f.tid, due.BatchID); n != 1 {
			t.Fatalf("%d notification jobs after a second run, want 1", n)
		}
	})
	t.Run("Later", func(t *testing.T) {
		work(at.Add(time.Hour))
		if b := status(other, later.BatchID); b.Status != billing.BatchPublished {
			t.Fatalf("the other commune's batch is %s at its time", b.Status)
		}
		if b := status(suspended, asleep.BatchID); b.Status != billing.BatchImported {
			t.Errorf("a suspended commune's batch is %s", b.Status)
		}
	})
	t.Run("ScheduleErrors", func(t *testing.T) {
		err := tenant.WithTx(ctx, f.db, f.tid, func(tx *sqlx.Tx) error {
			return billing.ScheduleBatch(ctx, tx, f.tid, due.BatchID, at)
		})
		if err != billing.ErrBatchState {
			t.Errorf("ScheduleBatch(published) = %v, want ErrBatchState", err)
		}
		err = tenant.WithTx(ctx, f.db, f.tid, func(tx *sqlx.Tx) error {
			return billing.ScheduleBatch(ctx, tx, f.tid, later.BatchID, at)
		})
		if err != billing.ErrNotFound {
			t.Errorf("ScheduleBatch(other commune's batch) = %v, want ErrNotFound", err)
		}
	})
}
