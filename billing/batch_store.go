package billing

import (
	"context"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/tenant"
)

// BatchStatus is where an import batch stands.
type BatchStatus string

// The statuses of a batch.
const (
	BatchImported  BatchStatus = "imported"
	BatchPublished BatchStatus = "published"
	BatchCancelled BatchStatus = "cancelled"
)

// Label is the status in the words of the back office.
func (s BatchStatus) Label() string {
	switch s {
	case BatchImported:
		return "Importé, non publié"
	case BatchPublished:
		return "Publié"
	case BatchCancelled:
		return "Annulé"
	}
	return string(s)
}

// Batch is the set of invoices one import wrote.
type Batch struct {
	TenantID     tenant.ID   `db:"tenant_id"`
	ID           int64       `db:"id"`
	Filename     string      `db:"filename"`
	Status       BatchStatus `db:"status"`
	Rows         int         `db:"rows"`
	Invoices     int         `db:"invoices"`
	TotalCents   int64       `db:"total_cents"`
	CreatedAt    time.Time   `db:"created_at"`
	PublishedAt  *time.Time  `db:"published_at"`
	PublishAt    *time.Time  `db:"publish_at"` // a scheduled publication
	CancelReason string      `db:"cancel_reason"`
	CancelledAt  *time.Time  `db:"cancelled_at"`
}

const batchColumns = `tenant_id, id, filename, status, rows, invoices, total_cents, created_at, published_at,
	publish_at, cancel_reason, cancelled_at`

// BatchByID returns a batch of the commune, or ErrNotFound.
func BatchByID(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, id int64) (Batch, error) {
	const sel = `SELECT ` + batchColumns + ` FROM import_batches WHERE tenant_id = $1 AND id = $2`
	var b Batch
	err := sqlx.GetContext(ctx, q, &b, sel, tid, id)
	return b, mapErr(err)
}

// ListBatches returns the commune's batches, newest first, limit at a time
// from offset (index import_batches_recent).
func ListBatches(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, limit, offset int) ([]Batch, error) {
	const sel = `SELECT ` + batchColumns + ` FROM import_batches WHERE tenant_id = $1
		ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3`
	var out []Batch
	err := sqlx.SelectContext(ctx, q, &out, sel, tid, limit, offset)
	return out, err
}

// ScheduleBatch sets the instant an imported batch is to be published at
// (PublishDueWorker publishes it then). It returns ErrNotFound, or
// ErrBatchState for a batch already published or cancelled.
func ScheduleBatch(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, id int64, at time.Time) error {
	const upd = `UPDATE import_batches SET publish_at = $3 WHERE tenant_id = $1 AND id = $2 AND status = 'imported'`
	res, err := q.ExecContext(ctx, upd, tid, id, at)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	if _, err := BatchByID(ctx, q, tid, id); err != nil {
		return err
	}
	return ErrBatchState
}

// BatchCount is how many invoices of a batch have a status, and their
// total.
type BatchCount struct {
	Status     InvoiceStatus `db:"status"`
	Invoices   int           `db:"invoices"`
	TotalCents int64         `db:"total"`
}

// BatchCounts counts a batch's invoices by status, in one query.
func BatchCounts(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, id int64) ([]BatchCount, error) {
	const sel = `SELECT status, count(*) AS invoices, coalesce(sum(total_cents), 0) AS total
		FROM invoices WHERE tenant_id = $1 AND batch_id = $2 GROUP BY status ORDER BY status`
	var out []BatchCount
	err := sqlx.SelectContext(ctx, q, &out, sel, tid, id)
	return out, err
}

// BatchInvoice is an invoice of a batch with its family and series.
type BatchInvoice struct {
	Invoice
	FamilyRef  string `db:"family_ref"`
	FamilyName string `db:"family_name"`
	SeriesCode string `db:"series_code"`
}

// BatchInvoices returns the invoices of a batch in the order of the file,
// limit at a time from offset, in one query (index invoices_by_batch).
func BatchInvoices(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, id int64, limit, offset int) ([]BatchInvoice, error) {
	const sel = `SELECT i.tenant_id, i.id, i.family_id, i.series_id, i.batch_id, i.period, i.number, i.reference,
			i.refdet, i.own_reference, i.issue_date, i.due_date, i.total_cents, i.status, i.content_hash, i.pdf_key,
			i.paid_at, i.paid_test, i.cancel_reason, i.cancelled_at, i.published_at, i.created_at, i.updated_at,
			f.ref AS family_ref, f.name AS family_name, s.code AS series_code
		FROM (SELECT * FROM invoices WHERE tenant_id = $1 AND batch_id = $2 ORDER BY id LIMIT $3 OFFSET $4) i
		JOIN families f ON f.tenant_id = i.tenant_id AND f.id = i.family_id
		JOIN series s ON s.tenant_id = i.tenant_id AND s.id = i.series_id
		ORDER BY i.id`
	var out []BatchInvoice
	err := sqlx.SelectContext(ctx, q, &out, sel, tid, id, limit, offset)
	return out, err
}

// BatchReferences maps the references of a batch's invoices that have one
// (their own, or the one publication gave) to the invoices' ids; cancelled
// invoices are left out.
func BatchReferences(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, id int64) (map[string]int64, error) {
	const sel = `SELECT id, reference FROM invoices
		WHERE tenant_id = $1 AND batch_id = $2 AND reference IS NOT NULL AND status <> 'cancelled'`
	var rows []struct {
		ID        int64  `db:"id"`
		Reference string `db:"reference"`
	}
	if err := sqlx.SelectContext(ctx, q, &rows, sel, tid, id); err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(rows))
	for _, r := range rows {
		out[r.Reference] = r.ID
	}
	return out, nil
}

// BatchUnnumbered counts the invoices of a batch still without a reference:
// drafts numbered by Régie at publication.
func BatchUnnumbered(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, id int64) (int, error) {
	const sel = `SELECT count(*) FROM invoices WHERE tenant_id = $1 AND batch_id = $2 AND reference IS NULL`
	var n int
	err := sqlx.GetContext(ctx, q, &n, sel, tid, id)
	return n, err
}
