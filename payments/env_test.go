package payments_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/rivertype"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/migrations/dbtest"
	"github.com/regie/regie/payments"
	"github.com/regie/regie/payments/dgfipsim"
	"github.com/regie/regie/payments/payfip"
	"github.com/regie/regie/tenant"
	"github.com/regie/regie/tenant/tenanttest"
)

func TestMain(m *testing.M) { dbtest.Main(m, stopEnv) }

// env is the payments under test with everything real: PostgreSQL, the
// DGFiP stand-in on HTTP, and one River client working the payments' jobs.
// There is one per test process: River works every job of the database, so
// a second client would steal the first one's jobs.
//
// One clock drives the service, the stand-in and River, so that the
// 20-minute rules agree and a job scheduled "in 2 minutes" comes due when
// a test moves the clock by 2 minutes. Tests that move the clock are not
// parallel (Go runs every sequential top-level test before the parallel
// ones), and the clock only moves forward.
type env struct {
	db   *sqlx.DB
	clk  *clock
	sim  *dgfipsim.Server
	gate *gate
	cb   *callbacks
	svc  *payments.Service
	jobs *river.Client[*sql.Tx]
	log  *slog.Logger

	simTS, gateTS, cbTS *httptest.Server
}

var (
	envOnce sync.Once
	theEnv  *env
	envErr  error
)

// numclis are the client numbers the stand-in knows; each commune of the
// tests takes its own, as real communes have, so that TIPI results (matched
// on numcli, refdet and montant across communes) never meet another test's.
const numclis = 3000

var numcliSeq, familySeq atomic.Int64

func nextNumcli() string { return fmt.Sprintf("7%05d", numcliSeq.Add(1)%numclis) }

func sharedEnv(t testing.TB) *env {
	t.Helper()
	db := dbtest.DB(t)
	envOnce.Do(func() { theEnv, envErr = newEnv(db) })
	if envErr != nil {
		t.Fatalf("test environment: %v", envErr)
	}
	return theEnv
}

func newEnv(db *sqlx.DB) (*env, error) {
	e := &env{db: db, clk: newClock(), log: slog.New(slog.DiscardHandler)}
	if os.Getenv("REGIE_TEST_LOG") != "" {
		e.log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	clients := map[string]string{}
	for i := range numclis {
		clients[fmt.Sprintf("7%05d", i)] = fmt.Sprintf("MAIRIE DE TEST %d", i)
	}
	// The stand-in's notifications and TIPI results reach e.cb, which only
	// records them: each test decides whether a notification arrives.
	e.cb = &callbacks{tipi: map[string][]map[string]string{}, notes: map[string]int{}}
	e.cbTS = httptest.NewServer(e.cb)
	cbURL, _ := url.Parse(e.cbTS.URL)
	base, _ := url.Parse("http://localhost:" + cbURL.Port())
	e.sim = dgfipsim.New(dgfipsim.Options{Clients: clients, Now: e.clk.Now, Log: e.log})
	e.simTS = httptest.NewServer(e.sim)
	e.gate = &gate{next: e.sim, rules: map[string]rule{}}
	e.gateTS = httptest.NewServer(e.gate)

	e.svc = &payments.Service{DB: db, PayFiP: payfip.New(e.gateTS.URL, nil), BaseURL: base, Log: e.log, Now: e.clk.Now}
	workers := river.NewWorkers()
	if err := payments.AddWorkers(workers, e.svc); err != nil {
		return nil, err
	}
	// The receipt and publication mails are portal's; here they only have
	// to exist.
	river.AddWorker(workers, river.WorkFunc(func(context.Context, *river.Job[payments.PaymentSettled]) error { return nil }))
	river.AddWorker(workers, river.WorkFunc(func(context.Context, *river.Job[billing.InvoicesPublished]) error { return nil }))
	var err error
	e.jobs, err = river.NewClient(riverdatabasesql.New(db.DB), &river.Config{
		Workers: workers, Queues: map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 10}},
		PollOnly: true, FetchCooldown: 10 * time.Millisecond, FetchPollInterval: 20 * time.Millisecond,
		RetryPolicy: fastRetry{e.clk}, Logger: e.log, Test: river.TestConfig{Time: e.clk},
	})
	if err != nil {
		return nil, err
	}
	e.svc.Jobs = e.jobs
	if err := e.jobs.Start(context.Background()); err != nil {
		return nil, err
	}
	return e, nil
}

func stopEnv() {
	if theEnv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	theEnv.jobs.Stop(ctx) //nolint:errcheck // the process ends
	theEnv.sim.Close()
	theEnv.gateTS.Close()
	theEnv.simTS.Close()
	theEnv.cbTS.Close()
}

// clock is real time moved forward by tests; it serves as River's time
// generator too.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

// newClock starts the clock in the daytime, Paris time: the stand-in
// forgets unused operations at 03:00, and the tests must not meet that
// night while they move the clock by a few hours.
func newClock() *clock {
	now := time.Now().In(tenant.Paris)
	if h := now.Hour(); h >= 5 && h < 17 {
		return &clock{}
	}
	day := time.Date(now.Year(), now.Month(), now.Day(), 8, now.Minute(), now.Second(), now.Nanosecond(), tenant.Paris)
	return &clock{offset: day.Sub(now)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// NowOrNil makes River use this clock in its queries too.
func (c *clock) NowOrNil() *time.Time {
	now := c.Now()
	return &now
}

// Advance moves the clock forward.
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// fastRetry retries failed jobs after 100 ms of the test clock, so outage
// tests stay short.
type fastRetry struct{ clk *clock }

func (r fastRetry) NextRetry(*rivertype.JobRow) time.Time {
	return r.clk.Now().Add(100 * time.Millisecond)
}

// callbacks is the platform's callback host as DGFiP sees it
// (paiement.<base>): it records the notifications (by idOp) and the TIPI
// results (by numcli and refdet, names lower-cased as portal passes them)
// and answers 200, nothing more.
type callbacks struct {
	mu    sync.Mutex
	tipi  map[string][]map[string]string
	notes map[string]int
}

func (c *callbacks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	fields := map[string]string{}
	for k, vs := range r.Form {
		fields[strings.ToLower(k)] = vs[0]
	}
	c.mu.Lock()
	switch r.URL.Path {
	case "/tipi":
		key := fields["numcli"] + "/" + fields["refdet"]
		c.tipi[key] = append(c.tipi[key], fields)
	case "/notification":
		c.notes[fields["idop"]]++
	}
	c.mu.Unlock()
	w.Write([]byte("OK"))
}

// tipiResult waits for the n-th TIPI result (from 1) the stand-in posted
// for a payment.
func (c *callbacks) tipiResult(t testing.TB, p dgfipsim.Payment, n int) map[string]string {
	t.Helper()
	var got map[string]string
	waitFor(t, fmt.Sprintf("TIPI result %d for %s/%s", n, p.NumCli, p.RefDet), func() (bool, string) {
		c.mu.Lock()
		defer c.mu.Unlock()
		rs := c.tipi[p.NumCli+"/"+p.RefDet]
		if len(rs) < n {
			return false, fmt.Sprintf("%d results", len(rs))
		}
		got = rs[n-1]
		return true, ""
	})
	return got
}

// notifications returns how many notifications the stand-in sent for idOp.
func (c *callbacks) notifications(idOp string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.notes[idOp]
}

// waitFor polls cond every 20 ms until it holds, and fails the test after
// 20 seconds with what cond last said it saw.
func waitFor(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	waitWithin(t, 20*time.Second, what, cond)
}

func waitWithin(t testing.TB, limit time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ok, saw := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: gave up after %s; saw %s", what, limit, saw)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// commune creates a commune with its own client number; opts set the
// protocol, mode or status.
func (e *env) commune(t testing.TB, prefix string, opts ...func(*tenant.Tenant)) tenant.Tenant {
	t.Helper()
	return tenanttest.MustCreate(t, e.db, prefix, append([]func(*tenant.Tenant){func(tn *tenant.Tenant) { tn.Numcli = nextNumcli() }}, opts...)...)
}

func tipi(tn *tenant.Tenant)       { tn.Protocol = tenant.ProtocolTIPI }
func production(tn *tenant.Tenant) { tn.Mode = tenant.ModeProduction }
func activation(tn *tenant.Tenant) { tn.Mode = tenant.ModeActivation }

// invoices publishes one invoice per amount ("15;2,50": quantity and unit
// price) in series RS of the commune, one family each, and returns them in
// the order given.
func (e *env) invoices(t testing.TB, tn tenant.Tenant, amounts ...string) []billing.Invoice {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	b.WriteString("famille;nom;email;adresse;code_postal;ville;serie;periode;libelle;quantite;prix_unitaire;echeance\n")
	for _, a := range amounts {
		n := familySeq.Add(1) // a new family each time: families are named in the order given
		fmt.Fprintf(&b, "F%07d;Famille %07d;famille%07d@example.fr;%d rue des Écoles;84000;Démonstration;RS;10/2015;Repas;%s;15/12/2099\n", n, n, n, n%100+1, a)
	}
	var out []billing.Invoice
	err := tenant.WithTx(ctx, e.db, tn.ID, func(tx *sqlx.Tx) error {
		if _, err := billing.SeriesByCode(ctx, tx, tn.ID, "RS"); errors.Is(err, billing.ErrNotFound) {
			if _, err := billing.CreateSeries(ctx, tx, tn.ID, billing.Series{Code: "RS", Label: "Restauration scolaire", Pattern: "{exer}-RS-00-{numero:7}", NextNumber: 8001516}); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		src, herrs, err := billing.NewCSVSource(strings.NewReader(b.String()), []string{"RS"})
		if err != nil {
			return fmt.Errorf("%w %v", err, herrs)
		}
		res, err := billing.Import(ctx, tx, tn.ID, src, billing.ImportOptions{Filename: "factures.csv"})
		if err != nil {
			return fmt.Errorf("%w %v", err, res.Errors)
		}
		if _, err := billing.Publish(ctx, tx, e.jobs, tn.ID, res.BatchID, e.clk.Now()); err != nil {
			return err
		}
		var ids []int64
		// publication numbers by family name
		const sel = `SELECT id FROM invoices WHERE tenant_id = $1 AND batch_id = $2 ORDER BY number`
		if err := tx.SelectContext(ctx, &ids, sel, tn.ID, res.BatchID); err != nil {
			return err
		}
		for _, id := range ids {
			inv, err := billing.InvoiceByID(ctx, tx, tn.ID, id)
			if err != nil {
				return err
			}
			out = append(out, inv)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("publish invoices of %s: %v", tn.Slug, err)
	}
	if len(out) != len(amounts) {
		t.Fatalf("published %d invoices, want %d", len(out), len(amounts))
	}
	return out
}

// repeat returns n copies of an amount.
func repeat(amount string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = amount
	}
	return out
}

// invoice publishes one invoice of 37,50 €.
func (e *env) invoice(t testing.TB, tn tenant.Tenant) billing.Invoice {
	t.Helper()
	return e.invoices(t, tn, "15;2,50")[0]
}

const payer = "payeur@example.fr"

// start starts paying an invoice and returns DGFiP's operation id, read
// from the page URL, and the attempt.
func (e *env) start(t testing.TB, tn tenant.Tenant, invoiceID int64) (string, payments.Attempt) {
	t.Helper()
	page, err := e.svc.Start(context.Background(), tn, invoiceID, payer)
	if err != nil {
		t.Fatalf("Start(invoice %d): %v", invoiceID, err)
	}
	idOp := idOpOf(t, page)
	return idOp, e.attemptByIDOp(t, tn, idOp)
}

func idOpOf(t testing.TB, page string) string {
	t.Helper()
	u, err := url.Parse(page)
	if err != nil || u.Query().Get("idop") == "" {
		t.Fatalf("Start returned %q: no idop in the page URL", page)
	}
	return u.Query().Get("idop")
}

// complete ends a payment at the stand-in as the payer would.
func (e *env) complete(t testing.TB, idOp, resultrans string) {
	t.Helper()
	if err := e.sim.Complete(idOp, resultrans); err != nil {
		t.Fatalf("stand-in: Complete(%s, %s): %v", idOp, resultrans, err)
	}
}

// inTx runs fn in a transaction of the commune and fails the test on error.
func (e *env) inTx(t testing.TB, tid tenant.ID, fn func(tx *sqlx.Tx) error) {
	t.Helper()
	if err := tenant.WithTx(context.Background(), e.db, tid, fn); err != nil {
		t.Fatalf("commune %d: %v", tid, err)
	}
}

func (e *env) attempt(t testing.TB, tn tenant.Tenant, id int64) payments.Attempt {
	t.Helper()
	var a payments.Attempt
	e.inTx(t, tn.ID, func(tx *sqlx.Tx) (err error) {
		a, err = payments.AttemptByID(context.Background(), tx, tn.ID, id)
		return err
	})
	return a
}

func (e *env) attemptByIDOp(t testing.TB, tn tenant.Tenant, idOp string) payments.Attempt {
	t.Helper()
	var a payments.Attempt
	e.inTx(t, tn.ID, func(tx *sqlx.Tx) (err error) {
		a, err = payments.AttemptByIDOp(context.Background(), tx, tn.ID, idOp)
		return err
	})
	return a
}

func (e *env) invoiceNow(t testing.TB, tn tenant.Tenant, id int64) billing.Invoice {
	t.Helper()
	var inv billing.Invoice
	e.inTx(t, tn.ID, func(tx *sqlx.Tx) (err error) {
		inv, err = billing.InvoiceByID(context.Background(), tx, tn.ID, id)
		return err
	})
	return inv
}

func (e *env) payments(t testing.TB, tn tenant.Tenant, invoiceID int64) []payments.Payment {
	t.Helper()
	var ps []payments.Payment
	e.inTx(t, tn.ID, func(tx *sqlx.Tx) (err error) {
		ps, err = payments.InvoicePayments(context.Background(), tx, tn.ID, invoiceID)
		return err
	})
	return ps
}

func (e *env) overpayments(t testing.TB, tn tenant.Tenant) []payments.Overpayment {
	t.Helper()
	var os []payments.Overpayment
	e.inTx(t, tn.ID, func(tx *sqlx.Tx) (err error) {
		os, err = payments.Overpayments(context.Background(), tx, tn.ID)
		return err
	})
	return os
}

// received returns the attempt's log of what was received, by source.
// lookups returns an attempt's count of lookups and its log's sources, read
// in one statement: a reconciliation that River runs meanwhile is in both or
// in neither.
func (e *env) lookups(t testing.TB, tn tenant.Tenant, id int64) (int, []string) {
	t.Helper()
	var row struct {
		N       int            `db:"lookups"`
		Sources pq.StringArray `db:"sources"`
	}
	const q = `SELECT lookups, array(SELECT coalesce(e->>'source', '')
		FROM jsonb_array_elements(received) WITH ORDINALITY AS l(e, n) ORDER BY n) AS sources
		FROM payment_attempts WHERE tenant_id = $1 AND id = $2`
	if err := e.db.Get(&row, q, tn.ID, id); err != nil {
		t.Fatal(err)
	}
	return row.N, row.Sources
}

func (e *env) received(t testing.TB, tn tenant.Tenant, id int64) []string {
	t.Helper()
	var sources []string
	const q = `SELECT coalesce(e->>'source', '') FROM payment_attempts, jsonb_array_elements(received) e
		WHERE tenant_id = $1 AND id = $2`
	if err := e.db.Select(&sources, q, tn.ID, id); err != nil {
		t.Fatal(err)
	}
	return sources
}

// receiptJobs counts the receipt jobs queued for a payment.
func (e *env) receiptJobs(t testing.TB, tn tenant.Tenant, paymentID int64) int {
	t.Helper()
	var n int
	const q = `SELECT count(*) FROM river_job WHERE kind = 'payments.settled'
		AND (args->>'tenant_id')::bigint = $1 AND (args->>'payment_id')::bigint = $2`
	if err := e.db.Get(&n, q, tn.ID, paymentID); err != nil {
		t.Fatal(err)
	}
	return n
}

// reconcileJobs lists the states of the reconciliation jobs of an attempt.
func (e *env) reconcileJobs(t testing.TB, tn tenant.Tenant, attemptID int64) []string {
	t.Helper()
	var states []string
	const q = `SELECT state FROM river_job WHERE kind = 'payments.reconcile'
		AND (args->>'tenant_id')::bigint = $1 AND (args->>'attempt_id')::bigint = $2 ORDER BY id`
	if err := e.db.Select(&states, q, tn.ID, attemptID); err != nil {
		t.Fatal(err)
	}
	return states
}

// waitStatus waits until the attempt reaches status (the River workers
// settling it).
func (e *env) waitStatus(t testing.TB, tn tenant.Tenant, id int64, want payments.Status) payments.Attempt {
	t.Helper()
	var a payments.Attempt
	waitFor(t, fmt.Sprintf("attempt %d %s", id, want), func() (bool, string) {
		a = e.attempt(t, tn, id)
		return a.Status == want, fmt.Sprintf("status %s, %d lookups, jobs %v", a.Status, a.Lookups, e.reconcileJobs(t, tn, id))
	})
	return a
}

// paidOnce checks the invoice is paid, by exactly one applied payment of
// the attempt, with one receipt job.
func (e *env) paidOnce(t testing.TB, tn tenant.Tenant, invoiceID, attemptID int64) payments.Payment {
	t.Helper()
	inv := e.invoiceNow(t, tn, invoiceID)
	if inv.Status != billing.Paid {
		t.Fatalf("invoice %d is %s, want paid", invoiceID, inv.Status)
	}
	ps := e.payments(t, tn, invoiceID)
	if len(ps) != 1 || !ps[0].Applied || ps[0].AttemptID == nil || *ps[0].AttemptID != attemptID || ps[0].Anomaly != "" {
		t.Fatalf("payments of invoice %d: %+v, want one applied payment of attempt %d", invoiceID, ps, attemptID)
	}
	if n := e.receiptJobs(t, tn, ps[0].ID); n != 1 {
		t.Fatalf("%d receipt jobs for payment %d, want 1", n, ps[0].ID)
	}
	return ps[0]
}

// unpaid checks nothing was paid for the invoice.
func (e *env) unpaid(t testing.TB, tn tenant.Tenant, invoiceID int64) {
	t.Helper()
	if inv := e.invoiceNow(t, tn, invoiceID); inv.Status != billing.Published {
		t.Fatalf("invoice %d is %s, want published (unpaid)", invoiceID, inv.Status)
	}
	if ps := e.payments(t, tn, invoiceID); len(ps) != 0 {
		t.Fatalf("invoice %d has payments %+v, want none", invoiceID, ps)
	}
}

// ctx is the context of calls that should not be cut short.
func ctx() context.Context { return context.Background() }
