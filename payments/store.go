package payments

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/tenant"
	"github.com/regie/regie/tenant/pgdb"
)

const attemptColumns = `tenant_id, id, invoice_id, protocol, mode, saisie, numcli, refdet, exer, amount_cents,
	payer_email, idop, status, resultrans, numauto, transaction_at, amount_mismatch, error, returned_at,
	returned_cancelled, lookups, created_at, updated_at, settled_at`

func mapErr(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// AttemptByID returns an attempt of the commune.
func AttemptByID(ctx context.Context, q sqlx.QueryerContext, tid tenant.ID, id int64) (Attempt, error) {
	const sel = pgdb.Prepared + `SELECT ` + attemptColumns + ` FROM payment_attempts WHERE tenant_id = $1 AND id = $2`
	var a Attempt
	err := sqlx.GetContext(ctx, q, &a, sel, tid, id)
	return a, mapErr(err)
}

// AttemptByIDOp returns the commune's attempt of a DGFiP operation.
func AttemptByIDOp(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, idOp string) (Attempt, error) {
	const sel = pgdb.Prepared + `SELECT ` + attemptColumns + ` FROM payment_attempts WHERE tenant_id = $1 AND idop = $2`
	var a Attempt
	err := sqlx.GetContext(ctx, q, &a, sel, tid, idOp)
	return a, mapErr(err)
}

// InvoiceAttempts returns the attempts of an invoice, newest first.
func InvoiceAttempts(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, invoiceID int64) ([]Attempt, error) {
	const sel = `SELECT ` + attemptColumns + ` FROM payment_attempts WHERE tenant_id = $1 AND invoice_id = $2
		ORDER BY created_at DESC, id DESC`
	var as []Attempt
	err := sqlx.SelectContext(ctx, q, &as, sel, tid, invoiceID)
	return as, err
}

// PayingSince is the start of the window in which an attempt may still
// complete at now (PayerWindow): billing.AccountInvoice.Paying counts the
// attempts created after it.
func PayingSince(now time.Time) time.Time { return now.Add(-PayerWindow) }

// note is one thing received about an attempt (a lookup's answer, a TIPI
// post, a notification), as the attempt's log keeps it.
type note struct {
	At     time.Time         `json:"at"`
	Source string            `json:"source"`
	Fields map[string]string `json:"fields"`
}

// record appends notes to an attempt's log and adds lookups (1 for a
// lookup's answer, else 0) to its count of lookups; the attempt stays
// locked until the transaction ends, so that a notification, the payer's
// return and the reconciliation settle it one at a time. It returns the
// attempt as recorded.
func record(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, id int64, notes []note, lookups int, now time.Time) (Attempt, error) {
	entries, err := notesJSON(notes)
	if err != nil {
		return Attempt{}, err
	}
	const upd = pgdb.Prepared + `UPDATE payment_attempts SET received = received || $3::jsonb, lookups = lookups + $4, updated_at = $5
		WHERE tenant_id = $1 AND id = $2 RETURNING ` + attemptColumns
	var a Attempt
	err = sqlx.GetContext(ctx, q, &a, upd, tid, id, entries, lookups, now)
	return a, mapErr(err)
}

// notesJSON encodes notes as a JSON array to append to an attempt's log.
func notesJSON(notes []note) (string, error) {
	if len(notes) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(notes)
	return string(b), err
}

// Payment is money received for an invoice.
type Payment struct {
	TenantID    tenant.ID `db:"tenant_id"`
	ID          int64     `db:"id"`
	InvoiceID   int64     `db:"invoice_id"`
	AttemptID   *int64    `db:"attempt_id"`
	Channel     string    `db:"channel"` // online, counter
	Means       string    `db:"means"`   // card, debit, cash, cheque, counter_card, other
	AmountCents int64     `db:"amount_cents"`
	Test        bool      `db:"test"`
	PaidAt      time.Time `db:"paid_at"`
	Applied     bool      `db:"applied"`
	Anomaly     string    `db:"anomaly"` // "", overpayment, amount_mismatch, cancelled_invoice
	Note        string    `db:"note"`
	CreatedAt   time.Time `db:"created_at"`
}

const paymentColumns = `tenant_id, id, invoice_id, attempt_id, channel, means, amount_cents, test, paid_at, applied, anomaly, note, created_at`

// PaymentByID returns a payment.
func PaymentByID(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, id int64) (Payment, error) {
	const sel = `SELECT ` + paymentColumns + ` FROM payments WHERE tenant_id = $1 AND id = $2`
	var p Payment
	err := sqlx.GetContext(ctx, q, &p, sel, tid, id)
	return p, mapErr(err)
}

// InvoicePayments returns the money received for an invoice, oldest first.
func InvoicePayments(ctx context.Context, q sqlx.QueryerContext, tid tenant.ID, invoiceID int64) ([]Payment, error) {
	const sel = pgdb.Prepared + `SELECT ` + paymentColumns + ` FROM payments WHERE tenant_id = $1 AND invoice_id = $2 ORDER BY paid_at, id`
	var ps []Payment
	err := sqlx.SelectContext(ctx, q, &ps, sel, tid, invoiceID)
	return ps, err
}

// Overpayment is money to give back.
type Overpayment struct {
	TenantID    tenant.ID  `db:"tenant_id"`
	ID          int64      `db:"id"`
	InvoiceID   int64      `db:"invoice_id"`
	PaymentID   int64      `db:"payment_id"`
	AmountCents int64      `db:"amount_cents"`
	Reason      string     `db:"reason"`
	Status      string     `db:"status"`
	CreatedAt   time.Time  `db:"created_at"`
	RefundedAt  *time.Time `db:"refunded_at"`
}

// Overpayments returns the commune's overpayments, newest first.
func Overpayments(ctx context.Context, q sqlx.ExtContext, tid tenant.ID) ([]Overpayment, error) {
	const sel = `SELECT tenant_id, id, invoice_id, payment_id, amount_cents, reason, status, created_at, refunded_at
		FROM overpayments WHERE tenant_id = $1 ORDER BY created_at DESC, id DESC`
	var os []Overpayment
	err := sqlx.SelectContext(ctx, q, &os, sel, tid)
	return os, err
}

// Attempts returns the commune's attempts, newest first, at most limit.
func Attempts(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, limit int) ([]Attempt, error) {
	const sel = `SELECT ` + attemptColumns + ` FROM payment_attempts WHERE tenant_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2`
	var as []Attempt
	err := sqlx.SelectContext(ctx, q, &as, sel, tid, limit)
	return as, err
}
