package payments

import (
	"context"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/tenant"
)

// FamilyPayment is money received for one of a family's invoices, with the
// invoice's reference.
type FamilyPayment struct {
	Payment
	Reference string `db:"reference"`
}

// FamilyPayments returns the latest money received for a family's
// invoices, newest first, at most limit, in one query (invoices_by_family,
// then payments_by_invoice).
func FamilyPayments(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, familyID int64, limit int) ([]FamilyPayment, error) {
	const sel = `SELECT p.tenant_id, p.id, p.invoice_id, p.attempt_id, p.channel, p.means, p.amount_cents, p.test,
			p.paid_at, p.applied, p.anomaly, p.note, p.created_at, coalesce(i.reference, '') AS reference
		FROM invoices i JOIN payments p ON p.tenant_id = i.tenant_id AND p.invoice_id = i.id
		WHERE i.tenant_id = $1 AND i.family_id = $2
		ORDER BY p.paid_at DESC, p.id DESC LIMIT $3`
	var ps []FamilyPayment
	err := sqlx.SelectContext(ctx, q, &ps, sel, tid, familyID, limit)
	return ps, err
}

// InvoiceOverpayments returns the overpayments of an invoice, oldest
// first.
func InvoiceOverpayments(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, invoiceID int64) ([]Overpayment, error) {
	const sel = `SELECT o.tenant_id, o.id, o.invoice_id, o.payment_id, o.amount_cents, o.reason, o.status, o.created_at, o.refunded_at
		FROM payments p JOIN overpayments o ON o.tenant_id = p.tenant_id AND o.payment_id = p.id
		WHERE p.tenant_id = $1 AND p.invoice_id = $2
		ORDER BY o.created_at, o.id`
	var os []Overpayment
	err := sqlx.SelectContext(ctx, q, &os, sel, tid, invoiceID)
	return os, err
}
