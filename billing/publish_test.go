package billing_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/tenant"
)

// errAbandon is what a test returns from a transaction to roll it back.
var errAbandon = errors.New("abandon")

func TestPublish(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "publish")
	jobs := jobsClient(t, f.db)

	t.Run("ErrNotFound", func(t *testing.T) {
		n, err := f.publish(t, jobs, 1, publishedAt)
		mustNotFound(t, "Publish(unknown batch)", n, err)
	})

	res := f.mustImport(t, csvFile(
		meal("F1", "Dupont"),
		meal("F2", "Martin"),
		meal("F0", "Aubert"),
		meal("F1", "Dupont").with(func(r *csvRow) { r.Serie, r.Libelle = "GA", "Garderie" }),
		meal("F1", "Dupont").with(func(r *csvRow) { r.Periode, r.Echeance = "12/2025", "15/01/2026" }),
	))

	t.Run("OK", func(t *testing.T) {
		n, err := f.publish(t, jobs, res.BatchID, publishedAt)
		if err != nil || n != 5 {
			t.Fatalf("Publish = %d, %v; want 5 invoices", n, err)
		}
		// By series, then period, then family name.
		for _, tc := range []struct {
			fam    string
			s      billing.Series
			period string
			number int64
			ref    string
		}{
			{"F1", f.rs, "2025-12", 8001516, "2025-RS-00-8001516"},
			{"F0", f.rs, "2026-10", 8001517, "2026-RS-00-8001517"},
			{"F1", f.rs, "2026-10", 8001518, "2026-RS-00-8001518"},
			{"F2", f.rs, "2026-10", 8001519, "2026-RS-00-8001519"},
			{"F1", f.ga, "2026-10", 1, "GA202610-0001"},
		} {
			inv := f.invoiceOf(t, tc.fam, tc.s, tc.period)
			refdet, _ := billing.Refdet(tc.ref)
			if inv.Status != billing.Published || deref(inv.Number) != fmt.Sprint(tc.number) || inv.Ref() != tc.ref || inv.RefdetOrEmpty() != refdet || inv.OwnReference {
				t.Errorf("%s %s %s: status %s, number %s, reference %q, refdet %q; want published %d %s %s",
					tc.fam, tc.s.Code, tc.period, inv.Status, deref(inv.Number), inv.Ref(), inv.RefdetOrEmpty(), tc.number, tc.ref, refdet)
			}
			// 23:30 UTC on 31 October is 1 November in Paris.
			if inv.IssueDate == nil || !inv.IssueDate.Equal(date(2026, 11, 1)) || inv.PublishedAt == nil || !inv.PublishedAt.Equal(publishedAt) {
				t.Errorf("%s %s %s: issue date %v, published at %v; want 2026-11-01 and %v", tc.fam, tc.s.Code, tc.period, inv.IssueDate, inv.PublishedAt, publishedAt)
			}
		}
		if rs, ga := f.series(t, "RS").NextNumber, f.series(t, "GA").NextNumber; rs != rsNext+4 || ga != 2 {
			t.Errorf("next numbers RS %d, GA %d; want %d and 2", rs, ga, rsNext+4)
		}
		var b struct {
			Status      string     `db:"status"`
			PublishedAt *time.Time `db:"published_at"`
		}
		f.inTx(t, func(tx *sqlx.Tx) error {
			return tx.Get(&b, `SELECT status, published_at FROM import_batches WHERE tenant_id = $1 AND id = $2`, f.tid, res.BatchID)
		})
		if b.Status != "published" || b.PublishedAt == nil || !b.PublishedAt.Equal(publishedAt) {
			t.Errorf("batch = %+v, want published at %v", b, publishedAt)
		}
		if n := publishedJobs(t, f.db, f.tid, res.BatchID); n != 1 {
			t.Errorf("%d billing.invoices_published jobs for the batch, want 1", n)
		}
	})

	t.Run("ErrBatchState", func(t *testing.T) {
		n, err := f.publish(t, jobs, res.BatchID, publishedAt.Add(time.Hour))
		if !errors.Is(err, billing.ErrBatchState) || n != 0 {
			t.Fatalf("second Publish = %d, %v; want ErrBatchState", n, err)
		}
		if got := f.series(t, "RS").NextNumber; got != rsNext+4 {
			t.Errorf("RS next_number = %d after a refused publication, want %d", got, rsNext+4)
		}
		if n := publishedJobs(t, f.db, f.tid, res.BatchID); n != 1 {
			t.Errorf("%d jobs, want still 1", n)
		}
	})

	t.Run("NextBatchContinues", func(t *testing.T) {
		next := f.mustImport(t, csvFile(meal("F3", "Roux").with(func(r *csvRow) { r.Periode = "2026-11" })))
		f.mustPublish(t, jobs, next.BatchID)
		if got := f.invoiceOf(t, "F3", f.rs, "2026-11").Ref(); got != "2026-RS-00-8001520" {
			t.Errorf("next batch's reference = %q, want 2026-RS-00-8001520", got)
		}
	})

	t.Run("RollbackGivesNumbersBack", func(t *testing.T) {
		next := f.mustImport(t, csvFile(meal("F4", "Petit").with(func(r *csvRow) { r.Periode = "2026-11" })))
		err := tenant.WithTx(ctx, f.db, f.tid, func(tx *sqlx.Tx) error {
			if n, err := billing.Publish(ctx, tx, jobs, f.tid, next.BatchID, publishedAt); err != nil || n != 1 {
				return fmt.Errorf("Publish = %d, %w", n, err)
			}
			return errAbandon
		})
		if !errors.Is(err, errAbandon) {
			t.Fatalf("WithTx = %v, want the callback's error", err)
		}
		if inv := f.invoiceOf(t, "F4", f.rs, "2026-11"); inv.Status != billing.Draft || inv.Reference != nil || inv.Number != nil {
			t.Fatalf("invoice after a rolled-back publication = %+v, want an unnumbered draft", inv)
		}
		if got := f.series(t, "RS").NextNumber; got != rsNext+5 {
			t.Fatalf("next_number = %d after a rollback, want %d", got, rsNext+5)
		}
		if n := publishedJobs(t, f.db, f.tid, next.BatchID); n != 0 {
			t.Fatalf("%d jobs after a rollback, want 0", n)
		}
		f.mustPublish(t, jobs, next.BatchID)
		if got := f.invoiceOf(t, "F4", f.rs, "2026-11").Ref(); got != "2026-RS-00-8001521" {
			t.Errorf("reference = %q, want 2026-RS-00-8001521: no gap after the rollback", got)
		}
	})

	t.Run("EmptyBatch", func(t *testing.T) {
		// A batch whose only draft moved to a newer batch has nothing left.
		old := f.mustImport(t, csvFile(meal("F5", "Blanc").with(func(r *csvRow) { r.Periode = "2026-12" })))
		newer := f.mustImport(t, csvFile(meal("F5", "Blanc").with(func(r *csvRow) { r.Periode, r.Quantite = "2026-12", "3" })))
		if newer.ReplacedInvoices != 1 {
			t.Fatalf("second import = %+v, want the draft replaced", newer)
		}
		if n, err := f.publish(t, jobs, old.BatchID, publishedAt); err != nil || n != 0 {
			t.Fatalf("Publish(emptied batch) = %d, %v; want 0", n, err)
		}
		if n := publishedJobs(t, f.db, f.tid, old.BatchID); n != 0 {
			t.Errorf("%d jobs for an empty publication, want 0", n)
		}
		if inv := f.invoiceOf(t, "F5", f.rs, "2026-12"); inv.Status != billing.Draft {
			t.Errorf("moved draft = %+v, want still a draft of batch %d", inv, newer.BatchID)
		}
	})
}

// TestPublish_ReferenceTaken: numbering refuses to give a reference that an
// imported invoice already has, and the refusal keeps the numbers.
func TestPublish_ReferenceTaken(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "publish-taken")
	jobs := jobsClient(t, f.db)
	f.inTx(t, func(tx *sqlx.Tx) error {
		_, err := billing.CreateSeries(ctx, tx, f.tid, billing.Series{Code: "CL", Label: "Centre de loisirs", Pattern: "CL-{numero:6}"})
		return err
	})
	own := f.mustImport(t, csvFile(meal("F1", "Dupont").with(func(r *csvRow) { r.Reference = "CL-000001" })))
	f.mustPublish(t, jobs, own.BatchID)
	res := f.mustImport(t, csvFile(meal("F2", "Martin").with(func(r *csvRow) { r.Serie = "CL" })))

	n, err := f.publish(t, jobs, res.BatchID, publishedAt)
	var ve *billing.ValidationError
	if !errors.As(err, &ve) || n != 0 {
		t.Fatalf("Publish = %d, %v; want a *ValidationError", n, err)
	}
	if want := "la numérotation donnerait des références déjà utilisées (CL-000001) : avancez le prochain numéro de la série"; ve.Message != want {
		t.Errorf("message = %q, want %q", ve.Message, want)
	}
	if got := f.series(t, "CL").NextNumber; got != 1 {
		t.Errorf("CL next_number = %d, want 1", got)
	}
	if inv := f.invoiceOf(t, "F2", f.series(t, "CL"), "2026-10"); inv.Status != billing.Draft {
		t.Errorf("invoice = %+v, want still a draft", inv)
	}
}

// numbersOf returns the numbers given to the invoices of a series.
func numbersOf(t *testing.T, f fixture, seriesID int64) []int64 {
	t.Helper()
	var ns []int64
	f.inTx(t, func(tx *sqlx.Tx) error {
		return tx.Select(&ns, `SELECT number FROM invoices WHERE tenant_id = $1 AND series_id = $2 AND number IS NOT NULL ORDER BY number`, f.tid, seriesID)
	})
	return ns
}

// wantRun fails unless ns is exactly first, first+1, …, first+n-1.
func wantRun(t *testing.T, ns []int64, first int64, n int) {
	t.Helper()
	if len(ns) != n {
		t.Fatalf("%d numbers %v, want %d from %d", len(ns), ns, n, first)
	}
	for i, got := range ns {
		if got != first+int64(i) {
			t.Fatalf("numbers %v, want %d to %d without gap or repeat", ns, first, first+int64(n)-1)
		}
	}
}

// importBatches imports count batches of size invoices of RS in October
// 2026, each for its own families.
func importBatches(t *testing.T, f fixture, prefix string, count, size int) []int64 {
	t.Helper()
	var ids []int64
	for b := range count {
		var rows []csvRow
		for i := range size {
			fam := fmt.Sprintf("%s-%d-%d", prefix, b, i)
			rows = append(rows, meal(fam, "Famille "+fam))
		}
		ids = append(ids, f.mustImport(t, csvFile(rows...)).BatchID)
	}
	return ids
}

// TestPublish_Concurrent: batches of one series published at the same time
// from separate transactions share no number and leave no gap.
func TestPublish_Concurrent(t *testing.T) {
	ctx := context.Background()

	t.Run("AllAtOnce", func(t *testing.T) {
		f := newFixture(t, "publish-concurrent")
		jobs := jobsClient(t, f.db)
		const batches, size = 8, 3
		ids := importBatches(t, f, "C", batches, size)
		ready := make(chan struct{})
		errs := make(chan error, batches)
		var wg sync.WaitGroup
		for _, id := range ids {
			wg.Go(func() {
				<-ready
				errs <- tenant.WithTx(ctx, f.db, f.tid, func(tx *sqlx.Tx) error {
					n, err := billing.Publish(ctx, tx, jobs, f.tid, id, publishedAt)
					if err == nil && n != size {
						err = fmt.Errorf("batch %d: published %d, want %d", id, n, size)
					}
					return err
				})
			})
		}
		close(ready)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("concurrent publication: %v", err)
			}
		}
		wantRun(t, numbersOf(t, f, f.rs.ID), rsNext, batches*size)
		if got := f.series(t, "RS").NextNumber; got != rsNext+batches*size {
			t.Errorf("next_number = %d, want %d", got, rsNext+batches*size)
		}
		for _, inv := range f.invoices(t) {
			if want := fmt.Sprintf("2026-RS-00-%07d", *inv.Number); inv.Ref() != want {
				t.Errorf("invoice %d: reference %q, want %q", inv.ID, inv.Ref(), want)
			}
		}
		for _, id := range ids {
			if n := publishedJobs(t, f.db, f.tid, id); n != 1 {
				t.Errorf("batch %d: %d jobs, want 1", id, n)
			}
		}
	})

	// One publisher holds the series while a second one is seen waiting for
	// it; then the first commits or rolls back.
	for _, tc := range []struct {
		name   string
		commit bool
	}{{"FirstCommits", true}, {"FirstRollsBack", false}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, "publish-queue")
			jobs := jobsClient(t, f.db)
			ids := importBatches(t, f, "Q", 2, 3)
			first, second := ids[0], ids[1]

			published := make(chan error, 1)
			release := make(chan struct{})
			var releaseOnce sync.Once
			unblock := func() { releaseOnce.Do(func() { close(release) }) }
			defer unblock()
			firstDone := make(chan error, 1)
			go func() {
				firstDone <- tenant.WithTx(ctx, f.db, f.tid, func(tx *sqlx.Tx) error {
					_, err := billing.Publish(ctx, tx, jobs, f.tid, first, publishedAt)
					published <- err
					if err != nil {
						return err
					}
					<-release
					if !tc.commit {
						return errAbandon
					}
					return nil
				})
			}()
			if err := <-published; err != nil {
				t.Fatalf("first Publish: %v", err)
			}
			secondDone := make(chan error, 1)
			go func() {
				_, err := f.publish(t, jobs, second, publishedAt)
				secondDone <- err
			}()
			waitForSeriesLock(t, f.db, secondDone)
			unblock()
			if err := <-firstDone; tc.commit && err != nil || !tc.commit && !errors.Is(err, errAbandon) {
				t.Fatalf("first transaction: %v", err)
			}
			if err := <-secondDone; err != nil {
				t.Fatalf("second Publish: %v", err)
			}
			if tc.commit {
				wantRun(t, numbersOf(t, f, f.rs.ID), rsNext, 6)
				if n := f.invoiceOf(t, "Q-1-0", f.rs, "2026-10").Number; *n < rsNext+3 {
					t.Errorf("second batch got number %d, want after the first batch's", *n)
				}
				return
			}
			// The rolled-back numbers went to the second batch...
			wantRun(t, numbersOf(t, f, f.rs.ID), rsNext, 3)
			if n := f.invoiceOf(t, "Q-1-0", f.rs, "2026-10").Number; n == nil || *n != rsNext {
				t.Errorf("second batch's first number = %s, want %d", deref(n), rsNext)
			}
			// ...and publishing the first batch again continues without a gap.
			f.mustPublish(t, jobs, first)
			wantRun(t, numbersOf(t, f, f.rs.ID), rsNext, 6)
			if got := f.series(t, "RS").NextNumber; got != rsNext+6 {
				t.Errorf("next_number = %d, want %d", got, rsNext+6)
			}
		})
	}
}

// waitForSeriesLock waits until a transaction is blocked on the series row
// lock (the UPDATE of reserveNumbers), failing if done reports first.
func waitForSeriesLock(t *testing.T, db *sqlx.DB, done chan error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var waiting int
		err := db.Get(&waiting, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'UPDATE series SET next_number%'`)
		if err != nil {
			t.Fatalf("pg_stat_activity: %v", err)
		}
		if waiting > 0 {
			return
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("the second publication ended (%v) while the first held the series: it did not wait", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("no publication waiting on the series lock after 10s")
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronisation
	}
}

func TestCancelInvoice(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "cancel")
	jobs := jobsClient(t, f.db)
	res := f.mustImport(t, csvFile(meal("F1", "Dupont"), meal("F2", "Martin"), meal("F3", "Roux")))
	f.mustPublish(t, jobs, res.BatchID) // Dupont 8001516, Martin 8001517, Roux 8001518
	cancelledAt := publishedAt.Add(48 * time.Hour)
	dupont := f.invoiceOf(t, "F1", f.rs, "2026-10")

	cancel := func(reference, reason string) (billing.Invoice, error) {
		var inv billing.Invoice
		err := tenant.WithTx(ctx, f.db, f.tid, func(tx *sqlx.Tx) error {
			var err error
			inv, err = billing.CancelInvoice(ctx, tx, f.tid, reference, reason, cancelledAt)
			return err
		})
		return inv, err
	}

	t.Run("OK", func(t *testing.T) {
		inv, err := cancel("2026-RS-00-8001516", "  Erreur de tarif  ")
		if err != nil {
			t.Fatal(err)
		}
		if inv.ID != dupont.ID {
			t.Fatalf("cancelled invoice %d, want Dupont's %d", inv.ID, dupont.ID)
		}
		if inv.Status != billing.Cancelled || inv.CancelReason != "Erreur de tarif" || inv.CancelledAt == nil || !inv.CancelledAt.Equal(cancelledAt) ||
			deref(inv.Number) != "8001516" || inv.Ref() != "2026-RS-00-8001516" {
			t.Errorf("CancelInvoice = %+v, want cancelled with the trimmed reason, number and reference kept", inv)
		}
		if stored := f.invoice(t, inv.ID); stored.Status != billing.Cancelled || stored.CancelReason != "Erreur de tarif" {
			t.Errorf("stored = %+v, want cancelled", stored)
		}
	})

	t.Run("NumberStaysUsed", func(t *testing.T) {
		next := f.mustImport(t, csvFile(meal("F4", "Petit")))
		f.mustPublish(t, jobs, next.BatchID)
		if got := f.invoiceOf(t, "F4", f.rs, "2026-10").Ref(); got != "2026-RS-00-8001519" {
			t.Errorf("next reference = %q, want 2026-RS-00-8001519 (8001516 stays used)", got)
		}
	})

	t.Run("ErrAlreadyCancelled", func(t *testing.T) {
		if inv, err := cancel("2026-RS-00-8001516", "encore"); !errors.Is(err, billing.ErrAlreadyCancelled) {
			t.Errorf("second cancellation = %+v, %v; want ErrAlreadyCancelled", inv, err)
		}
		if got := f.invoice(t, dupont.ID); got.CancelReason != "Erreur de tarif" || !got.CancelledAt.Equal(cancelledAt) {
			t.Errorf("first cancellation overwritten: %+v", got)
		}
	})

	t.Run("ErrAlreadyPaid", func(t *testing.T) {
		martin := f.invoiceOf(t, "F2", f.rs, "2026-10")
		f.inTx(t, func(tx *sqlx.Tx) error {
			_, err := tx.Exec(`UPDATE invoices SET status = 'paid', paid_at = now() WHERE tenant_id = $1 AND id = $2`, f.tid, martin.ID)
			return err
		})
		if inv, err := cancel(martin.Ref(), "trop tard"); !errors.Is(err, billing.ErrAlreadyPaid) {
			t.Errorf("cancelling a paid invoice = %+v, %v; want ErrAlreadyPaid", inv, err)
		}
		if got := f.invoice(t, martin.ID); got.Status != billing.Paid || got.CancelReason != "" {
			t.Errorf("paid invoice after the refusal = %+v, want unchanged", got)
		}
	})

	t.Run("BadReason", func(t *testing.T) {
		for name, reason := range map[string]string{"Empty": "", "Blank": " \t ", "TooLong": strings.Repeat("x", 501)} {
			inv, err := cancel("2026-RS-00-8001518", reason)
			var ve *billing.ValidationError
			if !errors.As(err, &ve) || ve.Field != "reason" || ve.Message != "motif d'annulation obligatoire (500 caractères au plus)" {
				t.Errorf("%s reason: %+v, %v; want a *ValidationError on reason", name, inv, err)
			}
		}
		if got := f.invoiceOf(t, "F3", f.rs, "2026-10"); got.Status != billing.Published {
			t.Errorf("invoice after refused cancellations = %+v, want published", got)
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		for _, ref := range []string{"2026-RS-00-9999999", "2026RS008001518", ""} {
			inv, err := cancel(ref, "inconnue")
			mustNotFound(t, "CancelInvoice("+ref+")", inv, err)
		}
	})
}

// TestPublish_NumbersInFamilyOrder documents the order numbers are given in
// within a series and period: by family name, whatever the file's order.
func TestPublish_NumbersInFamilyOrder(t *testing.T) {
	f := newFixture(t, "publish-order")
	jobs := jobsClient(t, f.db)
	names := []string{"Zola", "Martin", "Aubert", "Dupont"}
	var rows []csvRow
	for i, n := range names {
		rows = append(rows, meal(fmt.Sprintf("F%d", i), n))
	}
	f.mustPublish(t, jobs, f.mustImport(t, csvFile(rows...)).BatchID)
	var got []string
	f.inTx(t, func(tx *sqlx.Tx) error {
		return tx.Select(&got, `SELECT f.name FROM invoices i JOIN families f ON f.tenant_id = i.tenant_id AND f.id = i.family_id
			WHERE i.tenant_id = $1 ORDER BY i.number`, f.tid)
	})
	if want := slices.Sorted(slices.Values(names)); !slices.Equal(got, want) {
		t.Errorf("families by number = %v, want %v", got, want)
	}
}
