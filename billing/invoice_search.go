package billing

import (
	"context"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/tenant"
)

// InvoiceState is where an invoice stands as the back office filters it.
type InvoiceState string

// The states staff filter by. Overdue is a part of published: published,
// unpaid and past its due date.
const (
	StateDraft     InvoiceState = "draft"
	StatePublished InvoiceState = "published"
	StateOverdue   InvoiceState = "overdue"
	StatePaid      InvoiceState = "paid"
	StateCancelled InvoiceState = "cancelled"
)

// InvoiceStates lists the states in the order the filter offers them.
var InvoiceStates = []InvoiceState{StateDraft, StatePublished, StateOverdue, StatePaid, StateCancelled}

// ParseInvoiceState checks a state's name.
func ParseInvoiceState(s string) (InvoiceState, bool) {
	for _, st := range InvoiceStates {
		if string(st) == s {
			return st, true
		}
	}
	return "", false
}

// InvoiceFilter narrows the back office's invoice list; nil fields do not
// filter.
type InvoiceFilter struct {
	Period     *time.Time // first day of the month
	SeriesCode *string
	State      *InvoiceState
	FamilyID   *int64
}

// InvoiceListItem is an invoice of the back office's list, with its family
// and series.
type InvoiceListItem struct {
	Invoice
	FamilyRef   string `db:"family_ref"`
	FamilyName  string `db:"family_name"`
	SeriesCode  string `db:"series_code"`
	SeriesLabel string `db:"series_label"`
}

// InvoiceTotals sum up every invoice a filter matches, not only the page.
type InvoiceTotals struct {
	Count       int   `db:"n"`
	AmountCents int64 `db:"amount"`
	PaidCents   int64 `db:"paid"`   // status paid
	UnpaidCents int64 `db:"unpaid"` // status published
}

// SearchInvoices returns one page of the commune's invoices that match f,
// newest period first, and the totals of all that match, in one statement:
// the totals are one aggregate pass over the filtered set, the page a
// top-N sort of it, and only the page is joined to its families and
// series. today (billing.Today) decides what is overdue. When offset is
// past the end the page is empty, and so are the totals.
func SearchInvoices(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, f InvoiceFilter, today time.Time, limit, offset int) ([]InvoiceListItem, InvoiceTotals, error) {
	if limit <= 0 {
		limit = 50
	}
	var state *string
	if f.State != nil {
		s := string(*f.State)
		state = &s
	}
	// NULL parameters fold away when PostgreSQL plans the statement with
	// its values, so each filter uses the index that suits it. Every
	// operator here is leakproof, which row-level security requires of an
	// index condition.
	const sel = `WITH matching AS NOT MATERIALIZED (
			SELECT ` + invoiceColumns + ` FROM invoices
			WHERE tenant_id = $1
				AND ($2::date IS NULL OR period = $2::date)
				AND ($3::text IS NULL OR series_id = (SELECT id FROM series WHERE tenant_id = $1 AND code = $3::text))
				AND ($4::bigint IS NULL OR family_id = $4::bigint)
				AND ($5::text IS NULL
					OR $5::text = 'overdue' AND status = 'published' AND due_date < $6::date
					OR $5::text <> 'overdue' AND status = $5::text)
		), totals AS (
			SELECT count(*) AS n, coalesce(sum(total_cents), 0) AS amount,
				coalesce(sum(total_cents) FILTER (WHERE status = 'paid'), 0) AS paid,
				coalesce(sum(total_cents) FILTER (WHERE status = 'published'), 0) AS unpaid
			FROM matching
		), page AS (
			SELECT * FROM matching ORDER BY period DESC, id DESC LIMIT $7 OFFSET $8
		)
		SELECT p.tenant_id, p.id, p.family_id, p.series_id, p.batch_id, p.period, p.number, p.reference,
			p.refdet, p.own_reference, p.issue_date, p.due_date, p.total_cents, p.status, p.content_hash, p.pdf_key,
			p.paid_at, p.paid_test, p.cancel_reason, p.cancelled_at, p.published_at, p.created_at, p.updated_at,
			f.ref AS family_ref, f.name AS family_name, s.code AS series_code, s.label AS series_label,
			t.n, t.amount, t.paid, t.unpaid
		FROM page p
		JOIN families f ON f.tenant_id = p.tenant_id AND f.id = p.family_id
		JOIN series s ON s.tenant_id = p.tenant_id AND s.id = p.series_id
		CROSS JOIN totals t
		ORDER BY p.period DESC, p.id DESC`
	var rows []struct {
		InvoiceListItem
		InvoiceTotals
	}
	if err := sqlx.SelectContext(ctx, q, &rows, sel, tid, f.Period, f.SeriesCode, f.FamilyID, state, today, limit, offset); err != nil {
		return nil, InvoiceTotals{}, err
	}
	out := make([]InvoiceListItem, len(rows))
	var totals InvoiceTotals
	for i, r := range rows {
		out[i] = r.InvoiceListItem
		totals = r.InvoiceTotals
	}
	return out, totals, nil
}

// InvoiceState returns where an invoice stands for staff on day today.
func (i Invoice) State(today time.Time) InvoiceState {
	if i.Overdue(today) {
		return StateOverdue
	}
	return InvoiceState(i.Status)
}
