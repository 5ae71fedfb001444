package payments

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/tenant"
	"github.com/regie/regie/tenant/pgdb"
)

// PaymentSettled is the job inserted with every online payment: portal
// mails the payer's receipt.
type PaymentSettled struct {
	TenantID  tenant.ID `json:"tenant_id"`
	PaymentID int64     `json:"payment_id"`
}

// Kind names the job in River.
func (PaymentSettled) Kind() string { return "payments.settled" }

// outcome is a final answer about an attempt.
type outcome struct {
	status        Status
	resultrans    string
	numauto       string
	transactionAt time.Time
	amount        int64 // what DGFiP says was taken

	// logged by the same statement: what was received (nil for nothing)
	// and the lookups to count (1 for a lookup's answer)
	notes   []note
	lookups int
}

// settle applies a final outcome to attempt a, as read in tx or before it:
// the UPDATE that settles it locks it and checks that it is still open and
// still has the operation a had (an attempt failed for want of an operation
// may have got one meanwhile). An attempt final or changed meanwhile is left
// alone (a duplicate notification, a second lookup), its outcome not logged
// either: so an attempt settles once. A paid attempt records the money and,
// when its amount is the attempt's, marks the invoice paid, or, when the
// invoice was already paid or cancelled meanwhile, records an overpayment to
// refund. A different amount is recorded and flagged, never applied. It
// returns what it did (settled).
func settle(ctx context.Context, tx *sqlx.Tx, jobs *river.Client[*sql.Tx], a Attempt, o outcome, now time.Time) (settled, error) {
	if a.Status.Final() {
		return settled{}, nil
	}
	mismatch := o.status == Paid && o.amount != a.AmountCents
	var txAt *time.Time
	if !o.transactionAt.IsZero() {
		txAt = &o.transactionAt
	}
	notes, err := notesJSON(o.notes)
	if err != nil {
		return settled{}, err
	}
	const upd = pgdb.Prepared + `UPDATE payment_attempts SET status = $3, resultrans = $4, numauto = $5, transaction_at = $6,
			amount_mismatch = $7, settled_at = $8, updated_at = $8, received = received || $9::jsonb, lookups = lookups + $10
		WHERE tenant_id = $1 AND id = $2 AND status IN ('created', 'pending') AND idop IS NOT DISTINCT FROM $11
		RETURNING ` + attemptColumns
	var after Attempt
	err = sqlx.GetContext(ctx, tx, &after, upd, a.TenantID, a.ID, o.status, o.resultrans, o.numauto, txAt, mismatch, now, notes, o.lookups, a.IDOp)
	if errors.Is(err, sql.ErrNoRows) {
		return settled{}, nil
	}
	if err != nil {
		return settled{}, err
	}
	if o.status != Paid {
		return settled{attempt: &after, outcome: string(o.status), test: a.Test()}, nil
	}

	paidAt := now
	if txAt != nil {
		paidAt = *txAt
	}
	means := "card"
	if o.resultrans == "V" {
		means = "debit"
	}
	anomaly, reason := "", ""
	applied := false
	if mismatch {
		anomaly = "amount_mismatch"
	} else {
		if applied, err = billing.MarkPaid(ctx, tx, a.TenantID, a.InvoiceID, paidAt, a.Test()); err != nil {
			return settled{}, err
		}
		if !applied {
			inv, err := billing.InvoiceByID(ctx, tx, a.TenantID, a.InvoiceID)
			if err != nil {
				return settled{}, err
			}
			anomaly, reason = "overpayment", "facture déjà payée"
			if inv.Status == billing.Cancelled {
				anomaly, reason = "cancelled_invoice", "paiement d'une facture annulée"
			}
		}
	}
	amount := o.amount
	if amount <= 0 {
		amount = a.AmountCents
	}
	var paymentID int64
	const ins = pgdb.Prepared + `INSERT INTO payments (tenant_id, invoice_id, attempt_id, channel, means, amount_cents, test, paid_at, applied, anomaly)
		VALUES ($1, $2, $3, 'online', $4, $5, $6, $7, $8, $9) RETURNING id`
	if err := tx.GetContext(ctx, &paymentID, ins, a.TenantID, a.InvoiceID, a.ID, means, amount, a.Test(), paidAt, applied, anomaly); err != nil {
		return settled{}, fmt.Errorf("payments: record payment: %w", err)
	}
	if reason != "" {
		const over = `INSERT INTO overpayments (tenant_id, invoice_id, payment_id, amount_cents, reason) VALUES ($1, $2, $3, $4, $5)`
		if _, err := tx.ExecContext(ctx, over, a.TenantID, a.InvoiceID, paymentID, amount, reason); err != nil {
			return settled{}, fmt.Errorf("payments: record overpayment: %w", err)
		}
	}
	if _, err := jobs.InsertTx(ctx, tx.Tx, PaymentSettled{TenantID: a.TenantID, PaymentID: paymentID}, nil); err != nil {
		return settled{}, fmt.Errorf("payments: queue receipt: %w", err)
	}
	out := settled{attempt: &after, paymentID: paymentID, outcome: "paid", test: a.Test()}
	if anomaly != "" {
		out.outcome = anomaly
	}
	return out, nil
}

// settled is what settle did: the attempt as it left it, the payment it
// recorded (0 for none) and the outcome to count once the transaction
// commits ("" when the attempt was already final).
type settled struct {
	attempt   *Attempt // as settled; nil when it was final already
	paymentID int64
	outcome   string
	test      bool
}

// count adds the outcome to the payments metric; call it after commit.
func (s settled) count() {
	if s.outcome != "" {
		paymentOutcomes.WithLabelValues("online", s.outcome, strconv.FormatBool(s.test)).Inc()
	}
}
