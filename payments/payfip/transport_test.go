package payfip_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/regie/regie/payments/payfip"
)

// operations calls each operation of the client, for tests that expect
// every one of them to fail the same way.
var operations = []struct {
	name string
	run  func(context.Context, *payfip.Client) error
}{
	{"creerPaiementSecurise", func(ctx context.Context, c *payfip.Client) error {
		_, err := c.CreatePayment(ctx, payfip.CreateRequest{Exer: 2024, Mel: "a@example.fr", Montant: 3750, Numcli: "001964",
			Refdet: "FAC2024000123", Saisie: "T", URLNotif: "https://paiement.example.fr/n", URLRedirect: "https://example.fr/r"})
		return err
	}},
	{"recupererDetailPaiementSecurise", func(ctx context.Context, c *payfip.Client) error {
		_, err := c.PaymentDetails(ctx, sampleIDOp)
		return err
	}},
	{"recupererDetailClient", func(ctx context.Context, c *payfip.Client) error {
		_, err := c.ClientDetails(ctx, sampleNumcli)
		return err
	}},
}

// silentDGFiP accepts requests and never answers until the test ends or
// the client goes away; each request is announced on the channel.
func silentDGFiP(t *testing.T) (url string, arrived <-chan struct{}) {
	t.Helper()
	release := make(chan struct{})
	got := make(chan struct{}, 16)
	ts := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		got <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // runs before ts.Close, which waits for handlers
	return ts.URL, got
}

// within runs an operation and fails the test if it has not returned
// after d, so that a client that ignores its deadlines fails rather than
// hangs (the silent server lets it go at the end of the test).
func within(t *testing.T, d time.Duration, run func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- run() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("still waiting after %v", d)
		return nil
	}
}

// checkNotFault fails when err is nil or a *payfip.Fault.
func checkNotFault(t *testing.T, err error) {
	t.Helper()
	var f *payfip.Fault
	switch {
	case err == nil:
		t.Fatal("no error")
	case errors.As(err, &f):
		t.Fatalf("error %v is a *payfip.Fault, want a transport error", err)
	}
}

func TestClient_Timeout(t *testing.T) {
	const timeout = 200 * time.Millisecond
	for _, op := range operations {
		t.Run(op.name+"/ClientTimeout", func(t *testing.T) {
			t.Parallel()
			url, arrived := silentDGFiP(t)
			client := payfip.New(url, &http.Client{Timeout: timeout})
			start := time.Now()
			err := within(t, 20*timeout, func() error { return op.run(context.Background(), client) })
			elapsed := time.Since(start)
			checkNotFault(t, err)
			if ne, ok := errors.AsType[net.Error](err); !ok || !ne.Timeout() {
				t.Errorf("error %v, want a timeout", err)
			}
			if elapsed < timeout || elapsed > 10*timeout {
				t.Errorf("returned after %v, want about %v", elapsed, timeout)
			}
			select {
			case <-arrived:
			default:
				t.Error("the request never reached the server")
			}
		})
		t.Run(op.name+"/ContextDeadline", func(t *testing.T) {
			t.Parallel()
			url, arrived := silentDGFiP(t)
			client := payfip.New(url, &http.Client{}) // no timeout of its own
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			start := time.Now()
			err := within(t, 20*timeout, func() error { return op.run(ctx, client) })
			elapsed := time.Since(start)
			checkNotFault(t, err)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error %v, want context.DeadlineExceeded", err)
			}
			if elapsed > 10*timeout {
				t.Errorf("returned after %v, want about %v", elapsed, timeout)
			}
			select {
			case <-arrived:
			default:
				t.Error("the request never reached the server")
			}
		})
	}
}

func TestClient_BadAnswers(t *testing.T) {
	maintenance := `<!DOCTYPE html><html lang="fr"><head><title>Service indisponible</title></head>` +
		`<body><h1>Service momentanément indisponible</h1><p>Veuillez réessayer plus tard.</p></body></html>`
	tests := []struct {
		name   string
		status int
		body   string
	}{
		{"503WellFormedHTML", http.StatusServiceUnavailable, maintenance},
		{"503HTML", http.StatusServiceUnavailable, `<html><body>Service Unavailable<br></body></html>`},
		{"503Empty", http.StatusServiceUnavailable, ""},
		{"500Garbage", http.StatusInternalServerError, "java.lang.OutOfMemoryError"},
		{"200Garbage", http.StatusOK, "garbage \x00\xff<<"},
		{"200Empty", http.StatusOK, ""},
		{"200HTML", http.StatusOK, maintenance},
		{"200Truncated", http.StatusOK, jaxws("recupererDetailClient", sampleClientReturn)[:150]},
		{"200NotSOAP", http.StatusOK, `<?xml version="1.0"?><return><idOp>` + sampleIDOp + `</idOp></return>`},
	}
	for _, tt := range tests {
		for _, op := range operations {
			t.Run(tt.name+"/"+op.name, func(t *testing.T) {
				client, _ := fakeDGFiP(t, tt.status, tt.body)
				checkNotFault(t, op.run(context.Background(), client))
			})
		}
	}
}

// TestClient_ErrorStatusWithAnswer checks that an HTTP error is an error
// even when its body reads as a successful answer (a proxy, a cache).
func TestClient_ErrorStatusWithAnswer(t *testing.T) {
	answers := map[string]string{
		"creerPaiementSecurise":           jaxws("creerPaiementSecurise", "<idOp>"+sampleIDOp+"</idOp>"),
		"recupererDetailPaiementSecurise": jaxws("recupererDetailPaiementSecurise", sampleDetailsReturn),
		"recupererDetailClient":           jaxws("recupererDetailClient", sampleClientReturn),
	}
	for _, op := range operations {
		t.Run(op.name, func(t *testing.T) {
			client, _ := fakeDGFiP(t, http.StatusServiceUnavailable, answers[op.name])
			checkNotFault(t, op.run(context.Background(), client))
		})
	}
}

func TestClient_CreatePayment_NoIDOp(t *testing.T) {
	tests := []struct{ name, ret string }{
		{"EmptyReturn", ""},
		{"EmptyIDOp", "<idOp></idOp>"},
		{"BlankIDOp", "<idOp>   </idOp>"},
		{"OtherField", "<numcli>090909</numcli>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, _ := fakeDGFiP(t, http.StatusOK, jaxws("creerPaiementSecurise", tt.ret))
			id, err := client.CreatePayment(context.Background(), payfip.CreateRequest{})
			if err == nil {
				t.Fatalf("CreatePayment = %q, want an error", id)
			}
			checkNotFault(t, err)
		})
	}
	t.Run("NoReturn", func(t *testing.T) {
		client, _ := fakeDGFiP(t, http.StatusOK, `<S:Envelope xmlns:S="`+soapNS+`"><S:Body/></S:Envelope>`)
		if id, err := client.CreatePayment(context.Background(), payfip.CreateRequest{}); err == nil {
			t.Fatalf("CreatePayment = %q, want an error", id)
		}
	})
}

func TestClient_ConnectionRefused(t *testing.T) {
	ts := newServer(t, func(http.ResponseWriter, *http.Request) {})
	url := ts.URL
	ts.Close()
	for _, op := range operations {
		t.Run(op.name, func(t *testing.T) {
			checkNotFault(t, op.run(context.Background(), payfip.New(url, nil)))
		})
	}
}
