package payments

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/tenant"
)

// ChannelMonth is the money one channel (online, counter) brought in one
// calendar month (Europe/Paris).
type ChannelMonth struct {
	Month   int    `db:"month"` // index in the bounds given: 0 is the first month
	Channel string `db:"channel"`
	Count   int64  `db:"n"`
	Cents   int64  `db:"cents"`
}

// PaidByMonth returns, per month of bounds (see billing.MonthBounds) and
// channel, the payments that paid their invoice: applied ones, never test
// ones (no money moved). Anomalies (overpayments, different amounts) are
// left out: they paid nothing. One aggregate query on payments_by_date.
func PaidByMonth(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, bounds []time.Time) ([]ChannelMonth, error) {
	if len(bounds) < 2 {
		return nil, fmt.Errorf("payments: %d month bounds", len(bounds))
	}
	const sel = `SELECT width_bucket(paid_at, $2::timestamptz[]) - 1 AS month, channel, count(*) AS n,
			coalesce(sum(amount_cents), 0)::bigint AS cents
		FROM payments
		WHERE tenant_id = $1 AND paid_at >= $3 AND paid_at < $4 AND applied AND NOT test
		GROUP BY 1, 2 ORDER BY 1, 2`
	var out []ChannelMonth
	err := sqlx.SelectContext(ctx, q, &out, sel, tid, billing.MonthsParam(bounds), bounds[0], bounds[len(bounds)-1])
	return out, err
}

// Refunds is the money the commune has to give back.
type Refunds struct {
	Count int64 `db:"n"`
	Cents int64 `db:"cents"`
}

// ToRefund returns the overpayments still to refund. Those of test-mode
// payments are left out: no money was taken.
func ToRefund(ctx context.Context, q sqlx.ExtContext, tid tenant.ID) (Refunds, error) {
	const sel = `SELECT count(*) AS n, coalesce(sum(o.amount_cents), 0)::bigint AS cents
		FROM overpayments o JOIN payments p ON p.tenant_id = o.tenant_id AND p.id = o.payment_id
		WHERE o.tenant_id = $1 AND o.status = 'to_refund' AND NOT p.test`
	var r Refunds
	err := sqlx.GetContext(ctx, q, &r, sel, tid)
	return r, err
}
