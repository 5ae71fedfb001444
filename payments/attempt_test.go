package payments_test

import (
	"errors"
	"testing"
	"time"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/payments"
	"github.com/regie/regie/tenant"
)

func TestPayable(t *testing.T) {
	t.Parallel()
	const nbsp = "\u00a0"
	tests := []struct {
		name     string
		protocol tenant.Protocol
		status   billing.InvoiceStatus
		cents    int64
		reason   string // "" when payable
	}{
		{"published", tenant.ProtocolPayFiP, billing.Published, 3750, ""},
		{"paid", tenant.ProtocolPayFiP, billing.Paid, 3750, "Cette facture est déjà payée."},
		{"paid TIPI", tenant.ProtocolTIPI, billing.Paid, 3750, "Cette facture est déjà payée."},
		{"cancelled", tenant.ProtocolPayFiP, billing.Cancelled, 3750, "Cette facture est annulée : elle n'est pas à payer."},
		{"draft", tenant.ProtocolPayFiP, billing.Draft, 3750, "Cette facture n'est pas encore publiée."},
		{"under 1 €", tenant.ProtocolPayFiP, billing.Published, 99,
			"Le paiement en ligne n'est possible qu'à partir de 1,00 € : réglez cette facture auprès de la mairie."},
		{"under 1 € TIPI", tenant.ProtocolTIPI, billing.Published, 99,
			"Le paiement en ligne n'est possible qu'à partir de 1,00 € : réglez cette facture auprès de la mairie."},
		{"1 €", tenant.ProtocolPayFiP, billing.Published, 100, ""},
		{"100 000 € PayFiP", tenant.ProtocolPayFiP, billing.Published, 10_000_000, ""},
		{"over 100 000 € PayFiP", tenant.ProtocolPayFiP, billing.Published, 10_000_001,
			"Au-delà de 100" + nbsp + "000,00" + nbsp + "€, le paiement en ligne n'est pas possible : réglez cette facture auprès de la mairie."},
		{"9 999,99 € TIPI", tenant.ProtocolTIPI, billing.Published, 999_999, ""},
		{"over 9 999,99 € TIPI", tenant.ProtocolTIPI, billing.Published, 1_000_000,
			"Au-delà de 9" + nbsp + "999,99" + nbsp + "€, le paiement en ligne n'est pas possible : réglez cette facture auprès de la mairie."},
		{"over 9 999,99 € PayFiP", tenant.ProtocolPayFiP, billing.Published, 1_000_000, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := payments.Payable(billing.Invoice{Status: tt.status, TotalCents: tt.cents}, tt.protocol)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("Payable = %v, want payable", err)
				}
				return
			}
			var np *payments.NotPayableError
			if !errors.As(err, &np) || !errors.Is(err, payments.ErrNotPayable) {
				t.Fatalf("Payable = %v (%T), want a *NotPayableError wrapping ErrNotPayable", err, err)
			}
			if np.Reason != tt.reason {
				t.Fatalf("reason %q, want %q", np.Reason, tt.reason)
			}
		})
	}
}

func TestSaisie(t *testing.T) {
	t.Parallel()
	tests := []struct {
		protocol tenant.Protocol
		mode     tenant.Mode
		want     string
	}{
		{tenant.ProtocolPayFiP, tenant.ModeTest, "T"},
		{tenant.ProtocolPayFiP, tenant.ModeActivation, "X"},
		{tenant.ProtocolPayFiP, tenant.ModeProduction, "W"},
		{tenant.ProtocolTIPI, tenant.ModeTest, "T"},
		{tenant.ProtocolTIPI, tenant.ModeActivation, "X"},
		{tenant.ProtocolTIPI, tenant.ModeProduction, "X"},
	}
	for _, tt := range tests {
		t.Run(string(tt.protocol)+"/"+string(tt.mode), func(t *testing.T) {
			if got := payments.Saisie(tt.protocol, tt.mode); got != tt.want {
				t.Fatalf("Saisie(%s, %s) = %q, want %q", tt.protocol, tt.mode, got, tt.want)
			}
		})
	}
}

func TestStatus_Final(t *testing.T) {
	t.Parallel()
	want := map[payments.Status]bool{
		payments.Created: false, payments.Pending: false,
		payments.Paid: true, payments.Refused: true, payments.Abandoned: true, payments.Expired: true, payments.Failed: true,
	}
	for s, final := range want {
		if s.Final() != final {
			t.Errorf("%s.Final() = %v, want %v", s, s.Final(), final)
		}
	}
}

func TestAttempt_MayStillComplete(t *testing.T) {
	t.Parallel()
	created := time.Date(2026, 10, 5, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		status    payments.Status
		age       time.Duration
		cancelled bool
		want      bool
	}{
		{"pending, fresh", payments.Pending, time.Minute, false, true},
		{"created, fresh", payments.Created, 0, false, true},
		{"pending, 19 min 59", payments.Pending, payments.PayerWindow - time.Second, false, true},
		{"pending, 20 min", payments.Pending, payments.PayerWindow, false, false},
		{"pending, payer cancelled", payments.Pending, time.Minute, true, false},
		{"paid", payments.Paid, time.Minute, false, false},
		{"refused", payments.Refused, time.Minute, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := payments.Attempt{Status: tt.status, CreatedAt: created, ReturnedCancelled: tt.cancelled}
			if got := a.MayStillComplete(created.Add(tt.age)); got != tt.want {
				t.Fatalf("MayStillComplete = %v, want %v", got, tt.want)
			}
		})
	}
}
