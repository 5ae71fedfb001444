package payments_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river/rivertype"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/payments"
	"github.com/regie/regie/payments/payfip"
	"github.com/regie/regie/tenant"
)

// TestReconcileWorker_StatusPolicy plays PAYFIP.md's status policy with the
// clock moved, through the reconciliation job: each row's attempt is
// created at once, looked up at 5 minutes, then at 25.
//
// Not parallel: it moves the shared clock.
func TestReconcileWorker_StatusPolicy(t *testing.T) {
	e := sharedEnv(t)
	tn := e.commune(t, "policy")
	invs := e.invoices(t, tn, repeat("15;2,50", 5)...)
	// the timeout row's service gives DGFiP 300 ms
	short := *e.svc
	short.PayFiP = payfip.New(e.gateTS.URL, &http.Client{Timeout: 300 * time.Millisecond})

	type row struct {
		name       string
		svc        *payments.Service
		at5, at25  payments.Status
		retry      bool // the lookup fails: the job wants River's back-off
		idOp       string
		a          payments.Attempt
		settlesPay bool // DGFiP has P behind the failure
	}
	rows := []*row{
		{name: "A", svc: e.svc, at5: payments.Pending, at25: payments.Abandoned},
		{name: "P5", svc: e.svc, at5: payments.Pending, at25: payments.Expired},
		{name: "P1", svc: e.svc, at5: payments.Expired, at25: payments.Expired},
		{name: "technical fault", svc: e.svc, at5: payments.Pending, at25: payments.Pending, retry: true, settlesPay: true},
		{name: "timeout", svc: &short, at5: payments.Pending, at25: payments.Pending, retry: true, settlesPay: true},
	}
	for i, r := range rows {
		r.idOp, r.a = e.start(t, tn, invs[i].ID)
	}
	e.complete(t, rows[0].idOp, "A")
	e.gate.set(rows[2].idOp, rule{fault: "P1"})
	e.complete(t, rows[3].idOp, "P")
	e.gate.set(rows[3].idOp, rule{fault: "tech"})
	e.complete(t, rows[4].idOp, "P")
	e.gate.set(rows[4].idOp, rule{hang: true})
	t.Cleanup(func() {
		for _, r := range rows {
			e.gate.clear(r.idOp)
		}
	})

	check := func(t *testing.T, r *row, want payments.Status) {
		t.Helper()
		err := e.workWith(r.svc, r.a)
		var snooze *rivertype.JobSnoozeError
		switch {
		case r.retry && (err == nil || errors.As(err, &snooze)):
			t.Errorf("%s: the job returned %v, want a failure for River to retry", r.name, err)
		case !r.retry && !want.Final() && !errors.As(err, &snooze):
			t.Errorf("%s: the job returned %v, want a snooze", r.name, err)
		case !r.retry && want.Final() && err != nil:
			t.Errorf("%s: the job returned %v, want done", r.name, err)
		}
		if got := e.attempt(t, tn, r.a.ID); got.Status != want {
			t.Errorf("%s: %s, want %s", r.name, got.Status, want)
		}
	}

	e.clk.Advance(5 * time.Minute)
	t.Run("5min", func(t *testing.T) {
		for _, r := range rows {
			check(t, r, r.at5)
		}
		// the payer's return says the same
		got, err := e.svc.Return(ctx(), tn, rows[3].idOp)
		if err != nil || got.Status != payments.Pending {
			t.Errorf("Return while DGFiP is down: %s, %v; want pending, no error", got.Status, err)
		}
	})
	e.clk.Advance(20 * time.Minute)
	t.Run("25min", func(t *testing.T) {
		for _, r := range rows {
			check(t, r, r.at25)
		}
	})
	for _, r := range rows {
		if !r.settlesPay {
			e.unpaid(t, tn, r.a.InvoiceID)
		}
	}

	// DGFiP is back: River's retries settle what it could not answer.
	t.Run("Back", func(t *testing.T) {
		for _, r := range rows {
			if !r.settlesPay {
				continue
			}
			if got := e.attempt(t, tn, r.a.ID); got.Lookups < 2 || !slices.Contains(e.received(t, tn, r.a.ID), "reconciliation") {
				t.Errorf("%s: %d lookups recorded, want the failed ones", r.name, got.Lookups)
			}
			e.gate.clear(r.idOp)
			e.waitStatus(t, tn, r.a.ID, payments.Paid)
			e.paidOnce(t, tn, r.a.InvoiceID, r.a.ID)
		}
	})
}

// TestReconcileWorker_NotificationLost: without a notification, the
// reconciliation's own schedule settles the payment, 2 minutes after the
// creation, or within seconds of the payer's return.
//
// Not parallel: it moves the shared clock.
func TestReconcileWorker_NotificationLost(t *testing.T) {
	e := sharedEnv(t)
	tn := e.commune(t, "lost")
	invs := e.invoices(t, tn, "15;2,50", "15;2,50")

	idOp, a := e.start(t, tn, invs[0].ID)
	e.complete(t, idOp, "P")
	// a family that cancelled, came back to DGFiP's page and paid there
	idOp2, b := e.start(t, tn, invs[1].ID)
	e.complete(t, idOp2, "A")
	if got, err := e.svc.Return(ctx(), tn, idOp2); err != nil || !got.ReturnedCancelled {
		t.Fatalf("Return after A: cancelled %v, %v", got.ReturnedCancelled, err)
	}
	e.complete(t, idOp2, "P")
	waitFor(t, "the stand-in's notifications (dropped)", func() (bool, string) {
		n, m := e.cb.notifications(idOp), e.cb.notifications(idOp2)
		return n > 0 && m > 1, fmt.Sprintf("%d and %d", n, m)
	})
	// the return brought b's check forward: it settles without the clock
	// moving; a, whose payer never came back, waits for its 2-minute check
	e.waitStatus(t, tn, b.ID, payments.Paid)
	if got := e.attempt(t, tn, a.ID); got.Status != payments.Pending {
		t.Fatalf("attempt %d settled before its check: %s", a.ID, got.Status)
	}

	e.clk.Advance(2 * time.Minute)
	for i, x := range []payments.Attempt{a, b} {
		e.waitStatus(t, tn, x.ID, payments.Paid)
		e.paidOnce(t, tn, invs[i].ID, x.ID)
		if got := e.received(t, tn, x.ID); !slices.Contains(got, "reconciliation") {
			t.Fatalf("attempt %d received %v, want a reconciliation lookup", x.ID, got)
		}
	}
}

// TestReconcileWorker_AfterStopBeforeCommit: the process stops after DGFiP
// said P and before the transaction that records it commits; the
// reconciliation finishes the job, and the invoice is paid once.
//
// Not parallel: it moves the shared clock.
func TestReconcileWorker_AfterStopBeforeCommit(t *testing.T) {
	e := sharedEnv(t)
	tn := e.commune(t, "crash")
	inv := e.invoice(t, tn)
	idOp, a := e.start(t, tn, inv.ID)
	e.complete(t, idOp, "P")

	// Another transaction holds the attempt's row, so the payer's return,
	// once DGFiP has answered, waits for the lock inside the transaction
	// that would record the answer. Cancelling its context then aborts that
	// transaction before its commit, exactly where a crash would: PostgreSQL
	// rolls back what a vanished client did not commit, and DGFiP's answer
	// is lost with it.
	blocker := e.lockAttempt(t, tn, a.ID)
	rctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := e.svc.Return(rctx, tn, idOp)
		done <- err
	}()
	e.waitBlocked(t, blocker.pid, 1)
	if n := e.gate.lookupsOf(idOp); n != 1 {
		t.Fatalf("DGFiP was asked %d times before the stop, want 1", n)
	}
	stop()
	if err := <-done; err == nil {
		t.Fatal("Return succeeded though its transaction could not commit")
	}
	blocker.release()
	if got := e.attempt(t, tn, a.ID); got.Status != payments.Pending || got.Lookups != 0 || len(e.received(t, tn, a.ID)) != 0 {
		t.Fatalf("after the stop: %s, %d lookups, received %v; want nothing recorded", got.Status, got.Lookups, e.received(t, tn, a.ID))
	}
	e.unpaid(t, tn, inv.ID)

	e.clk.Advance(2 * time.Minute)
	e.waitStatus(t, tn, a.ID, payments.Paid)
	e.paidOnce(t, tn, inv.ID, a.ID)
}

// TestService_SuspendedCommune: DGFiP's callbacks and the reconciliation
// still settle the payments of a commune suspended meanwhile.
//
// Not parallel: it moves the shared clock.
func TestService_SuspendedCommune(t *testing.T) {
	e := sharedEnv(t)
	tn := e.commune(t, "suspended")
	invs := e.invoices(t, tn, repeat("15;2,50", 3)...)
	idOps, as := make([]string, 3), make([]payments.Attempt, 3)
	for i, inv := range invs {
		idOps[i], as[i] = e.start(t, tn, inv.ID)
		e.complete(t, idOps[i], "P")
	}
	if err := tenant.NewStore(e.db).SetStatus(ctx(), tn.ID, tenant.StatusSuspended); err != nil {
		t.Fatal(err)
	}
	tn.Status = tenant.StatusSuspended

	t.Run("Notify", func(t *testing.T) {
		if err := e.svc.Notify(ctx(), idOps[0]); err != nil {
			t.Fatalf("Notify: %v", err)
		}
		e.waitStatus(t, tn, as[0].ID, payments.Paid)
		e.paidOnce(t, tn, invs[0].ID, as[0].ID)
	})
	t.Run("Return", func(t *testing.T) {
		if got, err := e.svc.Return(ctx(), tn, idOps[1]); err != nil || got.Status != payments.Paid {
			t.Fatalf("Return: %s, %v; want paid", got.Status, err)
		}
		e.paidOnce(t, tn, invs[1].ID, as[1].ID)
	})
	t.Run("Reconciliation", func(t *testing.T) {
		e.clk.Advance(2 * time.Minute)
		e.waitStatus(t, tn, as[2].ID, payments.Paid)
		e.paidOnce(t, tn, invs[2].ID, as[2].ID)
	})
}

// TestService_Start_AfterPayerWindow: an attempt the payer never came back
// from blocks a new one for 20 minutes, not longer.
//
// Not parallel: it moves the shared clock.
func TestService_Start_AfterPayerWindow(t *testing.T) {
	e := sharedEnv(t)
	tn := e.commune(t, "window")
	inv := e.invoice(t, tn)
	_, first := e.start(t, tn, inv.ID)
	inProgress := func() bool {
		var got billing.AccountInvoice
		e.inTx(t, tn.ID, func(tx *sqlx.Tx) error {
			var email string
			if err := tx.Get(&email, `SELECT email FROM family_emails WHERE tenant_id = $1 AND family_id = $2`, tn.ID, inv.FamilyID); err != nil {
				return err
			}
			var err error
			got, err = billing.AccountInvoiceByID(ctx(), tx, tn.ID, email, inv.ID, payments.PayingSince(e.clk.Now()))
			return err
		})
		return got.Paying
	}
	e.clk.Advance(payments.PayerWindow - 30*time.Second)
	if _, err := e.svc.Start(ctx(), tn, inv.ID, payer); !errors.Is(err, payments.ErrInProgress) {
		t.Fatalf("Start at 19 min 30 = %v, want ErrInProgress", err)
	}
	if !inProgress() {
		t.Fatal("at 19 min 30 the family does not read « Paiement en cours »")
	}
	e.clk.Advance(30 * time.Second)
	if inProgress() {
		t.Fatal("at 20 min the family still reads « Paiement en cours »")
	}
	_, second := e.start(t, tn, inv.ID)
	if second.ID == first.ID || second.Status != payments.Pending {
		t.Fatalf("retry after 20 minutes: attempt %d %s", second.ID, second.Status)
	}
}

// TestSweepWorker_Work: an open attempt whose reconciliation job was lost
// gets one back, which settles it.
//
// Not parallel: the sweep checks every open attempt of the database, those
// of tests running beside it too.
func TestSweepWorker_Work(t *testing.T) {
	e := sharedEnv(t)
	tn := e.commune(t, "sweep")
	inv := e.invoice(t, tn)
	idOp, a := e.start(t, tn, inv.ID)
	e.complete(t, idOp, "P") // notification lost
	const del = `DELETE FROM river_job WHERE kind = 'payments.reconcile'
		AND (args->>'tenant_id')::bigint = $1 AND (args->>'attempt_id')::bigint = $2`
	if _, err := e.db.Exec(del, tn.ID, a.ID); err != nil {
		t.Fatal(err)
	}
	if jobs := e.reconcileJobs(t, tn, a.ID); len(jobs) != 0 {
		t.Fatalf("jobs %v left", jobs)
	}
	res, err := e.jobs.Insert(ctx(), payments.SweepArgs{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the sweep", func() (bool, string) {
		j, err := e.jobs.JobGet(ctx(), res.Job.ID)
		if err != nil {
			return false, err.Error()
		}
		return j.State == rivertype.JobStateCompleted, string(j.State)
	})
	if jobs := e.reconcileJobs(t, tn, a.ID); len(jobs) != 1 {
		t.Fatalf("after the sweep the attempt has jobs %v, want one", jobs)
	}
	e.waitStatus(t, tn, a.ID, payments.Paid)
	e.paidOnce(t, tn, inv.ID, a.ID)
}

// TestReconcileWorker_Work: the job settles a final answer, snoozes while
// the payer may still pay (on the schedule), and fails for River's back-off
// when DGFiP cannot answer.
func TestReconcileWorker_Work(t *testing.T) {
	t.Parallel()
	e := sharedEnv(t)
	tn := e.commune(t, "worker")
	invs := e.invoices(t, tn, repeat("15;2,50", 4)...)
	snoozed := func(t *testing.T, err error, lo, hi time.Duration) {
		t.Helper()
		var s *rivertype.JobSnoozeError
		if !errors.As(err, &s) || s.Duration <= lo || s.Duration > hi {
			t.Fatalf("the job returned %v, want a snooze in ]%s, %s]", err, lo, hi)
		}
	}

	t.Run("Paid", func(t *testing.T) {
		t.Parallel()
		idOp, a := e.start(t, tn, invs[0].ID)
		e.complete(t, idOp, "V")
		if err := e.work(a); err != nil {
			t.Fatalf("the job returned %v, want done", err)
		}
		e.paidOnce(t, tn, invs[0].ID, a.ID)
	})
	t.Run("NoResultYet", func(t *testing.T) {
		t.Parallel()
		_, a := e.start(t, tn, invs[1].ID)
		snoozed(t, e.work(a), time.Minute, 2*time.Minute) // next look at 2 minutes
		if got := e.attempt(t, tn, a.ID); got.Status != payments.Pending || got.Lookups != 1 {
			t.Fatalf("%s, %d lookups; want pending, looked up once", got.Status, got.Lookups)
		}
	})
	t.Run("AfterReturn", func(t *testing.T) {
		t.Parallel()
		idOp, a := e.start(t, tn, invs[2].ID)
		if _, err := e.svc.Return(ctx(), tn, idOp); err != nil {
			t.Fatal(err)
		}
		snoozed(t, e.work(a), 0, 10*time.Second) // next look 10 s after the return
	})
	t.Run("DGFiPDown", func(t *testing.T) {
		t.Parallel()
		idOp, a := e.start(t, tn, invs[3].ID)
		e.complete(t, idOp, "P")
		e.gate.set(idOp, rule{fault: "tech"})
		defer e.gate.clear(idOp)
		err := e.work(a)
		var s *rivertype.JobSnoozeError
		if err == nil || errors.As(err, &s) {
			t.Fatalf("the job returned %v, want a failure for River to retry", err)
		}
		if got := e.attempt(t, tn, a.ID); got.Status != payments.Pending {
			t.Fatalf("%s, want pending", got.Status)
		}
	})
}

// TestService_Start_EndedMeanwhile: when DGFiP creates the operation so
// late that the reconciliation has given the attempt up, the payer is not
// sent to pay an operation the platform no longer follows.
//
// Not parallel: it moves the shared clock.
func TestService_Start_EndedMeanwhile(t *testing.T) {
	e := sharedEnv(t)
	tn := e.commune(t, "late-op")
	inv := e.invoice(t, tn)
	e.gate.set(creation(inv.RefdetOrEmpty()), rule{hang: true})
	defer e.gate.clear(creation(inv.RefdetOrEmpty()))
	started := make(chan error, 1)
	go func() {
		_, err := e.svc.Start(ctx(), tn, inv.ID, payer)
		started <- err
	}()
	var a payments.Attempt
	waitFor(t, "the attempt waiting for its operation", func() (bool, string) {
		e.inTx(t, tn.ID, func(tx *sqlx.Tx) error {
			as, err := payments.InvoiceAttempts(ctx(), tx, tn.ID, inv.ID)
			if len(as) > 0 {
				a = as[0]
			}
			return err
		})
		return a.ID != 0, "no attempt yet"
	})
	e.clk.Advance(2*payfip.Timeout + time.Second)
	e.work(a) //nolint:errcheck // its verdict is read from the attempt
	e.waitStatus(t, tn, a.ID, payments.Failed)

	e.gate.clear(creation(inv.RefdetOrEmpty())) // DGFiP answers at last
	if err := <-started; !errors.Is(err, payments.ErrUnavailable) {
		t.Fatalf("Start = %v, want ErrUnavailable", err)
	}
	if got := e.attempt(t, tn, a.ID); got.Status != payments.Failed || got.IDOp != nil {
		t.Fatalf("attempt %s with operation %v; want failed without one", got.Status, got.IDOp)
	}
	e.unpaid(t, tn, inv.ID)
}
