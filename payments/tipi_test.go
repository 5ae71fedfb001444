package payments_test

import (
	"errors"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/payments"
	"github.com/regie/regie/payments/dgfipsim"
	"github.com/regie/regie/tenant"
)

// startTIPI starts a TIPI payment, opens DGFiP's page as the payer's
// browser does, and returns the attempt and the stand-in's operation.
func (e *env) startTIPI(t testing.TB, tn tenant.Tenant, invoiceID int64) (payments.Attempt, dgfipsim.Payment) {
	t.Helper()
	page, err := e.svc.Start(ctx(), tn, invoiceID, payer)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	res, err := http.Get(page)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", page, res.StatusCode)
	}
	u, _ := url.Parse(page)
	cl, _ := url.Parse(u.Query().Get("urlcl"))
	id, err := strconv.ParseInt(cl.Query().Get("tentative"), 10, 64)
	if err != nil {
		t.Fatalf("urlcl %q names no attempt", cl)
	}
	a := e.attempt(t, tn, id)
	for _, p := range e.sim.Payments() {
		if p.Protocol == dgfipsim.TIPI && p.URLCl == cl.String() {
			return a, p
		}
	}
	t.Fatalf("the stand-in has no TIPI payment for %s", cl)
	return a, dgfipsim.Payment{}
}

func TestService_TIPIResult(t *testing.T) {
	t.Parallel()
	e := sharedEnv(t)
	tn := e.commune(t, "tipi", tipi)
	invs := e.invoices(t, tn, repeat("15;2,50", 6)...)

	t.Run("Start", func(t *testing.T) {
		t.Parallel()
		inv := invs[0]
		a, p := e.startTIPI(t, tn, inv.ID)
		if a.Status != payments.Pending || a.Protocol != tenant.ProtocolTIPI || a.IDOp != nil || a.Saisie != "T" {
			t.Fatalf("attempt %+v, want a pending TIPI attempt in test mode", a)
		}
		if p.NumCli != tn.Numcli || p.RefDet != inv.RefdetOrEmpty() || p.Amount != 3750 || p.Exer != "2015" || p.Saisie != "T" ||
			!strings.HasPrefix(p.URLCl, "http://paiement.localhost:"+e.svc.BaseURL.Port()+"/tipi?tentative=") {
			t.Fatalf("DGFiP was asked %+v", p)
		}
		if jobs := e.reconcileJobs(t, tn, a.ID); len(jobs) != 0 {
			t.Fatalf("a TIPI attempt has reconciliation jobs %v: there is nothing to look up", jobs)
		}
		if _, err := e.svc.Start(ctx(), tn, inv.ID, payer); !errors.Is(err, payments.ErrInProgress) {
			t.Fatalf("second Start = %v, want ErrInProgress", err)
		}
	})

	// Unsigned results are believed only when numcli, refdet and montant
	// match a pending attempt.
	t.Run("Forged", func(t *testing.T) {
		t.Parallel()
		inv := invs[1]
		a, p := e.startTIPI(t, tn, inv.ID)
		good := map[string]string{"numcli": p.NumCli, "exer": "2015", "refdet": p.RefDet, "montant": "3750", "mel": payer,
			"saisie": "T", "resultrans": "P", "numauto": "123456", "dattrans": "05102026", "heurtrans": "1015"}
		for _, c := range []struct{ name, field, value string }{
			{"wrong amount", "montant", "375"},
			{"amount not a number", "montant", "37,50"},
			{"wrong refdet", "refdet", p.RefDet + "1"},
			{"wrong numcli", "numcli", "000001"},
			{"no numcli", "numcli", ""},
		} {
			forged := maps.Clone(good)
			forged[c.field] = c.value
			if _, err := e.svc.TIPIResult(ctx(), forged); !errors.Is(err, payments.ErrNotFound) {
				t.Errorf("%s: TIPIResult = %v, want ErrNotFound", c.name, err)
			}
		}
		if got := e.attempt(t, tn, a.ID); got.Status != payments.Pending || len(e.received(t, tn, a.ID)) != 0 {
			t.Fatalf("forged results touched the attempt: %s, received %v", got.Status, e.received(t, tn, a.ID))
		}
		e.unpaid(t, tn, inv.ID)
	})

	t.Run("Paid", func(t *testing.T) {
		t.Parallel()
		inv := invs[2]
		a, p := e.startTIPI(t, tn, inv.ID)
		e.complete(t, p.ID, "P")
		fields := e.cb.tipiResult(t, p, 1)
		got, err := e.svc.TIPIResult(ctx(), fields)
		if err != nil || got.ID != a.ID || got.Status != payments.Paid {
			t.Fatalf("TIPIResult: attempt %d %s, %v; want attempt %d paid", got.ID, got.Status, err, a.ID)
		}
		pay := e.paidOnce(t, tn, inv.ID, a.ID)
		if got.Numauto != fields["numauto"] || got.TransactionAt == nil || !pay.Test || pay.Means != "card" {
			t.Fatalf("attempt %+v, payment %+v: DGFiP's details lost", got, pay)
		}
		want, _ := time.ParseInLocation("020120061504", fields["dattrans"]+fields["heurtrans"], tenant.Paris)
		if !got.TransactionAt.Equal(want) {
			t.Fatalf("transaction at %s, want %s", got.TransactionAt, want)
		}
		if inv := e.invoiceNow(t, tn, inv.ID); !inv.PaidTest {
			t.Fatal("a test-mode TIPI payment marked the invoice paid for real")
		}

		// the same result posted again, or another one, changes nothing
		// (what TIPIResult answers is not the point here)
		again := maps.Clone(fields)
		again["resultrans"] = "R"
		_, _ = e.svc.TIPIResult(ctx(), fields)
		_, _ = e.svc.TIPIResult(ctx(), again)
		if got := e.attempt(t, tn, a.ID); got.Status != payments.Paid || got.Resultrans != "P" {
			t.Fatalf("a second result changed the attempt: %s (%s)", got.Status, got.Resultrans)
		}
		e.paidOnce(t, tn, inv.ID, a.ID)
	})

	t.Run("Refused", func(t *testing.T) {
		t.Parallel()
		inv := invs[3]
		a, p := e.startTIPI(t, tn, inv.ID)
		e.complete(t, p.ID, "R")
		got, err := e.svc.TIPIResult(ctx(), e.cb.tipiResult(t, p, 1))
		if err != nil || got.ID != a.ID || got.Status != payments.Refused {
			t.Fatalf("TIPIResult: attempt %d %s, %v; want attempt %d refused", got.ID, got.Status, err, a.ID)
		}
		e.unpaid(t, tn, inv.ID)
	})

	// DGFiP never says a test attempt was paid for real, nor the reverse:
	// such a result matches no attempt of its kind, and changes nothing.
	t.Run("SaisieMismatch", func(t *testing.T) {
		t.Parallel()
		prod := e.commune(t, "tipiprod", tipi, production)
		prodInv := e.invoice(t, prod)
		for _, c := range []struct {
			name   string
			tn     tenant.Tenant
			inv    billing.Invoice
			saisie string
		}{{"real result for a test attempt", tn, invs[4], "X"}, {"test result for a real attempt", prod, prodInv, "T"}} {
			a, p := e.startTIPI(t, c.tn, c.inv.ID)
			fields := map[string]string{"numcli": p.NumCli, "exer": "2015", "refdet": p.RefDet, "montant": "3750", "mel": payer,
				"saisie": c.saisie, "resultrans": "P", "numauto": "123456", "dattrans": "05102026", "heurtrans": "1015"}
			if got, err := e.svc.TIPIResult(ctx(), fields); !errors.Is(err, payments.ErrNotFound) {
				t.Errorf("%s: TIPIResult = attempt %d %s, %v; want ErrNotFound", c.name, got.ID, got.Status, err)
			}
			if got := e.attempt(t, c.tn, a.ID); got.Status != payments.Pending {
				t.Errorf("%s: attempt %s, want pending", c.name, got.Status)
			}
			e.unpaid(t, c.tn, c.inv.ID)
		}
	})

	// The payer cancels on DGFiP's page, goes back and pays within the 20
	// minutes: the abandon keeps the attempt pending, the payment settles it.
	t.Run("AbandonThenPaid", func(t *testing.T) {
		t.Parallel()
		inv := invs[5]
		a, p := e.startTIPI(t, tn, inv.ID)
		post := func(result, numauto string) map[string]string {
			return map[string]string{"numcli": p.NumCli, "exer": "2015", "refdet": p.RefDet, "montant": "3750", "mel": payer,
				"saisie": "T", "resultrans": result, "numauto": numauto, "dattrans": "05102026", "heurtrans": "1015"}
		}
		abandon := post("A", "")
		got, err := e.svc.TIPIResult(ctx(), abandon)
		if err != nil || got.ID != a.ID || got.Status != payments.Pending || !got.ReturnedCancelled {
			t.Fatalf("abandon: attempt %d %s cancelled=%v, %v; want it pending and cancelled by the payer", got.ID, got.Status, got.ReturnedCancelled, err)
		}
		paid := post("P", "123456")
		if got, err := e.svc.TIPIResult(ctx(), paid); err != nil || got.Status != payments.Paid {
			t.Fatalf("paid after abandon: %s, %v", got.Status, err)
		}
		e.paidOnce(t, tn, inv.ID, a.ID)
		// a late duplicate is kept in the log and changes nothing
		if got, err := e.svc.TIPIResult(ctx(), paid); err != nil || got.Status != payments.Paid {
			t.Fatalf("duplicate: %s, %v", got.Status, err)
		}
		if rec := e.received(t, tn, a.ID); len(rec) != 3 {
			t.Fatalf("received %v, want the three posts recorded", rec)
		}
		e.paidOnce(t, tn, inv.ID, a.ID)
	})

	// Commune B's client number with commune A's reference and amount
	// (B even has an invoice with that reference) is no result of A's.
	t.Run("Isolation", func(t *testing.T) {
		t.Parallel()
		a := e.commune(t, "tipia", tipi)
		b := e.commune(t, "tipib", tipi)
		invA, invB := e.invoice(t, a), e.invoice(t, b)
		if invA.RefdetOrEmpty() != invB.RefdetOrEmpty() {
			t.Fatalf("refdets %s and %s differ: the case needs them equal", invA.RefdetOrEmpty(), invB.RefdetOrEmpty())
		}
		att, p := e.startTIPI(t, a, invA.ID)
		fields := map[string]string{"numcli": b.Numcli, "exer": "2015", "refdet": p.RefDet, "montant": "3750",
			"saisie": "T", "resultrans": "P", "numauto": "123456"}
		if _, err := e.svc.TIPIResult(ctx(), fields); !errors.Is(err, payments.ErrNotFound) {
			t.Fatalf("TIPIResult with B's numcli and A's refdet = %v, want ErrNotFound", err)
		}
		if got := e.attempt(t, a, att.ID); got.Status != payments.Pending || len(e.received(t, a, att.ID)) != 0 {
			t.Fatalf("A's attempt touched: %s, received %v", got.Status, e.received(t, a, att.ID))
		}
		e.unpaid(t, a, invA.ID)
		e.unpaid(t, b, invB.ID)
	})
}
