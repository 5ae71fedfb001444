package billing

import (
	"context"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/tenant"
	"github.com/regie/regie/tenant/pgdb"
)

const invoiceColumns = `tenant_id, id, family_id, series_id, batch_id, period, number, reference, refdet,
	own_reference, issue_date, due_date, total_cents, status, content_hash, pdf_key, paid_at, paid_test,
	cancel_reason, cancelled_at, published_at, created_at, updated_at`

// InvoiceByID returns an invoice.
func InvoiceByID(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, id int64) (Invoice, error) {
	const sel = pgdb.Prepared + `SELECT ` + invoiceColumns + ` FROM invoices WHERE tenant_id = $1 AND id = $2`
	var i Invoice
	err := sqlx.GetContext(ctx, q, &i, sel, tid, id)
	return i, mapErr(err)
}

// InvoiceByReference returns the invoice with that reference.
func InvoiceByReference(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, reference string) (Invoice, error) {
	const sel = `SELECT ` + invoiceColumns + ` FROM invoices WHERE tenant_id = $1 AND reference = $2`
	var i Invoice
	err := sqlx.GetContext(ctx, q, &i, sel, tid, reference)
	return i, mapErr(err)
}

// InvoiceLines returns the lines of an invoice in order.
func InvoiceLines(ctx context.Context, q sqlx.QueryerContext, tid tenant.ID, invoiceID int64) ([]Line, error) {
	const sel = pgdb.Prepared + `SELECT position, label, quantity_milli, unit_price_cents, total_cents FROM invoice_lines
		WHERE tenant_id = $1 AND invoice_id = $2 ORDER BY position`
	var ls []Line
	err := sqlx.SelectContext(ctx, q, &ls, sel, tid, invoiceID)
	return ls, err
}

// AccountInvoice is an invoice as an account lists it: with its family and
// series names.
type AccountInvoice struct {
	Invoice
	FamilyName  string `db:"family_name"`
	SeriesLabel string `db:"series_label"`
	// Paying: published, with an online payment that may still complete
	// (the families read "Paiement en cours")
	Paying bool `db:"paying"`
}

// accountInvoicePaying is AccountInvoice.Paying, for attempts created
// after $3: the rule of payments.Attempt.MayStillComplete, read with the
// invoices rather than by a query of its own (a round trip less on the
// families' most requested pages).
const accountInvoicePaying = `, i.status = 'published' AND EXISTS (SELECT 1 FROM payment_attempts a
		WHERE a.tenant_id = i.tenant_id AND a.invoice_id = i.id AND a.status IN ('created', 'pending')
		  AND a.created_at > $3 AND NOT a.returned_cancelled) AS paying`

// AccountInvoices returns the published, paid and cancelled invoices of
// every family that lists the address, newest period first: "Mes factures",
// in one query. Each carries only what the list shows (the families' most
// requested page: every column read costs its decoding): its commune, id,
// family, series, period, reference, dates, amount, status, test payment and
// cancellation reason, with the family and series names, and whether an
// online payment started after payingSince may still complete.
//
// The address's families and the commune's series are read once each,
// in materialized CTEs, and joined to the invoices in memory: joined
// plainly, the planner looked a family and a series up by primary key for
// every invoice row (five buffer hits a row; 81-83 a page, against 22-28).
//
// The rows are scanned by hand into a slice sized for a year of one
// family's invoices: sqlx's reflection allocated each row twice (a new
// struct, then the slice's growth) and its mapping cost about 5 % of the
// server's CPU at the maximum load. Scan takes the fields in the SELECT's
// order: TestAccountInvoices compares each row with AccountInvoiceByID's,
// which sqlx maps by name, and TestPaymentGuide reads Paying and PaidTest
// on the list (swapped columns failed both, tried).
func AccountInvoices(ctx context.Context, q sqlx.QueryerContext, tid tenant.ID, email string, payingSince time.Time) ([]AccountInvoice, error) {
	const sel = pgdb.Prepared + `WITH f AS MATERIALIZED (
			SELECT f.id, f.name FROM family_emails e JOIN families f ON f.tenant_id = e.tenant_id AND f.id = e.family_id
			WHERE e.tenant_id = $1 AND e.email = $2),
		s AS MATERIALIZED (SELECT id, label FROM series WHERE tenant_id = $1)
		SELECT i.tenant_id, i.id, i.family_id, i.series_id, i.period, i.reference, i.issue_date, i.due_date,
		i.total_cents, i.status, i.paid_test, i.cancel_reason, f.name AS family_name, s.label AS series_label` +
		accountInvoicePaying + `
		FROM f JOIN invoices i ON i.tenant_id = $1 AND i.family_id = f.id JOIN s ON s.id = i.series_id
		WHERE i.status <> 'draft' ORDER BY i.period DESC, i.id DESC`
	rows, err := q.QueryContext(ctx, sel, tid, email, payingSince)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]AccountInvoice, 0, 16)
	for rows.Next() {
		out = append(out, AccountInvoice{})
		i := &out[len(out)-1]
		if err := rows.Scan(&i.TenantID, &i.ID, &i.FamilyID, &i.SeriesID, &i.Period, &i.Reference, &i.IssueDate, &i.DueDate,
			&i.TotalCents, &i.Status, &i.PaidTest, &i.CancelReason, &i.FamilyName, &i.SeriesLabel, &i.Paying); err != nil {
			return nil, err
		}
	}
	return out, rows.Err()
}

// AccountInvoiceByID returns one invoice when a family of the address owns
// it, else ErrNotFound (whoever owns it, in this commune or another); Paying
// as AccountInvoices says.
func AccountInvoiceByID(ctx context.Context, q sqlx.QueryerContext, tid tenant.ID, email string, id int64, payingSince time.Time) (AccountInvoice, error) {
	var out AccountInvoice
	const sel = pgdb.Prepared + `SELECT i.tenant_id, i.id, i.family_id, i.series_id, i.batch_id, i.period, i.number, i.reference,
		i.refdet, i.own_reference, i.issue_date, i.due_date, i.total_cents, i.status, i.content_hash, i.pdf_key, i.paid_at,
		i.paid_test, i.cancel_reason, i.cancelled_at, i.published_at, i.created_at, i.updated_at,
		f.name AS family_name, s.label AS series_label` + accountInvoicePaying + `
		FROM family_emails e
		JOIN invoices i ON i.tenant_id = e.tenant_id AND i.family_id = e.family_id
		JOIN families f ON f.tenant_id = i.tenant_id AND f.id = i.family_id
		JOIN series s ON s.tenant_id = i.tenant_id AND s.id = i.series_id
		WHERE e.tenant_id = $1 AND e.email = $2 AND i.status <> 'draft' AND i.id = $4`
	err := sqlx.GetContext(ctx, q, &out, sel, tid, email, payingSince, id)
	return out, mapErr(err)
}

// Parties is whom an invoice's documents name: its family, with its postal
// address, and its series (only the columns the documents show are read).
type Parties struct {
	Family Family `db:"family"`
	Series Series `db:"series"`
}

// InvoiceParties returns, in one statement, the family and the series an
// invoice's documents name.
func InvoiceParties(ctx context.Context, q sqlx.QueryerContext, tid tenant.ID, inv Invoice) (Parties, error) {
	const sel = pgdb.Prepared + `SELECT f.ref AS "family.ref", f.name AS "family.name", f.address AS "family.address",
			f.postal_code AS "family.postal_code", f.city AS "family.city", s.label AS "series.label", s.numcli AS "series.numcli"
		FROM families f JOIN series s ON s.tenant_id = f.tenant_id AND s.id = $3
		WHERE f.tenant_id = $1 AND f.id = $2`
	var p Parties
	err := sqlx.GetContext(ctx, q, &p, sel, tid, inv.FamilyID, inv.SeriesID)
	return p, mapErr(err)
}

// SetPDFKey records where the invoice's PDF is stored.
func SetPDFKey(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, id int64, key string) error {
	const upd = pgdb.Prepared + `UPDATE invoices SET pdf_key = $3 WHERE tenant_id = $1 AND id = $2`
	_, err := q.ExecContext(ctx, upd, tid, id, key)
	return err
}

// FamilyStatus is an invoice's state in the words families read, on the
// list and on the detail.
type FamilyStatus string

// The statuses families read (DESIGN.md "Invoice status").
const (
	StatusDue       FamilyStatus = "À payer"
	StatusLate      FamilyStatus = "En retard"
	StatusPending   FamilyStatus = "Paiement en cours"
	StatusPaid      FamilyStatus = "Payée"
	StatusPaidTest  FamilyStatus = "Payée (test)"
	StatusCancelled FamilyStatus = "Annulée"
)

// StatusFor says where an invoice stands for its family on day today;
// paying reports a payment attempt that may still complete.
func StatusFor(i Invoice, today time.Time, paying bool) FamilyStatus {
	switch {
	case i.Status == Cancelled:
		return StatusCancelled
	case i.Status == Paid && i.PaidTest:
		return StatusPaidTest
	case i.Status == Paid:
		return StatusPaid
	case paying:
		return StatusPending
	case i.Overdue(today):
		return StatusLate
	}
	return StatusDue
}

// LockInvoice returns an invoice and locks its row until the transaction
// ends: payments take it before deciding whether a new attempt may start,
// so that two clicks at once make one attempt.
func LockInvoice(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, id int64) (Invoice, error) {
	const sel = pgdb.Prepared + `SELECT ` + invoiceColumns + ` FROM invoices WHERE tenant_id = $1 AND id = $2 FOR UPDATE`
	var i Invoice
	err := sqlx.GetContext(ctx, q, &i, sel, tid, id)
	return i, mapErr(err)
}

// MarkPaid marks a published invoice paid, in the transaction that records
// the payment, and reports whether it did: false means the invoice was
// already paid or cancelled (or not yet published), and the caller records
// the money as an anomaly. Under concurrent payments exactly one call
// returns true.
func MarkPaid(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, id int64, at time.Time, test bool) (bool, error) {
	const upd = pgdb.Prepared + `UPDATE invoices SET status = 'paid', paid_at = $3, paid_test = $4, updated_at = now()
		WHERE tenant_id = $1 AND id = $2 AND status = 'published'`
	res, err := q.ExecContext(ctx, upd, tid, id, at, test)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
