package billing

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/regie/regie/tenant"
)

// MonthBounds returns the first instant, in Europe/Paris, of n consecutive
// months starting with the month of first, followed by the first instant
// of the month after them: n+1 bounds, daylight saving time included.
func MonthBounds(first time.Time, n int) []time.Time {
	y, m, _ := first.In(tenant.Paris).Date()
	out := make([]time.Time, n+1)
	for i := range out {
		out[i] = time.Date(y, m+time.Month(i), 1, 0, 0, 0, 0, tenant.Paris)
	}
	return out
}

// MonthsParam passes month bounds to SQL as a timestamptz[] (cast the
// parameter), for width_bucket: width_bucket(t, bounds) is i+1 for an
// instant t in month i. It costs a binary search per row where date_trunc
// in a time zone would convert every row's time.
func MonthsParam(bounds []time.Time) any {
	s := make(pq.StringArray, len(bounds))
	for i, b := range bounds {
		s[i] = b.Format(time.RFC3339Nano)
	}
	return s
}

// MonthTotal is what one calendar month (Europe/Paris) adds up to: how many
// and how much.
type MonthTotal struct {
	Month int   `db:"month"` // index in the bounds given: 0 is the first month
	Count int64 `db:"n"`
	Cents int64 `db:"cents"`
}

// PublishedByMonth returns, for each month of bounds (see MonthBounds) that
// has any, the invoices published in it and their amount, cancelled
// invoices left out (a batch published by mistake then cancelled invoiced
// nothing). It is one aggregate query on the index invoices_published.
func PublishedByMonth(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, bounds []time.Time) ([]MonthTotal, error) {
	if len(bounds) < 2 {
		return nil, fmt.Errorf("billing: %d month bounds", len(bounds))
	}
	const sel = `SELECT width_bucket(published_at, $2::timestamptz[]) - 1 AS month, count(*) AS n,
			coalesce(sum(total_cents), 0)::bigint AS cents
		FROM invoices
		WHERE tenant_id = $1 AND published_at IS NOT NULL AND published_at >= $3 AND published_at < $4
		  AND status <> 'cancelled'
		GROUP BY 1 ORDER BY 1`
	var out []MonthTotal
	err := sqlx.SelectContext(ctx, q, &out, sel, tid, MonthsParam(bounds), bounds[0], bounds[len(bounds)-1])
	return out, err
}

// Receivables is what families still owe on a day: every published invoice
// not paid (nor cancelled), and among them those past their due date.
type Receivables struct {
	UnpaidCount  int64 `db:"unpaid_n"`
	UnpaidCents  int64 `db:"unpaid_cents"`
	OverdueCount int64 `db:"overdue_n"`
	OverdueCents int64 `db:"overdue_cents"`
}

// ReceivablesOn returns what is owed on day today (a date as Today gives
// it): an invoice is overdue the day after its due date, as Invoice.Overdue
// says. One query on the index invoices_by_status.
func ReceivablesOn(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, today time.Time) (Receivables, error) {
	const sel = `SELECT count(*) AS unpaid_n, coalesce(sum(total_cents), 0)::bigint AS unpaid_cents,
			count(*) FILTER (WHERE due_date < $2::date) AS overdue_n,
			coalesce(sum(total_cents) FILTER (WHERE due_date < $2::date), 0)::bigint AS overdue_cents
		FROM invoices WHERE tenant_id = $1 AND status = 'published'`
	var r Receivables
	err := sqlx.GetContext(ctx, q, &r, sel, tid, today.Format(time.DateOnly))
	return r, err
}
