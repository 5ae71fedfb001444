package payments_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/regie/regie/payments"
)

func TestService_Notify(t *testing.T) {
	t.Parallel()
	e := sharedEnv(t)
	tn := e.commune(t, "notify")
	invs := e.invoices(t, tn, repeat("15;2,50", 6)...)

	// DGFiP's notifier sends the same notification ten times at once.
	t.Run("TenDuplicates", func(t *testing.T) {
		t.Parallel()
		inv := invs[0]
		idOp, a := e.start(t, tn, inv.ID)
		e.complete(t, idOp, "P")
		waitFor(t, "the stand-in's notification", func() (bool, string) {
			n := e.cb.notifications(idOp)
			return n > 0, fmt.Sprintf("%d notifications", n)
		})
		var wg sync.WaitGroup
		errs := make([]error, 10)
		ready := make(chan struct{})
		for i := range errs {
			wg.Go(func() {
				<-ready
				errs[i] = e.svc.Notify(ctx(), idOp)
			})
		}
		close(ready)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("notification %d: %v", i, err)
			}
		}
		e.waitStatus(t, tn, a.ID, payments.Paid)
		e.paidOnce(t, tn, inv.ID, a.ID)
		if n := countOf(e.received(t, tn, a.ID), "notification"); n != 10 {
			t.Fatalf("%d notifications recorded, want 10", n)
		}
	})

	t.Run("BeforeReturn", func(t *testing.T) {
		t.Parallel()
		inv := invs[1]
		idOp, a := e.start(t, tn, inv.ID)
		e.complete(t, idOp, "P")
		if err := e.svc.Notify(ctx(), idOp); err != nil {
			t.Fatal(err)
		}
		e.waitStatus(t, tn, a.ID, payments.Paid)
		got, err := e.svc.Return(ctx(), tn, idOp)
		if err != nil || got.Status != payments.Paid {
			t.Fatalf("Return after the notification: %s, %v; want paid", got.Status, err)
		}
		e.paidOnce(t, tn, inv.ID, a.ID)
		if stored := e.attempt(t, tn, a.ID); stored.ReturnedAt == nil || stored.ReturnedCancelled {
			t.Fatalf("return not noted: %v, cancelled %v", stored.ReturnedAt, stored.ReturnedCancelled)
		}
	})

	t.Run("AfterReturn", func(t *testing.T) {
		t.Parallel()
		inv := invs[2]
		idOp, a := e.start(t, tn, inv.ID)
		e.complete(t, idOp, "P")
		if got, err := e.svc.Return(ctx(), tn, idOp); err != nil || got.Status != payments.Paid {
			t.Fatalf("Return: %s, %v; want paid", got.Status, err)
		}
		jobs := e.reconcileJobs(t, tn, a.ID)
		if err := e.svc.Notify(ctx(), idOp); err != nil {
			t.Fatalf("late notification: %v", err)
		}
		e.paidOnce(t, tn, inv.ID, a.ID)
		if got := e.reconcileJobs(t, tn, a.ID); len(got) != len(jobs) {
			t.Fatalf("a notification for a paid attempt queued a check: jobs %v, then %v", jobs, got)
		}
		if got := e.received(t, tn, a.ID); !slices.Contains(got, "notification") {
			t.Fatalf("received %v: the late notification is not recorded", got)
		}
	})

	// The notification is logged with the lookup's answer: a failed lookup,
	// or one DGFiP does not answer in time, still leaves both in the
	// attempt's log.
	for i, r := range []rule{{fault: "tech"}, {hang: true}} {
		t.Run(fmt.Sprintf("DGFiPDown/hang=%v", r.hang), func(t *testing.T) {
			t.Parallel()
			inv := invs[4+i]
			idOp, a := e.start(t, tn, inv.ID)
			e.complete(t, idOp, "P")
			e.gate.set(idOp, r)
			defer e.gate.clear(idOp)
			if err := e.svc.Notify(ctx(), idOp); err != nil {
				t.Fatalf("Notify with DGFiP down: %v", err)
			}
			// The reconciliation, brought forward, may already have looked
			// again: its entries come after, under their own name.
			got := e.attempt(t, tn, a.ID)
			lookups, log := e.lookups(t, tn, a.ID)
			again := countOf(log, "reconciliation")
			if got.Status != payments.Pending || lookups != 1+again {
				t.Fatalf("%s, %d lookups; want pending, looked up once by the notification (log %v)", got.Status, lookups, log)
			}
			if len(log) != 2+again || !slices.Equal(log[:2], []string{"notification", "notification-lookup"}) {
				t.Fatalf("received %v, want the notification then its failed lookup", log)
			}
			if len(e.reconcileJobs(t, tn, a.ID)) == 0 {
				t.Fatal("no reconciliation will look again")
			}
			e.unpaid(t, tn, inv.ID)
		})
	}

	t.Run("UnknownOperation", func(t *testing.T) {
		t.Parallel()
		inv := invs[3]
		_, a := e.start(t, tn, inv.ID)
		before, jobs := e.received(t, tn, a.ID), e.reconcileJobs(t, tn, a.ID)
		if err := e.svc.Notify(ctx(), "6b1d4a2e-1cd4-11ea-8cca-0213ad91a103"); !errors.Is(err, payments.ErrNotFound) {
			t.Fatalf("Notify of an unknown idop = %v, want ErrNotFound", err)
		}
		if err := e.svc.Notify(ctx(), ""); !errors.Is(err, payments.ErrNotFound) {
			t.Fatalf("Notify without idop = %v, want ErrNotFound", err)
		}
		got := e.attempt(t, tn, a.ID)
		if got.Status != payments.Pending || len(e.received(t, tn, a.ID)) != len(before) || len(e.reconcileJobs(t, tn, a.ID)) != len(jobs) {
			t.Fatalf("an unknown notification changed the commune's attempt: %s, received %v, jobs %v", got.Status, e.received(t, tn, a.ID), e.reconcileJobs(t, tn, a.ID))
		}
		e.unpaid(t, tn, inv.ID)
	})
}

func countOf(xs []string, x string) int {
	n := 0
	for _, y := range xs {
		if y == x {
			n++
		}
	}
	return n
}
