package payments_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkNotificationsSettle: b.N payments made at DGFiP whose
// notifications were lost, then their b.N notifications at once from
// parallel goroutines, each settled by the notification's own lookup. It reports the
// settled payments per second and the lookups per settled payment, and
// fails if any invoice was paid twice.
func BenchmarkNotificationsSettle(b *testing.B) {
	e := sharedEnv(b)
	tn := e.commune(b, "bench")
	invs := e.invoices(b, tn, repeat("15;2,50", b.N)...)
	idOps := make([]string, b.N)
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 8 {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(b.N); i = next.Add(1) - 1 {
				idOps[i], _ = e.start(b, tn, invs[i].ID)
				e.complete(b, idOps[i], "P") // the notification is lost
			}
		})
	}
	wg.Wait()

	b.ResetTimer()
	began := time.Now()
	next.Store(0)
	// DGFiP notifies over many connections at once: 16 goroutines a core
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := e.svc.Notify(ctx(), idOps[next.Add(1)-1]); err != nil {
				b.Error(err)
			}
		}
	})
	var paid int
	waitWithin(b, 20*time.Second+time.Duration(b.N)*50*time.Millisecond, "every payment settled", func() (bool, string) {
		const q = `SELECT count(*) FROM payment_attempts WHERE tenant_id = $1 AND status = 'paid'`
		if err := e.db.Get(&paid, q, tn.ID); err != nil {
			return false, err.Error()
		}
		return paid == b.N, fmt.Sprintf("%d of %d paid", paid, b.N)
	})
	elapsed := time.Since(began)
	b.StopTimer()

	var lookups, twice, payments int
	if err := e.db.Get(&lookups, `SELECT coalesce(sum(lookups), 0) FROM payment_attempts WHERE tenant_id = $1`, tn.ID); err != nil {
		b.Fatal(err)
	}
	const q = `SELECT count(*) FROM (SELECT invoice_id FROM payments WHERE tenant_id = $1 AND applied
		GROUP BY invoice_id HAVING count(*) > 1) twice`
	if err := e.db.Get(&twice, q, tn.ID); err != nil {
		b.Fatal(err)
	}
	if twice != 0 {
		b.Fatalf("%d invoices paid twice", twice)
	}
	if err := e.db.Get(&payments, `SELECT count(*) FROM payments WHERE tenant_id = $1`, tn.ID); err != nil {
		b.Fatal(err)
	}
	if payments != b.N {
		b.Fatalf("%d payments for %d settled attempts", payments, b.N)
	}
	b.ReportMetric(float64(paid)/elapsed.Seconds(), "settled/s")
	b.ReportMetric(float64(lookups)/float64(paid), "lookups/settled")
}
