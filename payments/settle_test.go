package payments_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/payments"
	"github.com/regie/regie/tenant"
)

// TestService_FinalStatesNeverChange: once paid, nothing DGFiP says later
// changes the attempt, the invoice or the money.
func TestService_FinalStatesNeverChange(t *testing.T) {
	t.Parallel()
	e := sharedEnv(t)
	tn := e.commune(t, "final")
	invs := e.invoices(t, tn, "15;2,50", "15;2,50")

	t.Run("LaterLookup", func(t *testing.T) {
		t.Parallel()
		inv := invs[0]
		idOp, a := e.start(t, tn, inv.ID)
		e.complete(t, idOp, "P")
		if got, err := e.svc.Return(ctx(), tn, idOp); err != nil || got.Status != payments.Paid {
			t.Fatalf("Return: %s, %v", got.Status, err)
		}
		e.gate.set(idOp, rule{resultrans: "R"}) // whatever DGFiP would say now
		defer e.gate.clear(idOp)
		if got, err := e.svc.Return(ctx(), tn, idOp); err != nil || got.Status != payments.Paid {
			t.Fatalf("second Return: %s, %v; want paid", got.Status, err)
		}
		if err := e.work(a); err != nil {
			t.Fatalf("reconciliation of a paid attempt: %v, want done", err)
		}
		if err := e.svc.Notify(ctx(), idOp); err != nil {
			t.Fatalf("Notify: %v", err)
		}
		if got := e.attempt(t, tn, a.ID); got.Status != payments.Paid || got.Resultrans != "P" || got.Lookups != 1 {
			t.Fatalf("attempt %s (%s), %d lookups; want paid by P, looked up once", got.Status, got.Resultrans, got.Lookups)
		}
		e.paidOnce(t, tn, inv.ID, a.ID)
	})

	// Two lookups under way at once, the first answered P and the second R
	// (played by the gate): the attempt row lock makes them settle one
	// after the other, and the second finds a final attempt.
	t.Run("RacingLookups", func(t *testing.T) {
		t.Parallel()
		inv := invs[1]
		idOp, a := e.start(t, tn, inv.ID)
		e.complete(t, idOp, "P")
		blocker := e.lockAttempt(t, tn, a.ID)
		first := make(chan error, 1)
		go func() {
			_, err := e.svc.Return(ctx(), tn, idOp)
			first <- err
		}()
		pid1 := e.waitBlocked(t, blocker.pid, 1)[0]
		e.gate.set(idOp, rule{resultrans: "R"})
		defer e.gate.clear(idOp)
		second := make(chan error, 1)
		go func() {
			second <- e.work(a)
		}()
		e.waitBlocked(t, blocker.pid, 2, pid1)
		blocker.release()
		if err := <-first; err != nil {
			t.Fatalf("first Return: %v", err)
		}
		if err := <-second; err != nil {
			t.Fatalf("the reconciliation that read R: %v", err)
		}
		got := e.attempt(t, tn, a.ID)
		if got.Status != payments.Paid || got.Resultrans != "P" || got.Lookups != 2 {
			t.Fatalf("attempt %s (%s), %d lookups; want paid by P after two lookups", got.Status, got.Resultrans, got.Lookups)
		}
		e.paidOnce(t, tn, inv.ID, a.ID)
	})
}

// TestService_Overpayment: money DGFiP took twice is recorded, never lost,
// and the invoice is paid once.
func TestService_Overpayment(t *testing.T) {
	t.Parallel()
	e := sharedEnv(t)

	t.Run("TwoSuccesses", func(t *testing.T) {
		t.Parallel()
		tn := e.commune(t, "twice")
		inv := e.invoice(t, tn)
		idOp1, first := e.start(t, tn, inv.ID)
		e.complete(t, idOp1, "A") // the payer cancels…
		if _, err := e.svc.Return(ctx(), tn, idOp1); err != nil {
			t.Fatal(err)
		}
		idOp2, second := e.start(t, tn, inv.ID) // …starts again at once and pays
		e.complete(t, idOp2, "P")
		if got, err := e.svc.Return(ctx(), tn, idOp2); err != nil || got.Status != payments.Paid {
			t.Fatalf("second attempt: %s, %v", got.Status, err)
		}
		e.complete(t, idOp1, "P") // …and the first tab, still open, pays too
		if err := e.svc.Notify(ctx(), idOp1); err != nil {
			t.Fatal(err)
		}
		e.waitStatus(t, tn, first.ID, payments.Paid)

		if got := e.invoiceNow(t, tn, inv.ID); got.Status != billing.Paid {
			t.Fatalf("invoice %s, want paid", got.Status)
		}
		ps := e.payments(t, tn, inv.ID)
		if len(ps) != 2 {
			t.Fatalf("payments %+v, want both recorded", ps)
		}
		byAttempt := map[int64]payments.Payment{}
		for _, p := range ps {
			byAttempt[*p.AttemptID] = p
		}
		applied, extra := byAttempt[second.ID], byAttempt[first.ID]
		if !applied.Applied || applied.Anomaly != "" || extra.Applied || extra.Anomaly != "overpayment" || extra.AmountCents != 3750 {
			t.Fatalf("payments %+v, want the second applied and the first an overpayment", ps)
		}
		os := e.overpayments(t, tn)
		if len(os) != 1 || os[0].PaymentID != extra.ID || os[0].InvoiceID != inv.ID || os[0].AmountCents != 3750 ||
			os[0].Status != "to_refund" || os[0].Reason != "facture déjà payée" {
			t.Fatalf("overpayments %+v, want one of 37,50 € to refund for payment %d", os, extra.ID)
		}
		for _, p := range ps {
			if n := e.receiptJobs(t, tn, p.ID); n != 1 {
				t.Fatalf("%d receipt jobs for payment %d, want 1", n, p.ID)
			}
		}
	})

	t.Run("CancelledInvoice", func(t *testing.T) {
		t.Parallel()
		tn := e.commune(t, "cancel")
		inv := e.invoice(t, tn)
		idOp, a := e.start(t, tn, inv.ID)
		e.inTx(t, tn.ID, func(tx *sqlx.Tx) error {
			_, err := billing.CancelInvoice(ctx(), tx, tn.ID, inv.Ref(), "facture en double", e.clk.Now())
			return err
		})
		e.complete(t, idOp, "P")
		if got, err := e.svc.Return(ctx(), tn, idOp); err != nil || got.Status != payments.Paid {
			t.Fatalf("Return: %s, %v; want the attempt paid", got.Status, err)
		}
		if got := e.invoiceNow(t, tn, inv.ID); got.Status != billing.Cancelled || got.PaidAt != nil {
			t.Fatalf("invoice %s paid at %v, want still cancelled", got.Status, got.PaidAt)
		}
		ps := e.payments(t, tn, inv.ID)
		if len(ps) != 1 || ps[0].Applied || ps[0].Anomaly != "cancelled_invoice" || *ps[0].AttemptID != a.ID {
			t.Fatalf("payments %+v, want one, not applied, anomaly cancelled_invoice", ps)
		}
		os := e.overpayments(t, tn)
		if len(os) != 1 || os[0].PaymentID != ps[0].ID || os[0].Reason != "paiement d'une facture annulée" || os[0].Status != "to_refund" {
			t.Fatalf("overpayments %+v, want one to refund for payment %d", os, ps[0].ID)
		}
	})

	t.Run("AmountMismatch", func(t *testing.T) {
		t.Parallel()
		tn := e.commune(t, "amount")
		inv := e.invoice(t, tn)
		idOp, a := e.start(t, tn, inv.ID)
		e.complete(t, idOp, "P")
		e.gate.set(idOp, rule{montant: "3700"})
		defer e.gate.clear(idOp)
		got, err := e.svc.Return(ctx(), tn, idOp)
		if err != nil || got.Status != payments.Paid || !got.AmountMismatch {
			t.Fatalf("Return: %s mismatch=%v, %v; want paid, flagged", got.Status, got.AmountMismatch, err)
		}
		if inv := e.invoiceNow(t, tn, inv.ID); inv.Status != billing.Published {
			t.Fatalf("invoice %s, want still to pay", inv.Status)
		}
		ps := e.payments(t, tn, inv.ID)
		if len(ps) != 1 || ps[0].Applied || ps[0].Anomaly != "amount_mismatch" || ps[0].AmountCents != 3700 || *ps[0].AttemptID != a.ID {
			t.Fatalf("payments %+v, want 37,00 € recorded, not applied, anomaly amount_mismatch", ps)
		}
	})
}

// work runs the reconciliation job of an attempt once, as River would.
func (e *env) work(a payments.Attempt) error {
	return e.workWith(e.svc, a)
}

func (e *env) workWith(svc *payments.Service, a payments.Attempt) error {
	w := &payments.ReconcileWorker{S: svc}
	return w.Work(context.Background(), &river.Job[payments.ReconcileArgs]{
		JobRow: &rivertype.JobRow{Kind: payments.ReconcileArgs{}.Kind()},
		Args:   payments.ReconcileArgs{TenantID: a.TenantID, AttemptID: a.ID},
	})
}

// rowLock is a transaction of another connection holding an attempt's row.
type rowLock struct {
	pid     int
	release func()
}

// lockAttempt takes the attempt's row lock in another transaction (as the
// owner, so row-level security does not hide the row) until release.
func (e *env) lockAttempt(t testing.TB, tn tenant.Tenant, id int64) rowLock {
	t.Helper()
	tx, err := e.db.BeginTxx(ctx(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var l rowLock
	if err := tx.Get(&l.pid, `SELECT pg_backend_pid()`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`SELECT 1 FROM payment_attempts WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, tn.ID, id); err != nil {
		t.Fatal(err)
	}
	done := false
	l.release = func() {
		if !done {
			done = true
			tx.Rollback()
		}
	}
	t.Cleanup(l.release)
	return l
}

// waitBlocked waits until n backends wait behind the lock holder (or
// behind the other waiters named), and returns their pids.
func (e *env) waitBlocked(t testing.TB, holder, n int, waiters ...int) []int {
	t.Helper()
	behind := pq.Int64Array{int64(holder)}
	for _, w := range waiters {
		behind = append(behind, int64(w))
	}
	var pids []int
	waitFor(t, fmt.Sprintf("%d transactions waiting for the row lock", n), func() (bool, string) {
		pids = nil
		const q = `SELECT pid FROM pg_stat_activity WHERE pg_blocking_pids(pid) && $1::int[] ORDER BY pid`
		if err := e.db.Select(&pids, q, behind); err != nil {
			return false, err.Error()
		}
		return len(pids) >= n, fmt.Sprintf("%d waiting", len(pids))
	})
	return pids
}

// An attempt read without an operation is not failed for want of one when
// it got one meanwhile (its payer may be paying).
func TestSettle_OperationGivenMeanwhile(t *testing.T) {
	t.Parallel()
	e := sharedEnv(t)
	tn := e.commune(t, "meanwhile")
	inv := e.invoice(t, tn)
	_, a := e.start(t, tn, inv.ID)
	stale := a
	stale.IDOp, stale.Status = nil, payments.Created // as read before Start recorded the operation
	if done, err := payments.FailWithoutOperation(ctx(), e.svc, stale); err != nil || done {
		t.Fatalf("failing the attempt read without its operation: done %v, %v; want left alone", done, err)
	}
	if got := e.attempt(t, tn, a.ID); got.Status != payments.Pending {
		t.Fatalf("%s, want pending", got.Status)
	}
	if done, err := payments.FailWithoutOperation(ctx(), e.svc, a); err != nil || !done {
		t.Fatalf("failing the attempt as it is: done %v, %v; want it failed", done, err)
	}
}
