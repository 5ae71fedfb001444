package payments_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/payments"
	"github.com/regie/regie/payments/dgfipsim"
	"github.com/regie/regie/tenant"
)

// TestPaymentChaos plays randomized payment trials against the DGFiP
// stand-in: payers who pay, refuse, cancel, cancel then pay, or vanish;
// notifications duplicated, reordered, delayed, lost and forged; browser
// returns repeated or forged on another commune's host; reconciliation runs
// beside River's; DGFiP failing lookups for a while; counter payments
// racing online ones; and "process kills" (calls whose context is cut at a
// random point, as when a server dies mid-request). Then it settles
// everything and checks, for every invoice, that the money DGFiP took is
// the invoice's paid amount plus its recorded overpayments, that no invoice
// is paid twice and that no paid operation is lost.
//
// make test runs 200 trials; REGIE_SOAK=1 (make soak) runs 1,000;
// REGIE_CHAOS_TRIALS and REGIE_CHAOS_SEED override the count and the seed.
//
// Not parallel: it moves the shared clock (by whole rounds of 21 minutes,
// then forward to the same time of day on the next day, so later tests
// stay in the daytime).
func TestPaymentChaos(t *testing.T) {
	e := sharedEnv(t)
	trials := 200
	if os.Getenv("REGIE_SOAK") != "" {
		trials = 1000
	}
	if s := os.Getenv("REGIE_CHAOS_TRIALS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("REGIE_CHAOS_TRIALS=%q", s)
		}
		trials = n
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("REGIE_CHAOS_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("REGIE_CHAOS_SEED=%q", s)
		}
		seed = n
	}
	t.Logf("payment chaos: %d trials, seed %d (REGIE_CHAOS_SEED=%d to replay the scripts)", trials, seed, seed)
	started := e.clk.Now()
	defer func() {
		// back to the same time of day, on a later day
		if moved := e.clk.Now().Sub(started); moved < 24*time.Hour {
			e.clk.Advance(24*time.Hour - moved)
		}
	}()

	communes := []tenant.Tenant{
		e.commune(t, "chaos-test"),
		e.commune(t, "chaos-prod", production),
		e.commune(t, "chaos-activ", activation),
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	cs := &chaos{e: e, seed: seed, communes: communes}
	for i := range trials {
		cs.trials = append(cs.trials, &chaosTrial{n: i, tn: communes[rng.IntN(len(communes))],
			rng: rand.New(rand.NewPCG(seed, uint64(i)+1))})
	}
	// one invoice per trial, between 1 € and 250 €
	for _, c := range communes {
		var mine []*chaosTrial
		var amounts []string
		for _, tr := range cs.trials {
			if tr.tn.ID == c.ID {
				mine = append(mine, tr)
				cents := 100 + tr.rng.IntN(24901)
				amounts = append(amounts, fmt.Sprintf("1;%d,%02d", cents/100, cents%100))
			}
		}
		if len(mine) == 0 {
			continue
		}
		for i, inv := range e.invoices(t, c, amounts...) {
			mine[i].inv = inv
		}
	}

	// Rounds of trials played side by side; after each, the clock moves past
	// DGFiP's 20 minutes, so River's reconciliation settles what was left.
	const perRound, parallel = 50, 8
	began := time.Now()
	for from := 0; from < trials; from += perRound {
		round := cs.trials[from:min(from+perRound, trials)]
		work := make(chan *chaosTrial)
		var wg sync.WaitGroup
		for range parallel {
			wg.Go(func() {
				for tr := range work {
					cs.play(t, tr)
				}
			})
		}
		for _, tr := range round {
			work <- tr
		}
		close(work)
		wg.Wait()
		if t.Failed() {
			t.Fatalf("seed %d: stopping after round %d", seed, from/perRound+1)
		}
		cs.clearFaults()
		e.clk.Advance(payments.PayerWindow + time.Minute)
	}
	played := time.Since(began)

	// Settle everything: what River has not done yet, a reconciliation run
	// does; attempts never created at DGFiP fail, the others end.
	e.clk.Advance(31 * time.Minute)
	settleStart := time.Now()
	sweep := &payments.SweepWorker{S: e.svc}
	if err := sweep.Work(ctx(), &river.Job[payments.SweepArgs]{}); err != nil {
		t.Fatalf("sweep: %v", err)
	}
	waitWithin(t, 2*time.Minute, "every chaos attempt final", func() (bool, string) {
		open := cs.openAttempts(t)
		for _, a := range open {
			cs.reconcile(context.Background(), a.TenantID, a.ID) //nolint:errcheck // looked at again next time
		}
		return len(open) == 0, fmt.Sprintf("%d open attempts", len(open))
	})
	cs.verify(t)
	t.Logf("payment chaos: %d trials in %s (settled in %s); %s", trials, played.Round(time.Millisecond),
		time.Since(settleStart).Round(time.Millisecond), cs.stats.String())
}

// chaos is one run: its trials and what they counted.
type chaos struct {
	e        *env
	seed     uint64
	communes []tenant.Tenant
	trials   []*chaosTrial

	mu      sync.Mutex
	faulted []string // operations whose lookups the gate fails until the round ends

	stats chaosStats
}

// chaosTrial is one invoice and the script played on it.
type chaosTrial struct {
	n   int
	tn  tenant.Tenant
	inv billing.Invoice
	rng *rand.Rand

	mu  sync.Mutex
	ops []string // the operations the payer's browser reached
}

type chaosStats struct {
	attempts, inProgress, notPayable, starts, killed, killedStarts     atomic.Int64
	paid, refused, abandoned, cancelledThenPaid, lostBrowser, lateP    atomic.Int64
	notifications, lostNotifications, forged, returns, reconciliations atomic.Int64
	counter, techFaults                                                atomic.Int64
}

func (s *chaosStats) String() string {
	return fmt.Sprintf("%d starts (%d refused as in progress, %d not payable, %d killed), %d paid (%d after a cancel, %d late on an older operation), "+
		"%d refused, %d abandoned, %d vanished, %d notifications (%d lost), %d forged callbacks, %d returns, %d reconciliation runs, "+
		"%d counter payments, %d DGFiP outages, %d calls killed",
		s.starts.Load(), s.inProgress.Load(), s.notPayable.Load(), s.killedStarts.Load(), s.paid.Load(), s.cancelledThenPaid.Load(), s.lateP.Load(),
		s.refused.Load(), s.abandoned.Load(), s.lostBrowser.Load(), s.notifications.Load(), s.lostNotifications.Load(), s.forged.Load(),
		s.returns.Load(), s.reconciliations.Load(), s.counter.Load(), s.techFaults.Load(), s.killed.Load())
}

// killPlan says whether one call is cut short, as when the process
// serving it is killed, and when. It is drawn when the script is written,
// so that the trial's random source is only used by its own goroutine.
type killPlan struct {
	kill  bool
	after time.Duration
}

func (cs *chaos) killPlan(rng *rand.Rand, pct int) killPlan {
	if rng.IntN(100) >= pct {
		return killPlan{}
	}
	cs.stats.killed.Add(1)
	return killPlan{kill: true, after: time.Duration(rng.IntN(4000)) * time.Microsecond}
}

// context returns the call's context: whole, or cut after the plan's
// moment.
func (k killPlan) context() (context.Context, bool, func()) {
	if !k.kill {
		return context.Background(), false, func() {}
	}
	ctx, cancel := context.WithTimeout(context.Background(), k.after)
	return ctx, true, cancel
}

// reconcile runs the reconciliation job's work for an attempt, as another
// worker process would beside River's.
func (cs *chaos) reconcile(ctx context.Context, tid tenant.ID, id int64) error {
	cs.stats.reconciliations.Add(1)
	w := &payments.ReconcileWorker{S: cs.e.svc}
	err := w.Work(ctx, &river.Job[payments.ReconcileArgs]{Args: payments.ReconcileArgs{TenantID: tid, AttemptID: id}})
	var snooze *river.JobSnoozeError
	if errors.As(err, &snooze) {
		return nil
	}
	return err
}

func (cs *chaos) clearFaults() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for _, op := range cs.faulted {
		cs.e.gate.clear(op)
	}
	cs.faulted = nil
}

// play runs one trial: one to three payment attempts on its invoice, and
// maybe a counter payment at a random moment.
func (cs *chaos) play(t *testing.T, tr *chaosTrial) {
	rng := tr.rng
	counterAt := -1
	if rng.IntN(100) < 8 {
		counterAt = rng.IntN(3)
	}
	// an operation the payer cancelled stays open at DGFiP: the payer may
	// come back to it and pay, late, after paying a newer one
	var cancelled []string
	for step := range 1 + rng.IntN(3) {
		if step == counterAt {
			cs.counterPayment(t, tr)
		}
		idOp, ok := cs.attempt(t, tr)
		if !ok {
			continue
		}
		if len(cancelled) > 0 && rng.IntN(100) < 30 {
			old := cancelled[rng.IntN(len(cancelled))]
			if err := cs.e.sim.Complete(old, "P"); err == nil {
				cs.stats.lateP.Add(1)
				cs.notify(t, tr, old, killPlan{})
			}
		}
		if a, ok := cs.attemptOf(t, tr.tn, idOp); ok && a.ReturnedCancelled && !a.Status.Final() {
			cancelled = append(cancelled, idOp)
		}
	}
	if counterAt == 3 {
		cs.counterPayment(t, tr)
	}
}

// attempt starts one payment and plays what follows it, shuffled; it
// returns the operation when the payer's browser reached DGFiP.
func (cs *chaos) attempt(t *testing.T, tr *chaosTrial) (string, bool) {
	rng := tr.rng
	cs.stats.attempts.Add(1)
	kctx, killed, cancel := cs.killPlan(rng, 8).context()
	page, err := cs.e.svc.Start(kctx, tr.tn, tr.inv.ID, payer)
	cancel()
	var np *payments.NotPayableError
	switch {
	case err == nil:
		cs.stats.starts.Add(1)
	case errors.Is(err, payments.ErrInProgress):
		cs.stats.inProgress.Add(1)
		return "", false
	case errors.As(err, &np):
		cs.stats.notPayable.Add(1)
		return "", false
	case killed:
		cs.stats.killedStarts.Add(1)
		return "", false // the browser got no answer: it never reached DGFiP
	default:
		t.Errorf("seed %d trial %d: Start: %v", cs.seed, tr.n, err)
		return "", false
	}
	idOp := idOpOf(t, page)
	tr.mu.Lock()
	tr.ops = append(tr.ops, idOp)
	tr.mu.Unlock()

	if rng.IntN(100) < 6 {
		// DGFiP's lookups fail for this operation until the round ends
		cs.stats.techFaults.Add(1)
		cs.e.gate.set(idOp, rule{fault: "tech"})
		cs.mu.Lock()
		cs.faulted = append(cs.faulted, idOp)
		cs.mu.Unlock()
	}

	// what the payer does on DGFiP's page
	var results []string
	switch r := rng.IntN(100); {
	case r < 40:
		results = []string{"P"}
	case r < 48:
		results = []string{"V"}
	case r < 58:
		results = []string{[]string{"R", "Z"}[rng.IntN(2)]}
	case r < 73:
		results = []string{"A"}
	case r < 83:
		results = []string{"A", "P"}
	default:
		cs.stats.lostBrowser.Add(1) // the payer closes the tab: no result, no return
	}
	var events []func()
	if len(results) > 0 {
		// the payer's results keep their order (A before P)
		events = append(events, func() {
			for _, res := range results {
				if err := cs.e.sim.Complete(idOp, res); err != nil {
					t.Errorf("seed %d trial %d: Complete(%s): %v", cs.seed, tr.n, res, err)
				}
			}
		})
	}
	switch {
	case len(results) == 0:
	case results[len(results)-1] == "P" && len(results) > 1:
		cs.stats.cancelledThenPaid.Add(1)
	case results[0] == "P" || results[0] == "V":
		cs.stats.paid.Add(1)
	case results[0] == "A":
		cs.stats.abandoned.Add(1)
	default:
		cs.stats.refused.Add(1)
	}
	// DGFiP's notifications: none (lost), one, or duplicates, each perhaps
	// delayed; they may come before the result they announce
	notes := []int{0, 1, 1, 1, 2, 3}[rng.IntN(6)]
	if notes == 0 {
		cs.stats.lostNotifications.Add(1)
	}
	for range notes {
		k := cs.killPlan(rng, 10)
		events = append(events, func() { cs.notify(t, tr, idOp, k) })
	}
	// the payer's browser comes back (after the result, or too early, or
	// twice)
	if len(results) > 0 {
		for range []int{0, 1, 1, 1, 2}[rng.IntN(5)] {
			k := cs.killPlan(rng, 10)
			events = append(events, func() { cs.browserReturn(t, tr, idOp, k) })
		}
	}
	for range rng.IntN(3) {
		kind, fake := rng.IntN(3), fmt.Sprintf("%08x-1cd4-11ea-8cca-%012x", rng.Uint32(), rng.Uint64()&0xffffffffffff)
		events = append(events, func() { cs.forge(t, tr, idOp, kind, fake) })
	}
	for range rng.IntN(3) {
		k := cs.killPlan(rng, 15)
		events = append(events, func() {
			ctx, _, cancel := k.context()
			defer cancel()
			if a, ok := cs.attemptOf(t, tr.tn, idOp); ok {
				cs.reconcile(ctx, tr.tn.ID, a.ID) //nolint:errcheck // a failed run is looked at again
			}
		})
	}
	rng.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
	cs.runEvents(tr, events)
	return idOp, true
}

// runEvents plays the shuffled events, some one after the other, some at
// once and some after a short delay.
func (cs *chaos) runEvents(tr *chaosTrial, events []func()) {
	rng := tr.rng
	var wg sync.WaitGroup
	for _, ev := range events {
		switch r := rng.IntN(10); {
		case r < 6:
			ev()
		case r < 8:
			wg.Go(ev)
		default:
			delay := time.Duration(rng.IntN(30)) * time.Millisecond
			wg.Go(func() {
				time.Sleep(delay) // a delayed delivery, not a synchronisation
				ev()
			})
		}
	}
	wg.Wait()
}

func (cs *chaos) notify(t *testing.T, tr *chaosTrial, idOp string, k killPlan) {
	cs.stats.notifications.Add(1)
	ctx, killed, cancel := k.context()
	defer cancel()
	if err := cs.e.svc.Notify(ctx, idOp); err != nil && !killed {
		t.Errorf("seed %d trial %d: Notify(%s): %v", cs.seed, tr.n, idOp, err)
	}
}

func (cs *chaos) browserReturn(t *testing.T, tr *chaosTrial, idOp string, k killPlan) {
	cs.stats.returns.Add(1)
	ctx, killed, cancel := k.context()
	defer cancel()
	if _, err := cs.e.svc.Return(ctx, tr.tn, idOp); err != nil && !killed {
		t.Errorf("seed %d trial %d: Return(%s): %v", cs.seed, tr.n, idOp, err)
	}
}

// forge plays a forged callback: a notification of an operation nobody
// created, a return of this operation on another commune's host, or a TIPI
// result naming this invoice. None may find anything.
func (cs *chaos) forge(t *testing.T, tr *chaosTrial, idOp string, kind int, fake string) {
	cs.stats.forged.Add(1)
	switch kind {
	case 0:
		if err := cs.e.svc.Notify(ctx(), fake); !errors.Is(err, payments.ErrNotFound) {
			t.Errorf("seed %d trial %d: forged notification %s: %v, want ErrNotFound", cs.seed, tr.n, fake, err)
		}
	case 1:
		other := cs.communes[(indexOf(cs.communes, tr.tn)+1)%len(cs.communes)]
		if a, err := cs.e.svc.Return(ctx(), other, idOp); !errors.Is(err, payments.ErrNotFound) {
			t.Errorf("seed %d trial %d: return of %s's operation on %s: %+v, %v; want ErrNotFound", cs.seed, tr.n, tr.tn.Slug, other.Slug, a, err)
		}
	default:
		fields := map[string]string{"numcli": tr.tn.Numcli, "refdet": tr.inv.RefdetOrEmpty(), "montant": strconv.FormatInt(tr.inv.TotalCents, 10),
			"exer": strconv.Itoa(tr.inv.Exer()), "saisie": payments.Saisie(tr.tn.Protocol, tr.tn.Mode), "resultrans": "P", "numauto": "123456",
			"dattrans": "01012026", "heurtrans": "1200", "mel": payer}
		if a, err := cs.e.svc.TIPIResult(ctx(), fields); !errors.Is(err, payments.ErrNotFound) {
			t.Errorf("seed %d trial %d: forged TIPI result for a PayFiP invoice: %+v, %v; want ErrNotFound", cs.seed, tr.n, a, err)
		}
	}
}

func indexOf(ts []tenant.Tenant, tn tenant.Tenant) int {
	for i, x := range ts {
		if x.ID == tn.ID {
			return i
		}
	}
	return -1
}

// counterPayment records the invoice paid at the town hall's counter.
func (cs *chaos) counterPayment(t *testing.T, tr *chaosTrial) {
	cs.stats.counter.Add(1)
	cs.e.inTx(t, tr.tn.ID, func(tx *sqlx.Tx) error {
		_, err := payments.RecordCounterPayment(ctx(), tx, tr.tn.ID, tr.inv.ID, tr.inv.TotalCents, "cash", cs.e.clk.Now(), "guichet")
		return err
	})
}

func (cs *chaos) attemptOf(t *testing.T, tn tenant.Tenant, idOp string) (payments.Attempt, bool) {
	var a payments.Attempt
	err := tenant.WithTx(ctx(), cs.e.db, tn.ID, func(tx *sqlx.Tx) (err error) {
		a, err = payments.AttemptByIDOp(ctx(), tx, tn.ID, idOp)
		return err
	})
	if err != nil && !errors.Is(err, payments.ErrNotFound) {
		t.Errorf("attempt of %s: %v", idOp, err)
	}
	return a, err == nil
}

// openAttempts lists the chaos communes' attempts not yet final.
func (cs *chaos) openAttempts(t *testing.T) []payments.Attempt {
	var open []payments.Attempt
	for _, c := range cs.communes {
		cs.e.inTx(t, c.ID, func(tx *sqlx.Tx) error {
			as, err := payments.Attempts(ctx(), tx, c.ID, 100000)
			for _, a := range as {
				if !a.Status.Final() {
					open = append(open, a)
				}
			}
			return err
		})
	}
	return open
}

// verify checks the money, invoice by invoice, against what the stand-in
// took.
func (cs *chaos) verify(t *testing.T) {
	// what DGFiP took, by operation
	took := map[string]dgfipsim.Payment{}
	for _, p := range cs.e.sim.Payments() {
		if p.ResultTrans == "P" || p.ResultTrans == "V" {
			took[p.ID] = p
		}
	}
	var invoices, paidOnline, overpaid, tookTotal, paidTotal int64
	for _, tr := range cs.trials {
		var atts []payments.Attempt
		var ps []payments.Payment
		var ovs []payments.Overpayment
		var inv billing.Invoice
		cs.e.inTx(t, tr.tn.ID, func(tx *sqlx.Tx) (err error) {
			if inv, err = billing.InvoiceByID(ctx(), tx, tr.tn.ID, tr.inv.ID); err != nil {
				return err
			}
			if atts, err = payments.InvoiceAttempts(ctx(), tx, tr.tn.ID, tr.inv.ID); err != nil {
				return err
			}
			if ps, err = payments.InvoicePayments(ctx(), tx, tr.tn.ID, tr.inv.ID); err != nil {
				return err
			}
			ovs, err = payments.InvoiceOverpayments(ctx(), tx, tr.tn.ID, tr.inv.ID)
			return err
		})
		invoices++
		fail := func(format string, args ...any) {
			t.Errorf("seed %d trial %d (%s, invoice %d of %d cents): %s\nattempts %+v\npayments %+v\noverpayments %+v",
				cs.seed, tr.n, tr.tn.Slug, inv.ID, inv.TotalCents, fmt.Sprintf(format, args...), atts, ps, ovs)
		}
		// the money DGFiP took for this invoice's operations
		var dgfip int64
		tr.mu.Lock()
		ops := append([]string(nil), tr.ops...)
		tr.mu.Unlock()
		for _, op := range ops {
			if p, ok := took[op]; ok {
				dgfip += p.Amount
			}
		}
		byAttempt := map[int64]payments.Attempt{}
		for _, a := range atts {
			byAttempt[a.ID] = a
			if !a.Status.Final() {
				fail("attempt %d still %s", a.ID, a.Status)
			}
			p, ok := took[a.IDOpOrEmpty()]
			if ok != (a.Status == payments.Paid) {
				fail("attempt %d is %s while DGFiP's result is %q: a paid operation lost, or an unpaid one recorded", a.ID, a.Status, p.ResultTrans)
			}
		}
		applied, onlineApplied, over := 0, int64(0), int64(0)
		online := map[int64]int{}
		overByPayment := map[int64]int64{}
		for _, o := range ovs {
			overByPayment[o.PaymentID] += o.AmountCents
		}
		for _, p := range ps {
			if p.Applied {
				applied++
			}
			if p.Channel != "online" {
				continue
			}
			if p.AttemptID == nil {
				fail("online payment %d without attempt", p.ID)
				continue
			}
			online[*p.AttemptID]++
			if a := byAttempt[*p.AttemptID]; a.Status != payments.Paid {
				fail("payment %d of attempt %d, which is %s", p.ID, *p.AttemptID, a.Status)
			}
			if n := cs.e.receiptJobs(t, tr.tn, p.ID); n != 1 {
				fail("%d receipt jobs for payment %d, want 1", n, p.ID)
			}
			switch {
			case p.Applied:
				onlineApplied += p.AmountCents
			case p.Anomaly == "overpayment" && overByPayment[p.ID] == p.AmountCents:
				over += p.AmountCents
			default:
				fail("online payment %d neither applied nor recorded as an overpayment (anomaly %q)", p.ID, p.Anomaly)
			}
		}
		for id, n := range online {
			if n != 1 {
				fail("attempt %d has %d payments", id, n)
			}
		}
		if applied > 1 {
			fail("paid %d times", applied)
		}
		if (inv.Status == billing.Paid) != (applied == 1) {
			fail("invoice is %s with %d applied payments", inv.Status, applied)
		}
		if onlineApplied != 0 && onlineApplied != inv.TotalCents {
			fail("paid online %d cents", onlineApplied)
		}
		if dgfip != onlineApplied+over {
			fail("DGFiP took %d cents; the invoice's paid amount online is %d and its overpayments %d", dgfip, onlineApplied, over)
		}
		tookTotal += dgfip
		paidTotal += onlineApplied
		overpaid += over
		if onlineApplied > 0 {
			paidOnline++
		}
	}
	t.Logf("payment chaos: %d invoices, %d paid online; DGFiP took %s = %s paid + %s overpayments to refund", invoices, paidOnline,
		billing.FormatEuros(tookTotal), billing.FormatEuros(paidTotal), billing.FormatEuros(overpaid))
}
