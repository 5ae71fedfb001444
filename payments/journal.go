package payments

import (
	"context"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/tenant"
)

// The kinds of journal entries.
const (
	EntryAttempt     = "attempt"     // a try at paying online
	EntryPayment     = "payment"     // money received, online or at the counter
	EntryOverpayment = "overpayment" // money to give back
)

// The states of a payment in the journal (attempts keep their Status,
// overpayments theirs: to_refund, refunded).
const (
	PaymentApplied = "applied" // it paid its invoice
	PaymentAnomaly = "anomaly" // recorded, not applied: see Anomaly
)

// JournalFilter selects journal entries; nil fields select everything.
type JournalFilter struct {
	From *time.Time // entries at or after
	To   *time.Time // entries strictly before
	// AttemptStatus keeps only the attempts in that status.
	AttemptStatus *Status
	// Applied keeps only payments: applied ones (true), or anomalies
	// (false), which then include the overpayments.
	Applied *bool
	// Test keeps only test-mode entries (true) or real ones (false).
	Test *bool
	// Channel keeps only one channel: online (attempts included) or counter.
	Channel *string
}

// JournalEntry is one line of the payments journal: an attempt, a payment
// or an overpayment, with its invoice and family.
type JournalEntry struct {
	Kind        string    `db:"kind"` // EntryAttempt, EntryPayment, EntryOverpayment
	ID          int64     `db:"id"`
	At          time.Time `db:"at"` // attempt created, money paid, overpayment recorded
	InvoiceID   int64     `db:"invoice_id"`
	AmountCents int64     `db:"amount_cents"`
	Test        bool      `db:"test"`
	Channel     string    `db:"channel"` // online, counter
	Means       string    `db:"means"`   // payments and overpayments: card, debit, cash, …
	// State is an attempt's Status, PaymentApplied or PaymentAnomaly, or an
	// overpayment's status (to_refund, refunded).
	State string `db:"state"`
	// Anomaly is "", amount_mismatch, overpayment or cancelled_invoice.
	Anomaly       string `db:"anomaly"`
	Numauto       string `db:"numauto"`
	IDOp          string `db:"idop"`
	Note          string `db:"note"` // a counter payment's note, an overpayment's reason
	Reference     string `db:"reference"`
	Refdet        string `db:"refdet"`
	InvoiceCents  int64  `db:"invoice_cents"`
	InvoiceStatus string `db:"invoice_status"`
	Family        string `db:"family"`
}

// Journal returns a page of the commune's journal, newest first: at most
// limit entries after skipping offset. One query (a UNION of the three
// tables, each read through its (tenant_id, date) index).
func Journal(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, f JournalFilter, limit, offset int) ([]JournalEntry, error) {
	online := f.Channel == nil || *f.Channel == "online"
	attempts := f.Applied == nil && online
	paymentsToo := f.AttemptStatus == nil
	overpayments := f.AttemptStatus == nil && (f.Applied == nil || !*f.Applied)
	var status *string
	if f.AttemptStatus != nil {
		s := string(*f.AttemptStatus)
		status = &s
	}
	// Each branch takes its newest rows through its (tenant_id, date)
	// index and stops at offset+limit; invoices, families and DGFiP's ids
	// are joined to the page only.
	const sel = `SELECT j.kind, j.id, j.at, j.invoice_id, j.amount_cents, j.test, j.channel, j.means, j.state, j.anomaly,
		coalesce(pa.numauto, '') AS numauto, coalesce(pa.idop, '') AS idop, j.note,
		coalesce(i.reference, '') AS reference, coalesce(i.refdet, '') AS refdet,
		i.total_cents AS invoice_cents, i.status AS invoice_status, f.name AS family
	FROM (
		(SELECT 'attempt' AS kind, a.id, a.created_at AS at, a.invoice_id, a.id AS attempt_id, a.amount_cents,
			a.mode = 'test' AS test, 'online' AS channel, '' AS means, a.status AS state,
			CASE WHEN a.amount_mismatch THEN 'amount_mismatch' ELSE '' END AS anomaly, '' AS note
		FROM payment_attempts a
		WHERE $2 AND a.tenant_id = $1
		  AND ($5::timestamptz IS NULL OR a.created_at >= $5) AND ($6::timestamptz IS NULL OR a.created_at < $6)
		  AND ($7::text IS NULL OR a.status = $7) AND ($8::boolean IS NULL OR (a.mode = 'test') = $8)
		ORDER BY a.created_at DESC, a.id DESC LIMIT $13)
		UNION ALL
		(SELECT 'payment', p.id, p.paid_at, p.invoice_id, p.attempt_id, p.amount_cents, p.test, p.channel, p.means,
			CASE WHEN p.applied THEN 'applied' ELSE 'anomaly' END, p.anomaly, p.note
		FROM payments p
		WHERE $3 AND p.tenant_id = $1
		  AND ($5::timestamptz IS NULL OR p.paid_at >= $5) AND ($6::timestamptz IS NULL OR p.paid_at < $6)
		  AND ($8::boolean IS NULL OR p.test = $8) AND ($9::boolean IS NULL OR p.applied = $9)
		  AND ($10::text IS NULL OR p.channel = $10)
		ORDER BY p.paid_at DESC, p.id DESC LIMIT $13)
		UNION ALL
		(SELECT 'overpayment', o.id, o.created_at, o.invoice_id, p.attempt_id, o.amount_cents, p.test, p.channel, p.means,
			o.status, p.anomaly, o.reason
		FROM overpayments o JOIN payments p ON p.tenant_id = o.tenant_id AND p.id = o.payment_id
		WHERE $4 AND o.tenant_id = $1
		  AND ($5::timestamptz IS NULL OR o.created_at >= $5) AND ($6::timestamptz IS NULL OR o.created_at < $6)
		  AND ($8::boolean IS NULL OR p.test = $8) AND ($10::text IS NULL OR p.channel = $10)
		ORDER BY o.created_at DESC, o.id DESC LIMIT $13)
	) j
	JOIN invoices i ON i.tenant_id = $1 AND i.id = j.invoice_id
	JOIN families f ON f.tenant_id = $1 AND f.id = i.family_id
	LEFT JOIN payment_attempts pa ON pa.tenant_id = $1 AND pa.id = j.attempt_id
	ORDER BY j.at DESC, j.kind DESC, j.id DESC
	LIMIT $11 OFFSET $12`
	var out []JournalEntry
	err := sqlx.SelectContext(ctx, q, &out, sel, tid, attempts, paymentsToo, overpayments,
		f.From, f.To, status, f.Test, f.Applied, f.Channel, limit, offset, limit+offset)
	return out, err
}

// ReceivedFilter selects money received; nil fields select everything.
type ReceivedFilter struct {
	From    *time.Time // paid at or after
	To      *time.Time // paid strictly before
	Applied *bool      // only applied payments (true) or anomalies (false)
	Channel *string    // online or counter
}

// Received is money received, as the treasury's export lists it.
type Received struct {
	ID          int64     `db:"id"`
	PaidAt      time.Time `db:"paid_at"`
	Reference   string    `db:"reference"`
	Refdet      string    `db:"refdet"`
	Exer        int       `db:"exer"`
	AmountCents int64     `db:"amount_cents"`
	Numauto     string    `db:"numauto"`
	IDOp        string    `db:"idop"`
	Channel     string    `db:"channel"`
	Means       string    `db:"means"`
	Applied     bool      `db:"applied"`
	Anomaly     string    `db:"anomaly"`
	Family      string    `db:"family"`
}

// EachReceived calls fn for every real (never test) payment of the commune
// the filter selects, oldest first, as the rows come from one query: an
// export of any size streams without being held in memory. It stops at
// fn's first error and returns it.
func EachReceived(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, f ReceivedFilter, fn func(Received) error) error {
	const sel = `SELECT p.id, p.paid_at, coalesce(i.reference, '') AS reference, coalesce(i.refdet, '') AS refdet,
			coalesce(a.exer, extract(year FROM i.period)::int) AS exer, p.amount_cents,
			coalesce(a.numauto, '') AS numauto, coalesce(a.idop, '') AS idop, p.channel, p.means, p.applied,
			p.anomaly, f.name AS family
		FROM payments p
		JOIN invoices i ON i.tenant_id = p.tenant_id AND i.id = p.invoice_id
		JOIN families f ON f.tenant_id = i.tenant_id AND f.id = i.family_id
		LEFT JOIN payment_attempts a ON a.tenant_id = p.tenant_id AND a.id = p.attempt_id
		WHERE p.tenant_id = $1 AND NOT p.test
		  AND ($2::timestamptz IS NULL OR p.paid_at >= $2) AND ($3::timestamptz IS NULL OR p.paid_at < $3)
		  AND ($4::boolean IS NULL OR p.applied = $4) AND ($5::text IS NULL OR p.channel = $5)
		ORDER BY p.paid_at, p.id`
	rows, err := q.QueryxContext(ctx, sel, tid, f.From, f.To, f.Applied, f.Channel)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var r Received
		if err := rows.StructScan(&r); err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return rows.Err()
}
