package payments_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/payments"
	"github.com/regie/regie/payments/payfip"
	"github.com/regie/regie/tenant"
)

func TestService_Start(t *testing.T) {
	t.Parallel()
	e := sharedEnv(t)

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		tn := e.commune(t, "start")
		inv := e.invoice(t, tn)
		page, err := e.svc.Start(ctx(), tn, inv.ID, payer)
		if err != nil {
			t.Fatalf("Start: %v", err)
		}
		idOp := idOpOf(t, page)
		if !strings.HasPrefix(page, e.gateTS.URL+"/tpa/paiementws.web?idop=") {
			t.Fatalf("Start sends the payer to %q, want DGFiP's payment page", page)
		}
		a := e.attemptByIDOp(t, tn, idOp)
		want := payments.Attempt{TenantID: tn.ID, InvoiceID: inv.ID, Protocol: tenant.ProtocolPayFiP, Mode: tenant.ModeTest,
			Saisie: "T", Numcli: tn.Numcli, Refdet: inv.RefdetOrEmpty(), Exer: 2015, AmountCents: 3750, PayerEmail: payer, Status: payments.Pending}
		if a.TenantID != want.TenantID || a.InvoiceID != want.InvoiceID || a.Protocol != want.Protocol || a.Mode != want.Mode ||
			a.Saisie != want.Saisie || a.Numcli != want.Numcli || a.Refdet != want.Refdet || a.Exer != want.Exer ||
			a.AmountCents != want.AmountCents || a.PayerEmail != want.PayerEmail || a.Status != want.Status {
			t.Fatalf("attempt %+v,\nwant %+v", a, want)
		}
		p, ok := e.sim.Payment(idOp)
		if !ok {
			t.Fatalf("DGFiP does not know operation %s", idOp)
		}
		port := e.svc.BaseURL.Port()
		if p.NumCli != tn.Numcli || p.RefDet != a.Refdet || p.Amount != 3750 || p.Exer != "2015" || p.Saisie != "T" || p.Mel != payer ||
			p.URLNotif != "http://paiement.localhost:"+port+"/notification" ||
			p.URLRedirect != "http://"+tn.Slug+".localhost:"+port+"/paiement/retour" {
			t.Fatalf("DGFiP was asked %+v", p)
		}
		if jobs := e.reconcileJobs(t, tn, a.ID); len(jobs) != 1 || jobs[0] != "scheduled" {
			t.Fatalf("reconciliation jobs %v, want one scheduled", jobs)
		}
	})

	t.Run("Saisie", func(t *testing.T) {
		t.Parallel()
		for _, c := range []struct {
			mode tenant.Mode
			opt  func(*tenant.Tenant)
			want string
		}{{tenant.ModeActivation, activation, "X"}, {tenant.ModeProduction, production, "W"}} {
			tn := e.commune(t, "saisie", c.opt)
			inv := e.invoice(t, tn)
			idOp, a := e.start(t, tn, inv.ID)
			if p, _ := e.sim.Payment(idOp); a.Saisie != c.want || p.Saisie != c.want {
				t.Errorf("mode %s: attempt saisie %q, DGFiP got %q, want %q", c.mode, a.Saisie, p.Saisie, c.want)
			}
		}
	})

	t.Run("ConcurrentClicks", func(t *testing.T) {
		t.Parallel()
		tn := e.commune(t, "clicks")
		inv := e.invoice(t, tn)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		ready := make(chan struct{})
		for i := range errs {
			wg.Go(func() {
				<-ready
				_, errs[i] = e.svc.Start(ctx(), tn, inv.ID, payer)
			})
		}
		close(ready)
		wg.Wait()
		ok, busy := 0, 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, payments.ErrInProgress):
				busy++
			}
		}
		if ok != 1 || busy != 1 {
			t.Fatalf("two clicks gave %v, want one page and one ErrInProgress", errs)
		}
		if as := e.invoiceAttempts(t, tn, inv.ID); len(as) != 1 {
			t.Fatalf("%d attempts, want 1", len(as))
		}
	})

	t.Run("RetryAfterCancel", func(t *testing.T) {
		t.Parallel()
		tn := e.commune(t, "retry")
		inv := e.invoice(t, tn)
		idOp, first := e.start(t, tn, inv.ID)
		if _, err := e.svc.Start(ctx(), tn, inv.ID, payer); !errors.Is(err, payments.ErrInProgress) {
			t.Fatalf("second Start while the first may complete: %v, want ErrInProgress", err)
		}
		e.complete(t, idOp, "A") // "Annuler" on DGFiP's page
		a, err := e.svc.Return(ctx(), tn, idOp)
		if err != nil || a.Status != payments.Pending || !a.ReturnedCancelled {
			t.Fatalf("Return after A: %s cancelled=%v, %v; want pending, cancelled", a.Status, a.ReturnedCancelled, err)
		}
		idOp2, second := e.start(t, tn, inv.ID)
		if idOp2 == idOp || second.ID == first.ID {
			t.Fatalf("the retry reused operation %s", idOp)
		}
		if got := e.attempt(t, tn, first.ID); got.Status != payments.Pending {
			t.Fatalf("the cancelled attempt is %s, want still pending (reconciliation watches it)", got.Status)
		}
		if jobs := e.reconcileJobs(t, tn, first.ID); len(jobs) == 0 {
			t.Fatal("the cancelled attempt has no reconciliation job")
		}
	})

	t.Run("NotPayable", func(t *testing.T) {
		t.Parallel()
		tn := e.commune(t, "notpay")
		invs := e.invoices(t, tn, "15;2,50", "15;2,50", "1;0,50")
		paid, cancelled, tiny := invs[0], invs[1], invs[2]
		e.inTx(t, tn.ID, func(tx *sqlx.Tx) error {
			if _, err := billing.MarkPaid(ctx(), tx, tn.ID, paid.ID, e.clk.Now(), false); err != nil {
				return err
			}
			_, err := billing.CancelInvoice(ctx(), tx, tn.ID, cancelled.Ref(), "erreur de saisie", e.clk.Now())
			return err
		})
		for _, c := range []struct {
			name string
			id   int64
		}{{"paid", paid.ID}, {"cancelled", cancelled.ID}, {"under 1 €", tiny.ID}} {
			_, err := e.svc.Start(ctx(), tn, c.id, payer)
			var np *payments.NotPayableError
			if !errors.As(err, &np) || !errors.Is(err, payments.ErrNotPayable) {
				t.Errorf("%s: Start = %v, want a *NotPayableError", c.name, err)
			}
			if as := e.invoiceAttempts(t, tn, c.id); len(as) != 0 {
				t.Errorf("%s: %d attempts stored, want none", c.name, len(as))
			}
		}
	})

	t.Run("DGFiPUnavailable", func(t *testing.T) {
		t.Parallel()
		tn := e.commune(t, "down")
		inv := e.invoice(t, tn)
		down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeFault(w, "TechIndisponibiliteErreur", "999", "Service momentanément indisponible.")
		}))
		defer down.Close()
		svc := *e.svc
		svc.PayFiP = payfip.New(down.URL, nil)
		_, err := svc.Start(ctx(), tn, inv.ID, payer)
		if !errors.Is(err, payments.ErrUnavailable) {
			t.Fatalf("Start with DGFiP down = %v, want ErrUnavailable", err)
		}
		as := e.invoiceAttempts(t, tn, inv.ID)
		if len(as) != 1 || as[0].Status != payments.Failed || as[0].Error == "" || as[0].IDOp != nil {
			t.Fatalf("attempts %+v, want one in error, without operation", as)
		}
		// nothing can complete: the family may try again at once
		if _, a := e.start(t, tn, inv.ID); a.Status != payments.Pending {
			t.Fatalf("retry once DGFiP is back: %s", a.Status)
		}
	})

	t.Run("DGFiPRefuses", func(t *testing.T) {
		t.Parallel()
		tn := e.commune(t, "refuse", func(tn *tenant.Tenant) { tn.Numcli = "999999" }) // unknown to DGFiP: fault T1
		inv := e.invoice(t, tn)
		_, err := e.svc.Start(ctx(), tn, inv.ID, payer)
		if !payfip.IsFault(err, "T1") || errors.Is(err, payments.ErrUnavailable) {
			t.Fatalf("Start with an unknown numcli = %v, want fault T1, not ErrUnavailable", err)
		}
		if as := e.invoiceAttempts(t, tn, inv.ID); len(as) != 1 || as[0].Status != payments.Failed {
			t.Fatalf("attempts %+v, want one in error", as)
		}
	})
}

func TestService_Return(t *testing.T) {
	t.Parallel()
	e := sharedEnv(t)
	tn := e.commune(t, "return")

	// Every resultrans, as the lookup at the payer's return reads it.
	tests := []struct {
		result    string // at the stand-in ("" = no result yet: P5)
		rewrite   string // what the lookup says instead, for letters the stand-in cannot give
		want      payments.Status
		paid      bool
		means     string
		cancelled bool
	}{
		{result: "P", want: payments.Paid, paid: true, means: "card"},
		{result: "V", want: payments.Paid, paid: true, means: "debit"},
		{result: "R", want: payments.Refused},
		{result: "Z", want: payments.Refused},
		{result: "A", want: payments.Pending, cancelled: true},
		{result: "", want: payments.Pending},
		{result: "P", rewrite: "Q", want: payments.Failed},
	}
	invs := e.invoices(t, tn, repeat("15;2,50", len(tests))...)
	for i, tt := range tests {
		name := tt.result + tt.rewrite
		if tt.rewrite != "" {
			name = "unknown letter " + tt.rewrite
		} else if tt.result == "" {
			name = "no result yet"
		}
		inv := invs[i]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			idOp, a := e.start(t, tn, inv.ID)
			if tt.result != "" {
				e.complete(t, idOp, tt.result)
			}
			if tt.rewrite != "" {
				e.gate.set(idOp, rule{resultrans: tt.rewrite})
			}
			got, err := e.svc.Return(ctx(), tn, idOp)
			if err != nil {
				t.Fatalf("Return: %v", err)
			}
			stored := e.attempt(t, tn, a.ID)
			if got.Status != tt.want || stored.Status != tt.want {
				t.Fatalf("Return says %s, stored %s, want %s", got.Status, stored.Status, tt.want)
			}
			if stored.ReturnedAt == nil || stored.ReturnedCancelled != tt.cancelled {
				t.Fatalf("returned_at %v, cancelled %v; want a return, cancelled %v", stored.ReturnedAt, stored.ReturnedCancelled, tt.cancelled)
			}
			// Return looks DGFiP up once. Leaving the attempt pending, it
			// brings the reconciliation's check forward, which River may
			// already have run: a lookup of its own, logged as such.
			lookups, log := e.lookups(t, tn, a.ID)
			if n := countOf(log, "retour"); n != 1 {
				t.Fatalf("Return looked up %d times, want 1 (log %v)", n, log)
			}
			if again := countOf(log, "reconciliation"); lookups != 1+again {
				t.Fatalf("%d lookups, want Return's and the reconciliation's %d (log %v)", lookups, again, log)
			}
			if !tt.paid {
				e.unpaid(t, tn, inv.ID)
				return
			}
			p := e.paidOnce(t, tn, inv.ID, a.ID)
			if p.Means != tt.means || p.AmountCents != 3750 || p.Channel != "online" || !p.Test {
				t.Fatalf("payment %+v, want online, %s, 3750, test", p, tt.means)
			}
			if stored.Resultrans != tt.result || stored.Numauto == "" || stored.TransactionAt == nil || stored.SettledAt == nil {
				t.Fatalf("paid attempt %+v lacks DGFiP's details", stored)
			}
			if !p.PaidAt.Equal(*stored.TransactionAt) {
				t.Fatalf("paid at %s, want DGFiP's transaction time %s", p.PaidAt, stored.TransactionAt)
			}
		})
	}

	t.Run("UnknownOperation", func(t *testing.T) {
		t.Parallel()
		if _, err := e.svc.Return(ctx(), tn, "9c4b6f3e-0000-1000-8000-000000000000"); !errors.Is(err, payments.ErrNotFound) {
			t.Fatalf("Return of an unknown idop = %v, want ErrNotFound", err)
		}
	})
}

// TestService_TestMode: a test-mode commune's payment marks its invoice
// paid "(test)"; a production one's does not.
func TestService_TestMode(t *testing.T) {
	t.Parallel()
	e := sharedEnv(t)
	for _, c := range []struct {
		name string
		opts []func(*tenant.Tenant)
		test bool
	}{{"test", nil, true}, {"production", []func(*tenant.Tenant){production}, false}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			tn := e.commune(t, "mode", c.opts...)
			inv := e.invoice(t, tn)
			idOp, a := e.start(t, tn, inv.ID)
			e.complete(t, idOp, "P")
			if _, err := e.svc.Return(ctx(), tn, idOp); err != nil {
				t.Fatal(err)
			}
			p := e.paidOnce(t, tn, inv.ID, a.ID)
			got := e.invoiceNow(t, tn, inv.ID)
			if got.PaidTest != c.test || p.Test != c.test || e.attempt(t, tn, a.ID).Test() != c.test {
				t.Fatalf("invoice paid_test %v, payment test %v; want %v", got.PaidTest, p.Test, c.test)
			}
			if want := map[bool]billing.FamilyStatus{true: billing.StatusPaidTest, false: billing.StatusPaid}[c.test]; billing.StatusFor(got, billing.Today(e.clk.Now()), false) != want {
				t.Fatalf("the family reads %q, want %q", billing.StatusFor(got, billing.Today(e.clk.Now()), false), want)
			}
		})
	}
}

// TestService_Isolation: commune B cannot see or settle commune A's
// attempts.
func TestService_Isolation(t *testing.T) {
	t.Parallel()
	e := sharedEnv(t)
	a, b := e.commune(t, "isola"), e.commune(t, "isolb")
	invA := e.invoice(t, a)
	e.invoice(t, b) // same reference, same amount, in B
	idOpA, attA := e.start(t, a, invA.ID)
	e.complete(t, idOpA, "P") // a lookup would pay it

	t.Run("Return", func(t *testing.T) {
		if _, err := e.svc.Return(ctx(), b, idOpA); !errors.Is(err, payments.ErrNotFound) {
			t.Fatalf("Return on B's host with A's idop = %v, want ErrNotFound", err)
		}
		got := e.attempt(t, a, attA.ID)
		if got.Status != payments.Pending || got.Lookups != 0 || got.ReturnedAt != nil {
			t.Fatalf("A's attempt changed: %s, %d lookups, returned %v", got.Status, got.Lookups, got.ReturnedAt)
		}
		e.unpaid(t, a, invA.ID)
	})

	t.Run("Reads", func(t *testing.T) {
		err := tenant.WithTx(ctx(), e.db, b.ID, func(tx *sqlx.Tx) error {
			if _, err := payments.AttemptByID(ctx(), tx, b.ID, attA.ID); !errors.Is(err, payments.ErrNotFound) {
				t.Errorf("AttemptByID of A's attempt in B = %v, want ErrNotFound", err)
			}
			if _, err := payments.AttemptByIDOp(ctx(), tx, b.ID, idOpA); !errors.Is(err, payments.ErrNotFound) {
				t.Errorf("AttemptByIDOp of A's operation in B = %v, want ErrNotFound", err)
			}
			// even naming A while in B's transaction: row-level security
			if _, err := payments.AttemptByID(ctx(), tx, a.ID, attA.ID); !errors.Is(err, payments.ErrNotFound) {
				t.Errorf("AttemptByID(A) inside B's transaction = %v, want ErrNotFound", err)
			}
			if as, err := payments.InvoiceAttempts(ctx(), tx, a.ID, invA.ID); err != nil || len(as) != 0 {
				t.Errorf("InvoiceAttempts(A) inside B's transaction = %d, %v; want none", len(as), err)
			}
			if as, err := payments.Attempts(ctx(), tx, b.ID, 100); err != nil || len(as) != 0 {
				t.Errorf("B's attempts = %d, %v; want none", len(as), err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	t.Run("Start", func(t *testing.T) {
		if _, err := e.svc.Start(ctx(), b, invA.ID, payer); !errors.Is(err, billing.ErrNotFound) {
			t.Fatalf("Start on B of A's invoice = %v, want billing.ErrNotFound", err)
		}
	})
}

func (e *env) invoiceAttempts(t testing.TB, tn tenant.Tenant, invoiceID int64) []payments.Attempt {
	t.Helper()
	var as []payments.Attempt
	e.inTx(t, tn.ID, func(tx *sqlx.Tx) (err error) {
		as, err = payments.InvoiceAttempts(context.Background(), tx, tn.ID, invoiceID)
		return err
	})
	return as
}
