package payments

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/regie/regie/payments/payfip"
)

// TestJudge is PAYFIP.md's status policy, row by row, on the answers the
// client decodes.
func TestJudge(t *testing.T) {
	t.Parallel()
	details := func(r string) payfip.Details { return payfip.Details{Resultrans: r, Montant: 3750} }
	fault := func(kind, code string) error { return &payfip.Fault{Kind: kind, Code: code} }
	timeout := fmt.Errorf("payfip: recupererDetailPaiementSecurise: %w", context.DeadlineExceeded)
	const fresh, old = 5 * time.Minute, 25 * time.Minute
	tests := []struct {
		name  string
		d     payfip.Details
		err   error
		age   time.Duration
		want  Status
		retry bool
	}{
		{"P", details("P"), nil, fresh, Paid, false},
		{"P late", details("P"), nil, old, Paid, false},
		{"V", details("V"), nil, fresh, Paid, false},
		{"R", details("R"), nil, fresh, Refused, false},
		{"Z", details("Z"), nil, old, Refused, false},
		{"A at 5 min", details("A"), nil, fresh, Pending, false},
		{"A at 19 min 59", details("A"), nil, PayerWindow - time.Second, Pending, false},
		{"A at 20 min", details("A"), nil, PayerWindow, Abandoned, false},
		{"A at 25 min", details("A"), nil, old, Abandoned, false},
		{"unknown letter", details("Q"), nil, fresh, Failed, false},
		{"no letter", details(""), nil, fresh, Failed, false},
		{"P5 at 5 min", payfip.Details{}, fault("FonctionnelleErreur", "P5"), fresh, Pending, false},
		{"P5 at 20 min", payfip.Details{}, fault("FonctionnelleErreur", "P5"), PayerWindow, Expired, false},
		{"P5 at 25 min", payfip.Details{}, fault("FonctionnelleErreur", "P5"), old, Expired, false},
		{"P1", payfip.Details{}, fault("FonctionnelleErreur", "P1"), time.Minute, Expired, false},
		{"technical fault", payfip.Details{}, fault("TechIndisponibiliteErreur", "999"), old, "", true},
		{"protocol fault", payfip.Details{}, fault("TechProtocolaireErreur", "999"), fresh, "", true},
		{"timeout", payfip.Details{}, timeout, old, "", true},
		{"connection refused", payfip.Details{}, errors.New("payfip: dial tcp: connection refused"), fresh, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := judge(tt.d, tt.err, tt.age)
			if v.retry != tt.retry || (!tt.retry && v.status != tt.want) {
				t.Fatalf("judge = status %q retry %v, want status %q retry %v", v.status, v.retry, tt.want, tt.retry)
			}
		})
	}
}

// TestNextCheck is the reconciliation's schedule: 10 s, 30 s and 60 s
// after the payer's return, else 2, 5, 10, 15 and 20½ minutes after the
// creation, then every half hour.
func TestNextCheck(t *testing.T) {
	t.Parallel()
	created := time.Date(2026, 10, 5, 10, 0, 0, 0, time.UTC)
	returned := created.Add(3 * time.Minute)
	tests := []struct {
		name     string
		returned bool
		at       time.Duration // since the creation
		want     time.Duration
	}{
		{"at creation", false, 0, 2 * time.Minute},
		{"1 min", false, time.Minute, time.Minute},
		{"2 min", false, 2 * time.Minute, 3 * time.Minute},
		{"5 min", false, 5 * time.Minute, 5 * time.Minute},
		{"12 min", false, 12 * time.Minute, 3 * time.Minute},
		{"15 min", false, 15 * time.Minute, 5*time.Minute + 30*time.Second},
		{"20 min 30", false, PayerWindow + 30*time.Second, 30 * time.Minute},
		{"2 h", false, 2 * time.Hour, 30 * time.Minute},
		{"at return", true, 3 * time.Minute, 10 * time.Second},
		{"15 s after return", true, 3*time.Minute + 15*time.Second, 15 * time.Second},
		{"45 s after return", true, 3*time.Minute + 45*time.Second, 15 * time.Second},
		{"1 min after return", true, 4 * time.Minute, time.Minute}, // back to the creation schedule: 5 min
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Attempt{CreatedAt: created}
			if tt.returned {
				a.ReturnedAt = &returned
			}
			if got := nextCheck(a, created.Add(tt.at)); got != tt.want {
				t.Fatalf("nextCheck = %s, want %s", got, tt.want)
			}
		})
	}
}
