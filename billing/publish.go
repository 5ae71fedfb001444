package billing

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/riverqueue/river"

	"github.com/regie/regie/tenant"
)

// ErrBatchState means the batch is already published or cancelled.
var ErrBatchState = errors.New("billing: batch already published or cancelled")

// InvoicesPublished is the job inserted with a publication: portal turns it
// into one mail per account (and invitations for addresses without one).
type InvoicesPublished struct {
	TenantID tenant.ID `json:"tenant_id"`
	BatchID  int64     `json:"batch_id"`
	// After is the last address mailed by the earlier runs of a large
	// publication, which each hand over to the next after a while.
	After string `json:"after,omitempty"`
}

// Kind names the job in River.
func (InvoicesPublished) Kind() string { return "billing.invoices_published" }

// Publish numbers and publishes the draft invoices of a batch, inside tx: the
// numbers of each series are taken under the series' row lock, so
// concurrent publications never share or skip a number, and the
// notification job is inserted in the same transaction. It returns the
// number of invoices published, ErrNotFound for an unknown batch and
// ErrBatchState for one already published or cancelled.
func Publish(ctx context.Context, tx *sqlx.Tx, jobs *river.Client[*sql.Tx], tid tenant.ID, batchID int64, now time.Time) (int, error) {
	var status string
	err := tx.GetContext(ctx, &status, `SELECT status FROM import_batches WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, tid, batchID)
	if err != nil {
		return 0, mapErr(err)
	}
	if status != "imported" {
		return 0, ErrBatchState
	}
	var drafts []struct {
		ID           int64     `db:"id"`
		SeriesID     int64     `db:"series_id"`
		Period       time.Time `db:"period"`
		OwnReference bool      `db:"own_reference"`
	}
	// The family's name is looked up by primary key for each draft, not
	// joined: right after a large first import the planner's statistics
	// say the commune has no rows, and a join then became a nested loop
	// over every family of the commune for every draft (100,000 drafts
	// ran for over seven minutes; this takes 0.4 s).
	const sel = `SELECT i.id, i.series_id, i.period, i.own_reference
		FROM invoices i
		WHERE i.tenant_id = $1 AND i.batch_id = $2 AND i.status = 'draft'
		ORDER BY i.series_id, i.period,
			(SELECT f.name FROM families f WHERE f.tenant_id = i.tenant_id AND f.id = i.family_id), i.id`
	if err := tx.SelectContext(ctx, &drafts, sel, tid, batchID); err != nil {
		return 0, err
	}
	series, err := ListSeries(ctx, tx, tid)
	if err != nil {
		return 0, err
	}
	byID := map[int64]Series{}
	for _, s := range series {
		byID[s.ID] = s
	}
	need := map[int64]int{}
	for _, d := range drafts {
		if !d.OwnReference {
			need[d.SeriesID]++
		}
	}
	// lock the series always in the same order, so that two publications
	// spanning the same series queue instead of deadlocking
	sids := make([]int64, 0, len(need))
	for sid := range need {
		sids = append(sids, sid)
	}
	slices.Sort(sids)
	next := map[int64]int64{}
	for _, sid := range sids {
		if next[sid], err = reserveNumbers(ctx, tx, tid, sid, need[sid]); err != nil {
			return 0, err
		}
	}
	var ids, numbers []int64
	var refs, refdets []string
	for _, d := range drafts {
		if d.OwnReference {
			continue
		}
		s := byID[d.SeriesID]
		n := next[d.SeriesID]
		next[d.SeriesID]++
		ref, err := FormatReference(s.Pattern, s.Code, d.Period.Year(), int(d.Period.Month()), n)
		if err != nil {
			return 0, err
		}
		rd, err := Refdet(ref)
		if err != nil {
			return 0, err
		}
		ids, numbers, refs, refdets = append(ids, d.ID), append(numbers, n), append(refs, ref), append(refdets, rd)
	}
	var taken []string
	if err := tx.SelectContext(ctx, &taken, `SELECT reference FROM invoices WHERE tenant_id = $1 AND refdet = ANY($2) LIMIT 5`,
		tid, pq.StringArray(refdets)); err != nil {
		return 0, err
	}
	if len(taken) > 0 {
		return 0, &ValidationError{"reference", fmt.Sprintf("la numérotation donnerait des références déjà utilisées (%s) : avancez le prochain numéro de la série", strings.Join(taken, ", "))}
	}
	today := Today(now)
	// Each invoice is written once: numbered and published by the same
	// statement (two updates of the same rows took 12 s for 100,000
	// invoices, most of it writing each row and its index entries twice),
	// then those with their own reference, which have no number to take.
	const numberThem = `UPDATE invoices i SET number = u.number, reference = u.reference, refdet = u.refdet,
			status = 'published', issue_date = $6, published_at = $7, updated_at = $7
		FROM unnest($2::bigint[], $3::bigint[], $4::text[], $5::text[]) AS u(id, number, reference, refdet)
		WHERE i.tenant_id = $1 AND i.id = u.id`
	if _, err := tx.ExecContext(ctx, numberThem, tid, pq.Int64Array(ids), pq.Int64Array(numbers), pq.StringArray(refs), pq.StringArray(refdets), today, now); err != nil {
		return 0, mapErr(err)
	}
	const publish = `UPDATE invoices SET status = 'published', issue_date = $3, published_at = $4, updated_at = $4
		WHERE tenant_id = $1 AND batch_id = $2 AND status = 'draft'`
	if _, err := tx.ExecContext(ctx, publish, tid, batchID, today, now); err != nil {
		return 0, mapErr(err)
	}
	const done = `UPDATE import_batches SET status = 'published', published_at = $3 WHERE tenant_id = $1 AND id = $2`
	if _, err := tx.ExecContext(ctx, done, tid, batchID, now); err != nil {
		return 0, err
	}
	if len(drafts) > 0 {
		if _, err := jobs.InsertTx(ctx, tx.Tx, InvoicesPublished{TenantID: tid, BatchID: batchID}, nil); err != nil {
			return 0, fmt.Errorf("billing: queue publication mails: %w", err)
		}
	}
	return len(drafts), nil
}

// CancelInvoice cancels an unpaid invoice by its reference, with the reason
// the family will read. Its number stays used. It returns ErrNotFound,
// ErrAlreadyPaid or ErrAlreadyCancelled.
func CancelInvoice(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, reference, reason string, now time.Time) (Invoice, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" || utf8.RuneCountInString(reason) > 500 {
		return Invoice{}, &ValidationError{"reason", "motif d'annulation obligatoire (500 caractères au plus)"}
	}
	inv, err := InvoiceByReference(ctx, q, tid, reference)
	if err != nil {
		return Invoice{}, err
	}
	return cancel(ctx, q, tid, inv, reason, now)
}

func cancel(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, inv Invoice, reason string, now time.Time) (Invoice, error) {
	switch inv.Status {
	case Paid:
		return Invoice{}, ErrAlreadyPaid
	case Cancelled:
		return Invoice{}, ErrAlreadyCancelled
	}
	const upd = `UPDATE invoices SET status = 'cancelled', cancel_reason = $3, cancelled_at = $4, updated_at = $4
		WHERE tenant_id = $1 AND id = $2 AND status IN ('draft', 'published') RETURNING ` + invoiceColumns
	var out Invoice
	err := sqlx.GetContext(ctx, q, &out, upd, tid, inv.ID, reason, now)
	if errors.Is(err, sql.ErrNoRows) {
		return Invoice{}, ErrAlreadyPaid // changed under us: paid meanwhile
	}
	return out, mapErr(err)
}

// CancelBatch cancels, with a reason, every unpaid invoice of a batch that
// was published by mistake (or not yet published: its unnumbered drafts
// are deleted); paid ones stay paid and keep their numbers. It returns how
// many were cancelled and how many were left because they are paid.
func CancelBatch(ctx context.Context, tx *sqlx.Tx, tid tenant.ID, batchID int64, reason string, now time.Time) (cancelled, paid int, err error) {
	reason = strings.TrimSpace(reason)
	if reason == "" || utf8.RuneCountInString(reason) > 500 {
		return 0, 0, &ValidationError{"reason", "motif d'annulation obligatoire (500 caractères au plus)"}
	}
	var status string
	if err := tx.GetContext(ctx, &status, `SELECT status FROM import_batches WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, tid, batchID); err != nil {
		return 0, 0, mapErr(err)
	}
	if status == "cancelled" {
		return 0, 0, ErrBatchState
	}
	// drafts numbered by Régie have no number yet: nobody saw them, they go;
	// the others are cancelled and keep their references
	dropped, err := tx.ExecContext(ctx, `DELETE FROM invoices WHERE tenant_id = $1 AND batch_id = $2 AND status = 'draft' AND reference IS NULL`, tid, batchID)
	if err != nil {
		return 0, 0, err
	}
	res, err := tx.ExecContext(ctx, `UPDATE invoices SET status = 'cancelled', cancel_reason = $3, cancelled_at = $4, updated_at = $4
		WHERE tenant_id = $1 AND batch_id = $2 AND status IN ('draft', 'published')`, tid, batchID, reason, now)
	if err != nil {
		return 0, 0, err
	}
	d, _ := dropped.RowsAffected()
	n, _ := res.RowsAffected()
	n += d
	if err := tx.GetContext(ctx, &paid, `SELECT count(*) FROM invoices WHERE tenant_id = $1 AND batch_id = $2 AND status = 'paid'`, tid, batchID); err != nil {
		return 0, 0, err
	}
	_, err = tx.ExecContext(ctx, `UPDATE import_batches SET status = 'cancelled', cancel_reason = $3, cancelled_at = $4
		WHERE tenant_id = $1 AND id = $2`, tid, batchID, reason, now)
	return int(n), paid, err
}
