// Package payments takes invoices' money through DGFiP: payment attempts
// and their state machine, the PayFiP web service (payments/payfip) and the
// TIPI URL protocol, DGFiP's notifications and TIPI results, the
// reconciliation that settles every attempt whether notifications come or
// not, the money received and the overpayments to refund.
//
// The rules (PAYFIP.md): a result is believed only when the web service's
// recupererDetailPaiementSecurise says it (or, for TIPI, when it matches a
// pending attempt's client number, reference and amount); a final state
// never changes; an invoice is marked paid once, in the transaction that
// records the paid attempt; money taken twice becomes an overpayment.
package payments

import (
	"errors"
	"time"

	"github.com/regie/regie/tenant"
)

// Status is where an attempt stands.
type Status string

// The statuses of an attempt. Paid, refused, abandoned, expired and error
// are final.
const (
	Created   Status = "created" // stored, DGFiP not yet asked for an operation
	Pending   Status = "pending" // the payer is (or may be) on DGFiP's page
	Paid      Status = "paid"
	Refused   Status = "refused"
	Abandoned Status = "abandoned"
	Expired   Status = "expired"
	Failed    Status = "error"
)

// Final reports whether a status can no longer change.
func (s Status) Final() bool { return s != Created && s != Pending }

// Errors of the package.
var (
	ErrNotFound = errors.New("payments: not found")
	// ErrInProgress means an earlier attempt for the invoice may still
	// complete.
	ErrInProgress = errors.New("payments: a payment is already in progress")
	// ErrNotPayable means the invoice cannot be paid online; the
	// *NotPayableError says why.
	ErrNotPayable = errors.New("payments: invoice not payable online")
	// ErrUnavailable means DGFiP could not be reached or failed.
	ErrUnavailable = errors.New("payments: DGFiP unavailable")
)

// NotPayableError says, in French, why an invoice cannot be paid online.
type NotPayableError struct{ Reason string }

func (e *NotPayableError) Error() string { return "payments: " + e.Reason }
func (e *NotPayableError) Unwrap() error { return ErrNotPayable }

// Attempt is one try at paying an invoice.
type Attempt struct {
	TenantID          tenant.ID       `db:"tenant_id"`
	ID                int64           `db:"id"`
	InvoiceID         int64           `db:"invoice_id"`
	Protocol          tenant.Protocol `db:"protocol"`
	Mode              tenant.Mode     `db:"mode"`
	Saisie            string          `db:"saisie"`
	Numcli            string          `db:"numcli"`
	Refdet            string          `db:"refdet"`
	Exer              int             `db:"exer"`
	AmountCents       int64           `db:"amount_cents"`
	PayerEmail        string          `db:"payer_email"`
	IDOp              *string         `db:"idop"`
	Status            Status          `db:"status"`
	Resultrans        string          `db:"resultrans"`
	Numauto           string          `db:"numauto"`
	TransactionAt     *time.Time      `db:"transaction_at"`
	AmountMismatch    bool            `db:"amount_mismatch"`
	Error             string          `db:"error"`
	ReturnedAt        *time.Time      `db:"returned_at"`
	ReturnedCancelled bool            `db:"returned_cancelled"`
	Lookups           int             `db:"lookups"`
	CreatedAt         time.Time       `db:"created_at"`
	UpdatedAt         time.Time       `db:"updated_at"`
	SettledAt         *time.Time      `db:"settled_at"`
}

// IDOpOrEmpty returns DGFiP's operation id, or "".
func (a Attempt) IDOpOrEmpty() string {
	if a.IDOp == nil {
		return ""
	}
	return *a.IDOp
}

// Test reports a test-mode attempt: no money moves.
func (a Attempt) Test() bool { return a.Mode == tenant.ModeTest }

// MayStillComplete reports whether an attempt blocks a new one at now: not
// final, younger than the 20 minutes DGFiP gives a payer, and not cancelled
// by the payer on DGFiP's page.
func (a Attempt) MayStillComplete(now time.Time) bool {
	return !a.Status.Final() && now.Sub(a.CreatedAt) < PayerWindow && !a.ReturnedCancelled
}

// PayerWindow is how long a payer may still complete a payment after its
// operation was created (PAYFIP.md's 20-minute rule).
const PayerWindow = 20 * time.Minute

// Saisie maps a commune's mode to DGFiP's saisie for a protocol: PayFiP T,
// X, W; TIPI T for test and X otherwise.
func Saisie(p tenant.Protocol, m tenant.Mode) string {
	switch {
	case m == tenant.ModeTest:
		return "T"
	case p == tenant.ProtocolTIPI || m == tenant.ModeActivation:
		return "X"
	}
	return "W"
}

// Limits of an online payment, in cents.
const (
	MinAmount       = 100        // 1 €
	MaxAmountPayFiP = 10_000_000 // 100 000 €
	MaxAmountTIPI   = 999_999    // 9 999,99 €
)

// MaxAmount returns the protocol's upper bound.
func MaxAmount(p tenant.Protocol) int64 {
	if p == tenant.ProtocolTIPI {
		return MaxAmountTIPI
	}
	return MaxAmountPayFiP
}
