package payfip_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/regie/regie/payments/dgfipsim"
	"github.com/regie/regie/payments/payfip"
)

// newSim starts the project's DGFiP stand-in with one known client, a
// fixed clock and no notifications, and a client of it.
func newSim(t *testing.T, now time.Time) (*payfip.Client, *dgfipsim.Server) {
	t.Helper()
	sim := dgfipsim.New(dgfipsim.Options{
		Clients: map[string]string{"001964": "MAIRIE"},
		Now:     func() time.Time { return now },
		Notify:  dgfipsim.NotifyOptions{Lose: true}, // this test is about the client, not urlnotif
	})
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	t.Cleanup(sim.Close)
	return payfip.New(ts.URL, &http.Client{Timeout: 5 * time.Second}), sim
}

func TestClient_DGFiPSim(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2024, 3, 14, 10, 30, 0, 0, paris)
	req := payfip.CreateRequest{
		Exer: 2024, Mel: "famille.dupont@example.org", Montant: 3750, Numcli: "001964",
		Objet: "Précompte famille #1234", Refdet: "FAC2024000123", Saisie: "T",
		URLNotif: "https://paiement.auzon.example.fr/payfip/notif?t=1&u=2", URLRedirect: "https://auzon.example.fr/payfip/retour",
	}

	t.Run("PaymentFlow", func(t *testing.T) {
		ctx := context.Background()
		client, sim := newSim(t, now)
		id, err := client.CreatePayment(ctx, req)
		if err != nil {
			t.Fatalf("CreatePayment: %v", err)
		}
		p, ok := sim.Payment(id)
		if !ok {
			t.Fatalf("the stand-in does not know idOp %q", id)
		}
		if p.NumCli != "001964" || p.Exer != "2024" || p.RefDet != req.Refdet || p.Amount != 3750 || p.Mel != req.Mel ||
			p.Objet != "Precompte famille 1234" || p.Saisie != "T" || p.URLNotif != req.URLNotif || p.URLRedirect != req.URLRedirect {
			t.Errorf("the stand-in received %+v", p)
		}

		_, err = client.PaymentDetails(ctx, id)
		if !payfip.IsFault(err, "P5") {
			t.Fatalf("PaymentDetails before a result: %v, want fault P5", err)
		}

		if err := sim.Complete(id, "P"); err != nil {
			t.Fatalf("Complete: %v", err)
		}
		d, err := client.PaymentDetails(ctx, id)
		if err != nil {
			t.Fatalf("PaymentDetails after P: %v", err)
		}
		if d.Numauto == "" {
			t.Error("numauto empty after a card payment")
		}
		want := payfip.Details{
			IDOp: id, Resultrans: "P", Numauto: d.Numauto, Numcli: "001964", Refdet: req.Refdet, Exer: "2024",
			Mel: req.Mel, Objet: "Precompte famille 1234", Saisie: "T", Montant: 3750, Dattrans: "14032024", Heurtrans: "1030",
		}
		if d != want {
			t.Errorf("details\n got %+v\nwant %+v", d, want)
		}
		if got := d.TransactionTime(); !got.Equal(now) {
			t.Errorf("TransactionTime %v, want %v", got, now)
		}
	})

	t.Run("UnknownIDOp", func(t *testing.T) {
		client, _ := newSim(t, now)
		_, err := client.PaymentDetails(context.Background(), sampleIDOp)
		var f *payfip.Fault
		if !errors.As(err, &f) || f.Code != "P1" || f.HTTPStatus != http.StatusInternalServerError || f.Technical() {
			t.Fatalf("PaymentDetails of an unknown id: %v, want functional fault P1 with HTTP 500", err)
		}
		if f.Label != "IdOp incorrect." {
			t.Errorf("label %q, want %q", f.Label, "IdOp incorrect.")
		}
	})

	t.Run("ClientDetails", func(t *testing.T) {
		client, _ := newSim(t, now)
		info, err := client.ClientDetails(context.Background(), "001964")
		if err != nil {
			t.Fatalf("ClientDetails(001964): %v", err)
		}
		if info.Numcli != "001964" || info.Label2 != "MAIRIE" || info.Label1 == "" || info.Label3 == "" {
			t.Errorf("ClientDetails(001964) = %+v", info)
		}
		_, err = client.ClientDetails(context.Background(), "999999")
		if !payfip.IsFault(err, "T1") {
			t.Errorf("ClientDetails(999999): %v, want fault T1", err)
		}
	})

	t.Run("BadRefdet", func(t *testing.T) {
		client, sim := newSim(t, now)
		bad := req
		bad.Refdet = "ABCD"
		id, err := client.CreatePayment(context.Background(), bad)
		var f *payfip.Fault
		if !errors.As(err, &f) || f.Code != "R3" || f.Kind != "FonctionnelleErreur" || f.Technical() {
			t.Fatalf("CreatePayment with refdet ABCD = %q, %v; want functional fault R3", id, err)
		}
		if n := len(sim.Payments()); n != 0 {
			t.Errorf("the stand-in holds %d payments after a refused creation", n)
		}
	})

	t.Run("BadMel", func(t *testing.T) {
		client, _ := newSim(t, now)
		bad := req
		bad.Mel = "john.doeexample.com"
		if _, err := client.CreatePayment(context.Background(), bad); !payfip.IsFault(err, "A2") {
			t.Fatalf("CreatePayment with mel john.doeexample.com: %v, want fault A2", err)
		}
	})
}
