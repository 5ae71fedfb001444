package billing_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/tenant"
)

// TestInvoiceIsolation: inside commune B's transaction nothing of commune
// A's series, batches and invoices can be read or changed, whether B passes
// its own id (the WHERE clauses) or A's (the row-level security policies).
func TestInvoiceIsolation(t *testing.T) {
	ctx := context.Background()
	a := newAccountFixture(t, "inv-iso-a")
	b := newFixture(t, "inv-iso-b")
	jobs := jobsClient(t, a.db)
	var ac billing.Series
	a.inTx(t, func(tx *sqlx.Tx) error {
		var err error
		ac, err = billing.CreateSeries(ctx, tx, a.tid, billing.Series{Code: "ACL", Label: "Accueil de loisirs", Pattern: "ACL-{exer}-{numero:5}"})
		return err
	})
	draftBatch := a.dupontDraft.BatchID
	published := a.dupontOct
	nextBefore := a.series(t, "RS").NextNumber

	for _, tc := range []struct {
		name string
		tid  tenant.ID
	}{{"OwnID", b.tid}, {"OtherID", a.tid}} {
		t.Run(tc.name, func(t *testing.T) {
			b.inTx(t, func(tx *sqlx.Tx) error {
				got, err := billing.InvoiceByID(ctx, tx, tc.tid, published.ID)
				mustNotFound(t, "InvoiceByID(A's invoice)", got, err)
				got, err = billing.InvoiceByReference(ctx, tx, tc.tid, published.Ref())
				mustNotFound(t, "InvoiceByReference(A's reference)", got, err)
				if ls, err := billing.InvoiceLines(ctx, tx, tc.tid, published.ID); err != nil || len(ls) != 0 {
					t.Errorf("InvoiceLines(A's invoice) = %+v, %v; want none", ls, err)
				}
				if invs, err := billing.AccountInvoices(ctx, tx, tc.tid, parent, time.Time{}); err != nil || len(invs) != 0 {
					t.Errorf("AccountInvoices(A's address) = %+v, %v; want none", invs, err)
				}
				ai, err := billing.AccountInvoiceByID(ctx, tx, tc.tid, parent, published.ID, time.Time{})
				mustNotFound(t, "AccountInvoiceByID(A's invoice)", ai, err)
				s, err := billing.SeriesByCode(ctx, tx, tc.tid, "ACL")
				mustNotFound(t, "SeriesByCode(A's ACL)", s, err)
				if ss, err := billing.ListSeries(ctx, tx, tc.tid); err != nil {
					t.Errorf("ListSeries: %v", err)
				} else {
					for _, s := range ss {
						if s.TenantID != b.tid {
							t.Errorf("ListSeries in B lists %+v", s)
						}
					}
				}
				return nil
			})

			// Writes go through their own transactions: each must fail.
			for _, w := range []struct {
				name string
				fn   func(tx *sqlx.Tx) error
			}{
				{"Publish", func(tx *sqlx.Tx) error {
					_, err := billing.Publish(ctx, tx, jobs, tc.tid, draftBatch, publishedAt)
					return err
				}},
				{"CancelInvoice", func(tx *sqlx.Tx) error {
					_, err := billing.CancelInvoice(ctx, tx, tc.tid, published.Ref(), "intrus", publishedAt)
					return err
				}},
				{"ReserveNumbers", func(tx *sqlx.Tx) error {
					_, err := billing.ReserveNumbers(ctx, tx, tc.tid, a.rs.ID, 5)
					return err
				}},
			} {
				err := tenant.WithTx(ctx, b.db, b.tid, w.fn)
				if !errors.Is(err, billing.ErrNotFound) {
					t.Errorf("%s on A's data from B: err = %v, want ErrNotFound", w.name, err)
				}
			}
			// SetPDFKey reports nothing for a row it cannot see: AUnchanged
			// checks that A's row kept its key.
			tenant.WithTx(ctx, b.db, b.tid, func(tx *sqlx.Tx) error { //nolint:errcheck
				return billing.SetPDFKey(ctx, tx, tc.tid, published.ID, "volé.pdf")
			})
		})
	}

	t.Run("AUnchanged", func(t *testing.T) {
		if got := a.invoice(t, published.ID); got.Status != billing.Published || got.PDFKey != "" || got.CancelReason != "" {
			t.Errorf("A's invoice after B's attempts = %+v, want published, no PDF key, not cancelled", got)
		}
		if got := a.invoice(t, a.dupontDraft.ID); got.Status != billing.Draft {
			t.Errorf("A's draft after B's attempts = %+v, want a draft", got)
		}
		if got := a.series(t, "RS").NextNumber; got != nextBefore {
			t.Errorf("A's RS next_number = %d, want %d", got, nextBefore)
		}
		if got := a.series(t, "ACL"); got.ID != ac.ID {
			t.Errorf("A's ACL series = %+v", got)
		}
		if n := publishedJobs(t, a.db, a.tid, draftBatch); n != 0 {
			t.Errorf("%d publication jobs for A's draft batch, want 0", n)
		}
	})

	t.Run("ImportInB", func(t *testing.T) {
		// B's file names A's series: unknown in B.
		res, err := b.importCSV(t, csvFile(meal("F1", "Dupont").with(func(r *csvRow) { r.Serie = "ACL" })))
		if !errors.Is(err, billing.ErrInvalidImport) || len(res.Errors) != 1 || res.Errors[0].Column != "serie" {
			t.Fatalf("import of A's series in B = %v, %q; want one error on serie", err, lineErrors(res.Errors))
		}
		// A family ref and reference that exist in A are new in B.
		res = b.mustImport(t, csvFile(meal("F1", "Dupont").with(func(r *csvRow) { r.Reference = published.Ref() })))
		if res.NewInvoices != 1 || res.NewFamilies != 1 {
			t.Errorf("B's import of A's family and reference = %+v, want a new family and a new invoice", res)
		}
		if got := a.invoice(t, published.ID); got.Status != billing.Published || got.BatchID == res.BatchID {
			t.Errorf("A's invoice after B's import = %+v", got)
		}
	})
}
