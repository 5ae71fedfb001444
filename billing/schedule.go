package billing

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"

	"github.com/regie/regie/tenant"
)

// AddWorkers registers billing's job workers: the scheduled publication.
func AddWorkers(w *river.Workers, db *sqlx.DB) error {
	return river.AddWorkerSafely(w, &PublishDueWorker{DB: db})
}

// PeriodicJobs are billing's scheduled jobs: every minute, publish the
// batches whose time has come.
func PeriodicJobs() []*river.PeriodicJob {
	return []*river.PeriodicJob{
		river.NewPeriodicJob(river.PeriodicInterval(time.Minute),
			func() (river.JobArgs, *river.InsertOpts) {
				// the next minute runs again: a failed run need not retry
				return PublishDueArgs{}, &river.InsertOpts{MaxAttempts: 1}
			},
			&river.PeriodicJobOpts{RunOnStart: true}),
	}
}

// PublishDueArgs is the minute job that publishes scheduled batches.
type PublishDueArgs struct{}

// Kind names the job in River.
func (PublishDueArgs) Kind() string { return "billing.publish_due" }

// PublishDueWorker publishes every imported batch whose publish_at has
// come, in every active commune (a suspended commune's batches wait until
// it reopens). Each batch is published in its own transaction of its
// commune, with its notification job, so one commune's failure stops no
// other.
type PublishDueWorker struct {
	river.WorkerDefaults[PublishDueArgs]
	DB *sqlx.DB
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Log receives the batches published and refused; nil means
	// slog.Default().
	Log *slog.Logger
}

// Work publishes the due batches; it returns the errors of those that
// failed (they are tried again the next minute).
func (w *PublishDueWorker) Work(ctx context.Context, job *river.Job[PublishDueArgs]) error {
	now := time.Now()
	if w.Now != nil {
		now = w.Now()
	}
	log := w.Log
	if log == nil {
		log = slog.Default()
	}
	jobs := river.ClientFromContext[*sql.Tx](ctx)
	due, err := ownerDueBatches(ctx, w.DB, now)
	if err != nil {
		return err
	}
	var errs []error
	for _, b := range due {
		var n int
		err := tenant.WithTx(ctx, w.DB, b.TenantID, func(tx *sqlx.Tx) error {
			var err error
			n, err = Publish(ctx, tx, jobs, b.TenantID, b.ID, now)
			return err
		})
		switch {
		case errors.Is(err, ErrBatchState):
			// published or cancelled by hand since the read
		case err != nil:
			log.Error("scheduled publication failed", "commune", b.TenantID, "batch", b.ID, "err", err)
			errs = append(errs, fmt.Errorf("commune %d, batch %d: %w", b.TenantID, b.ID, err))
		default:
			log.Info("scheduled publication", "commune", b.TenantID, "batch", b.ID, "invoices", n)
		}
	}
	return errors.Join(errs...)
}

// dueBatch names a batch to publish.
type dueBatch struct {
	TenantID tenant.ID `db:"tenant_id"`
	ID       int64     `db:"id"`
}

// ownerDueBatches lists the imported batches of every active commune whose
// publication time is at or before now, oldest first. Owner-level on
// purpose: the minute job serves all communes (index import_batches_due).
func ownerDueBatches(ctx context.Context, db *sqlx.DB, now time.Time) ([]dueBatch, error) {
	const q = `SELECT b.tenant_id, b.id FROM import_batches b JOIN tenants t ON t.id = b.tenant_id
		WHERE b.status = 'imported' AND b.publish_at IS NOT NULL AND b.publish_at <= $1 AND t.status = 'active'
		ORDER BY b.publish_at, b.id LIMIT 1000`
	var out []dueBatch
	err := db.SelectContext(ctx, &out, q, now)
	return out, err
}
