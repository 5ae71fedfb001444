package payments

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/tenant"
)

// CounterMeans are the ways of paying at the town hall's counter.
var CounterMeans = map[string]string{
	"cash":         "Espèces",
	"cheque":       "Chèque",
	"counter_card": "Carte bancaire en mairie",
	"other":        "Autre",
}

// RecordCounterPayment records money paid at the town hall, in tx: it marks
// the invoice paid, or, when the invoice was already paid (or cancelled),
// records an overpayment to refund. It returns the payment.
func RecordCounterPayment(ctx context.Context, tx *sqlx.Tx, tid tenant.ID, invoiceID int64, amount int64, means string, paidAt time.Time, note string) (Payment, error) {
	if _, ok := CounterMeans[means]; !ok {
		return Payment{}, &billing.ValidationError{Field: "means", Message: "moyen de paiement inconnu"}
	}
	if amount <= 0 {
		return Payment{}, &billing.ValidationError{Field: "amount", Message: "le montant doit être positif"}
	}
	note = strings.TrimSpace(note)
	if len([]rune(note)) > 500 {
		return Payment{}, &billing.ValidationError{Field: "note", Message: "note trop longue (500 caractères au plus)"}
	}
	inv, err := billing.LockInvoice(ctx, tx, tid, invoiceID)
	if err != nil {
		return Payment{}, err
	}
	if inv.Status == billing.Draft {
		return Payment{}, &billing.ValidationError{Field: "invoice", Message: "la facture n'est pas encore publiée"}
	}
	anomaly, reason := "", ""
	applied := false
	if amount != inv.TotalCents {
		anomaly = "amount_mismatch"
	} else if applied, err = billing.MarkPaid(ctx, tx, tid, invoiceID, paidAt, false); err != nil {
		return Payment{}, err
	}
	if !applied && anomaly == "" {
		anomaly, reason = "overpayment", "facture déjà payée"
		if inv.Status == billing.Cancelled {
			anomaly, reason = "cancelled_invoice", "paiement d'une facture annulée"
		}
	}
	var p Payment
	const ins = `INSERT INTO payments (tenant_id, invoice_id, channel, means, amount_cents, test, paid_at, applied, anomaly, note)
		VALUES ($1, $2, 'counter', $3, $4, false, $5, $6, $7, $8) RETURNING ` + paymentColumns
	if err := tx.GetContext(ctx, &p, ins, tid, invoiceID, means, amount, paidAt, applied, anomaly, note); err != nil {
		return Payment{}, fmt.Errorf("payments: record counter payment: %w", err)
	}
	if reason != "" {
		const over = `INSERT INTO overpayments (tenant_id, invoice_id, payment_id, amount_cents, reason) VALUES ($1, $2, $3, $4, $5)`
		if _, err := tx.ExecContext(ctx, over, tid, invoiceID, p.ID, amount, reason); err != nil {
			return Payment{}, err
		}
	}
	return p, nil
}
