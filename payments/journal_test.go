package payments_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/migrations/dbtest"
	"github.com/regie/regie/payments"
	"github.com/regie/regie/tenant"
	"github.com/regie/regie/tenant/tenanttest"
)

// journalCommune is a commune seeded owner-level for the journal's tests:
// three published invoices of 37,50 € (families J1, J2, J3) and
//
//	attempt 1  paid, real          → payment: online, applied (J1)
//	attempt 2  paid, test          → payment: online, applied, test (J2)
//	attempt 3  refused (J3)
//	attempt 4  paid, other amount  → payment: online, 10,00 €, amount mismatch (J3)
//	counter    cash 37,50 € on J3, applied
//	counter    cheque 37,50 € on J1: overpayment
type journalCommune struct {
	tn       tenant.Tenant
	invoices map[string]int64
	base     time.Time // attempt 1's time; everything else follows
}

func newJournalCommune(t *testing.T, prefix string) journalCommune {
	t.Helper()
	bg := context.Background()
	db := dbtest.DB(t)
	jc := journalCommune{tn: tenanttest.MustCreate(t, db, prefix), invoices: map[string]int64{},
		base: time.Date(2026, 3, 10, 9, 0, 0, 0, tenant.Paris)}
	tid := jc.tn.ID
	var series, batch int64
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(db.Get(&series, `INSERT INTO series (tenant_id, code, label, pattern) VALUES ($1, 'JR', 'Journal', '{exer}-JR-{numero:4}') RETURNING id`, tid))
	must(db.Get(&batch, `INSERT INTO import_batches (tenant_id, status) VALUES ($1, 'published') RETURNING id`, tid))
	for i, ref := range []string{"J1", "J2", "J3"} {
		var fam, inv int64
		must(db.Get(&fam, `INSERT INTO families (tenant_id, ref, name) VALUES ($1, $2, 'Famille ' || $2) RETURNING id`, tid, ref))
		must(db.Get(&inv, `INSERT INTO invoices (tenant_id, family_id, series_id, batch_id, period, number, reference, refdet,
				issue_date, due_date, total_cents, status, content_hash, published_at)
			VALUES ($1, $2, $3, $4, '2026-02-01', $5, $6, $7, '2026-03-01', '2026-03-31', 3750, 'published', 'h', '2026-03-01')
			RETURNING id`, tid, fam, series, batch, i+1, fmt.Sprintf("2026-JR-%04d", i+1), fmt.Sprintf("2026JR%04d", i+1)))
		jc.invoices[ref] = inv
	}
	attempt := func(ref, mode, status string, mismatch bool, at time.Time, idop, numauto string) int64 {
		var id int64
		must(db.Get(&id, `INSERT INTO payment_attempts (tenant_id, invoice_id, protocol, mode, saisie, numcli, refdet, exer,
				amount_cents, payer_email, idop, status, numauto, amount_mismatch, created_at, updated_at)
			VALUES ($1, $2, 'payfip', $3, 'W', '001964', 'REFDET', 2026, 3750, 'payeur@example.fr', nullif($4, ''), $5, $6, $7, $8, $8)
			RETURNING id`, tid, jc.invoices[ref], mode, jc.tn.Slug+idop, status, numauto, mismatch, at))
		return id
	}
	online := func(ref string, attemptID, cents int64, test, applied bool, anomaly string, at time.Time) {
		db.MustExec(`INSERT INTO payments (tenant_id, invoice_id, attempt_id, channel, means, amount_cents, test, paid_at, applied, anomaly)
			VALUES ($1, $2, $3, 'online', 'card', $4, $5, $6, $7, $8)`, tid, jc.invoices[ref], attemptID, cents, test, at, applied, anomaly)
		if applied {
			db.MustExec(`UPDATE invoices SET status = 'paid', paid_at = $3, paid_test = $4 WHERE tenant_id = $1 AND id = $2`, tid, jc.invoices[ref], at, test)
		}
	}
	b := jc.base
	a1 := attempt("J1", "production", "paid", false, b, "-op-1", "111111")
	online("J1", a1, 3750, false, true, "", b.Add(2*time.Minute))
	a2 := attempt("J2", "test", "paid", false, b.Add(time.Hour), "-op-2", "222222")
	online("J2", a2, 3750, true, true, "", b.Add(time.Hour+2*time.Minute))
	attempt("J3", "production", "refused", false, b.Add(2*time.Hour), "-op-3", "")
	a4 := attempt("J3", "production", "paid", true, b.Add(3*time.Hour), "-op-4", "444444")
	online("J3", a4, 1000, false, false, "amount_mismatch", b.Add(3*time.Hour+2*time.Minute))
	err := tenant.WithTx(bg, db, tid, func(tx *sqlx.Tx) error {
		if _, err := payments.RecordCounterPayment(bg, tx, tid, jc.invoices["J3"], 3750, "cash", b.AddDate(0, 0, 1), ""); err != nil {
			return err
		}
		_, err := payments.RecordCounterPayment(bg, tx, tid, jc.invoices["J1"], 3750, "cheque", b.AddDate(0, 0, 2), "deux fois")
		return err
	})
	must(err)
	// the overpayment is stamped with the transaction's time: give it the
	// counter payment's, as if recorded then
	db.MustExec(`UPDATE overpayments SET created_at = $2 WHERE tenant_id = $1`, tid, b.AddDate(0, 0, 2))
	return jc
}

func (jc journalCommune) journal(t *testing.T, f payments.JournalFilter, limit, offset int) []payments.JournalEntry {
	t.Helper()
	var out []payments.JournalEntry
	err := tenant.WithTx(context.Background(), dbtest.DB(t), jc.tn.ID, func(tx *sqlx.Tx) error {
		var err error
		out, err = payments.Journal(context.Background(), tx, jc.tn.ID, f, limit, offset)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// journalKinds writes entries as kind/state/anomaly, for comparisons.
func journalKinds(es []payments.JournalEntry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Kind + "/" + e.State + "/" + e.Anomaly
	}
	return out
}

func TestJournal(t *testing.T) {
	jc := newJournalCommune(t, "journal")
	other := newJournalCommune(t, "journalb")
	yes, no := true, false
	counter, online := "counter", "online"
	refused := payments.Refused
	from, to := jc.base.Add(90*time.Minute), jc.base.AddDate(0, 0, 1).Add(time.Hour)
	for _, c := range []struct {
		name string
		f    payments.JournalFilter
		want []string
	}{
		{"Everything", payments.JournalFilter{}, []string{
			"payment/anomaly/overpayment", "overpayment/to_refund/overpayment", "payment/applied/",
			"payment/anomaly/amount_mismatch", "attempt/paid/amount_mismatch", "attempt/refused/",
			"payment/applied/", "attempt/paid/", "payment/applied/", "attempt/paid/",
		}},
		{"Test", payments.JournalFilter{Test: &yes}, []string{"payment/applied/", "attempt/paid/"}},
		{"Real", payments.JournalFilter{Test: &no, Channel: &online}, []string{
			"payment/anomaly/amount_mismatch", "attempt/paid/amount_mismatch", "attempt/refused/", "payment/applied/", "attempt/paid/",
		}},
		{"AttemptStatus", payments.JournalFilter{AttemptStatus: &refused}, []string{"attempt/refused/"}},
		{"Anomalies", payments.JournalFilter{Applied: &no}, []string{
			"payment/anomaly/overpayment", "overpayment/to_refund/overpayment", "payment/anomaly/amount_mismatch",
		}},
		{"Applied", payments.JournalFilter{Applied: &yes}, []string{"payment/applied/", "payment/applied/", "payment/applied/"}},
		{"Counter", payments.JournalFilter{Channel: &counter}, []string{
			"payment/anomaly/overpayment", "overpayment/to_refund/overpayment", "payment/applied/",
		}},
		{"Dates", payments.JournalFilter{From: &from, To: &to}, []string{
			"payment/applied/", "payment/anomaly/amount_mismatch", "attempt/paid/amount_mismatch", "attempt/refused/",
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := journalKinds(jc.journal(t, c.f, 50, 0)); !slices.Equal(got, c.want) {
				t.Errorf("got  %q\nwant %q", got, c.want)
			}
		})
	}
	t.Run("Page", func(t *testing.T) {
		got := jc.journal(t, payments.JournalFilter{}, 3, 8)
		if len(got) != 2 || got[1].Kind != payments.EntryAttempt || got[1].IDOp != jc.tn.Slug+"-op-1" || got[1].Numauto != "111111" {
			t.Errorf("last page: %+v", got)
		}
	})
	t.Run("Details", func(t *testing.T) {
		es := jc.journal(t, payments.JournalFilter{Applied: &no}, 50, 0)
		mismatch := es[2]
		if mismatch.AmountCents != 1000 || mismatch.InvoiceCents != 3750 || mismatch.Family != "Famille J3" ||
			mismatch.Reference != "2026-JR-0003" || mismatch.Refdet != "2026JR0003" || mismatch.IDOp != jc.tn.Slug+"-op-4" {
			t.Errorf("mismatch entry %+v", mismatch)
		}
		if over := es[1]; over.Note != "facture déjà payée" || over.Channel != "counter" || over.Means != "cheque" || over.AmountCents != 3750 {
			t.Errorf("overpayment entry %+v", over)
		}
	})
	t.Run("OtherCommune", func(t *testing.T) {
		for _, e := range other.journal(t, payments.JournalFilter{}, 50, 0) {
			for _, id := range jc.invoices {
				if e.InvoiceID == id {
					t.Fatalf("commune B's journal holds A's invoice %d", id)
				}
			}
		}
		// A's transaction cannot read B's rows even when asked for B
		var got []payments.JournalEntry
		err := tenant.WithTx(context.Background(), dbtest.DB(t), jc.tn.ID, func(tx *sqlx.Tx) error {
			var err error
			got, err = payments.Journal(context.Background(), tx, other.tn.ID, payments.JournalFilter{}, 50, 0)
			return err
		})
		if err != nil || len(got) != 0 {
			t.Errorf("A's transaction read %d of B's entries (%v)", len(got), err)
		}
	})
}

func TestEachReceived(t *testing.T) {
	jc := newJournalCommune(t, "received")
	newJournalCommune(t, "receivedb")
	yes := true
	online := "online"
	each := func(f payments.ReceivedFilter) []payments.Received {
		var out []payments.Received
		err := tenant.WithTx(context.Background(), dbtest.DB(t), jc.tn.ID, func(tx *sqlx.Tx) error {
			return payments.EachReceived(context.Background(), tx, jc.tn.ID, f, func(r payments.Received) error {
				out = append(out, r)
				return nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	t.Run("NeverTest", func(t *testing.T) {
		got := each(payments.ReceivedFilter{})
		var cents []int64
		for i, r := range got {
			cents = append(cents, r.AmountCents)
			if i > 0 && r.PaidAt.Before(got[i-1].PaidAt) {
				t.Error("not oldest first")
			}
		}
		// J1 online, J3's 10,00 €, J3 cash, J1's second payment; never J2 (test)
		if len(got) != 4 || cents[0] != 3750 || cents[1] != 1000 || got[0].Family != "Famille J1" || got[1].Anomaly != "amount_mismatch" ||
			got[2].Means != "cash" || got[3].Anomaly != "overpayment" {
			t.Errorf("received %+v", got)
		}
		if r := got[0]; r.Numauto != "111111" || r.IDOp != jc.tn.Slug+"-op-1" || r.Exer != 2026 || r.Reference != "2026-JR-0001" || r.Refdet != "2026JR0001" {
			t.Errorf("online payment %+v", r)
		}
		if r := got[2]; r.Exer != 2026 || r.Numauto != "" || r.IDOp != "" {
			t.Errorf("counter payment %+v: the exercice is the period's year, no DGFiP ids", r)
		}
	})
	t.Run("Filters", func(t *testing.T) {
		if got := each(payments.ReceivedFilter{Applied: &yes}); len(got) != 2 {
			t.Errorf("%d applied, want 2", len(got))
		}
		if got := each(payments.ReceivedFilter{Channel: &online}); len(got) != 2 {
			t.Errorf("%d online, want 2 (the test one left out)", len(got))
		}
		day := jc.base.AddDate(0, 0, 1).Truncate(24 * time.Hour)
		end := day.AddDate(0, 0, 1)
		if got := each(payments.ReceivedFilter{From: &day, To: &end}); len(got) != 1 || got[0].Means != "cash" {
			t.Errorf("one day: %+v", got)
		}
	})
	t.Run("StopsAtTheFirstError", func(t *testing.T) {
		stop := errors.New("stop")
		n := 0
		err := tenant.WithTx(context.Background(), dbtest.DB(t), jc.tn.ID, func(tx *sqlx.Tx) error {
			return payments.EachReceived(context.Background(), tx, jc.tn.ID, payments.ReceivedFilter{}, func(payments.Received) error {
				n++
				return stop
			})
		})
		if !errors.Is(err, stop) || n != 1 {
			t.Errorf("err %v after %d rows, want stop after 1", err, n)
		}
	})
}
