package billing_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/tenant"
)

// Regression cases found while testing the import and publication.

// A changed draft that keeps its own reference moves to its new series and
// period (it used to keep the old ones).
func TestImport_ReplaceOwnReferenceMovesSeriesAndPeriod(t *testing.T) {
	f := newFixture(t, "reg-ownref")
	first := f.mustImport(t, csvFile(meal("F1", "Famille Un").with(func(r *csvRow) { r.Reference = "OWN-000001" })))
	second := f.mustImport(t, csvFile(meal("F1", "Famille Un").with(func(r *csvRow) {
		r.Reference, r.Serie, r.Periode = "OWN-000001", "GA", "2026-11"
	})))
	if second.ReplacedInvoices != 1 || second.BatchID == first.BatchID {
		t.Fatalf("second import: %+v", second)
	}
	invs := f.invoices(t)
	if len(invs) != 1 || invs[0].SeriesID != f.ga.ID || invs[0].Period.Format("2006-01") != "2026-11" {
		t.Fatalf("after replacing: %+v", invs)
	}
}

// Publications whose batches span the same two series run at once without
// deadlocking (series rows are locked in one order).
func TestPublish_ConcurrentAcrossSeries(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "reg-deadlock")
	jobs := jobsClient(t, f.db)
	const batches = 6
	var ids []int64
	for b := range batches {
		fam := fmt.Sprintf("D%d", b)
		// half the batches list GA first, half RS first
		rows := []csvRow{meal(fam, "Famille "+fam), meal(fam, "Famille "+fam).with(func(r *csvRow) { r.Serie = "GA" })}
		if b%2 == 1 {
			rows[0], rows[1] = rows[1], rows[0]
		}
		ids = append(ids, f.mustImport(t, csvFile(rows...)).BatchID)
	}
	ready := make(chan struct{})
	errs := make(chan error, batches)
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() {
			<-ready
			errs <- tenant.WithTx(ctx, f.db, f.tid, func(tx *sqlx.Tx) error {
				_, err := billing.Publish(ctx, tx, jobs, f.tid, id, publishedAt)
				return err
			})
		})
	}
	close(ready)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent publication across series: %v", err)
		}
	}
	wantRun(t, numbersOf(t, f, f.rs.ID), rsNext, batches)
	wantRun(t, numbersOf(t, f, f.ga.ID), 1, batches)
}

// Rows of one reference that disagree are reported on the row that
// disagrees with the first one.
func TestImport_ReferenceMismatchNamesTheRightLine(t *testing.T) {
	f := newFixture(t, "reg-refline")
	res, err := f.importCSV(t, csvFile(
		meal("F2", "Famille Deux").with(func(r *csvRow) { r.Reference = "REF-000001" }),
		meal("F1", "Famille Un").with(func(r *csvRow) { r.Reference = "REF-000001" }),
	))
	if err == nil {
		t.Fatal("a reference on two families was accepted")
	}
	got := strings.Join(lineErrors(res.Errors), "\n")
	if !strings.Contains(got, "ligne 3 (colonne reference) : la facture REF-000001 a une autre famille, série ou période à la ligne 2") {
		t.Fatalf("errors:\n%s", got)
	}
}

// A family without an e-mail address (it pays at the counter) imports.
func TestImport_FamilyWithoutEmail(t *testing.T) {
	f := newFixture(t, "reg-noemail")
	res := f.mustImport(t, csvFile(meal("F1", "Famille Sans").with(func(r *csvRow) { r.Email = "" })))
	if res.NewInvoices != 1 || res.NewFamilies != 1 {
		t.Fatalf("import: %+v", res)
	}
}

// A batch not yet published can be cancelled too: its unnumbered drafts
// go, those with their own reference are cancelled.
func TestCancelBatch_Unpublished(t *testing.T) {
	f := newFixture(t, "reg-cancel-draft")
	res := f.mustImport(t, csvFile(meal("F1", "Famille Un"), meal("F2", "Famille Deux").with(func(r *csvRow) { r.Reference = "OWN-000009" })))
	var n int
	f.inTx(t, func(tx *sqlx.Tx) error {
		var err error
		n, _, err = billing.CancelBatch(context.Background(), tx, f.tid, res.BatchID, "import en double", publishedAt)
		return err
	})
	if n != 2 {
		t.Fatalf("cancelled %d, want 2", n)
	}
	invs := f.invoices(t)
	if len(invs) != 1 || invs[0].Status != billing.Cancelled || invs[0].Ref() != "OWN-000009" {
		t.Fatalf("after cancelling: %+v", invs)
	}
}
