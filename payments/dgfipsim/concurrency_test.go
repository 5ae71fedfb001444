package dgfipsim

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestConcurrency(t *testing.T) {
	e := newEnv(t)
	const workers, each = 16, 25
	var mu sync.Mutex
	ids := map[string]bool{}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				id := e.create(t)
				if _, code := e.lookup(t, id); code != "P5" {
					t.Errorf("fresh lookup: %q", code)
				}
				result := "P"
				if (w+i)%3 == 0 {
					result = "R"
				}
				if err := e.sim.Complete(id, result); err != nil {
					t.Error(err)
				}
				if f, code := e.lookup(t, id); code != "" || f["resultrans"] != result {
					t.Errorf("lookup after Complete: %v %q", f, code)
				}
				e.sim.Stats()
				mu.Lock()
				if ids[id] {
					t.Errorf("idOp %s given twice", id)
				}
				ids[id] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	const n = workers * each
	e.rcv.wait(t, n)
	s := e.sim.Stats()
	if s.Calls[opCreer] != n || s.Calls[opDetail] != 2*n || s.Lookups != n || s.PaymentsCreated != n {
		t.Errorf("stats %+v", s)
	}
}

func TestConcurrency_OneRedirection(t *testing.T) {
	e := newEnv(t)
	id := e.create(t)
	var ok, gone atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			switch e.openPage(t, id).Status {
			case http.StatusOK:
				ok.Add(1)
			case http.StatusGone:
				gone.Add(1)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 || gone.Load() != 19 {
		t.Errorf("%d pages served and %d refused, want 1 and 19", ok.Load(), gone.Load())
	}
}

// BenchmarkLookup measures recupererDetailPaiementSecurise in the handler
// alone (no network).
func BenchmarkLookup(b *testing.B) {
	sim := New(Options{Clients: map[string]string{numcliDemo: labelDemo}, Now: func() time.Time { return startTime }})
	defer sim.Close()
	create := httptest.NewRequest(http.MethodPost, "/tpa/services/securite", strings.NewReader(soapEnvelope(opCreer,
		"exer", "2026", "mel", "a.b@example.fr", "montant", "3750", "numcli", numcliDemo, "objet", "x",
		"refdet", "ABCDEFGH", "saisie", "T", "urlnotif", "http://n.example/", "urlredirect", "http://r.example/")))
	create.Header.Set("Content-Type", "text/xml")
	rec := httptest.NewRecorder()
	sim.ServeHTTP(rec, create)
	id := parseTreeB(b, rec.Body.Bytes()).text("Envelope", "Body", opCreer+"Response", "return", "idOp")
	sim.Complete(id, "P")
	body := soapEnvelope(opDetail, "idOp", id)

	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodPost, "/tpa/services/securite", strings.NewReader(body))
			req.Header.Set("Content-Type", "text/xml; charset=utf-8")
			w := httptest.NewRecorder()
			sim.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Fatalf("status %d", w.Code)
			}
		}
	})
}

func parseTreeB(b *testing.B, body []byte) *node {
	var t testing.T
	n := parseTree(&t, body)
	if t.Failed() {
		b.Fatal("bad XML")
	}
	return n
}
