package payments

import (
	"context"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/regie/regie/payments/payfip"
	"github.com/regie/regie/tenant"
)

// ReconcileArgs is the job that settles one attempt: it looks the attempt
// up at DGFiP, applies the answer, and while the attempt is not final comes
// back later (10 s, 30 s and 60 s after the payer's return, otherwise 2, 5,
// 10, 15 and 20 minutes after its creation, then every half hour). A
// notification or a return makes it run at once. Technical failures retry
// with River's back-off.
type ReconcileArgs struct {
	TenantID  tenant.ID `json:"tenant_id"`
	AttemptID int64     `json:"attempt_id"`
}

// Kind names the job in River.
func (ReconcileArgs) Kind() string { return "payments.reconcile" }

// InsertOpts makes the job unique per attempt while it waits or runs.
func (ReconcileArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{
		ByArgs: true,
		ByState: []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending,
			rivertype.JobStateRunning, rivertype.JobStateRetryable, rivertype.JobStateScheduled},
	}}
}

// nextCheck is how long to wait before looking at an attempt again.
func nextCheck(a Attempt, now time.Time) time.Duration {
	if a.ReturnedAt != nil {
		since := now.Sub(*a.ReturnedAt)
		for _, at := range []time.Duration{10 * time.Second, 30 * time.Second, time.Minute} {
			if since < at {
				return at - since
			}
		}
	}
	age := now.Sub(a.CreatedAt)
	for _, at := range []time.Duration{2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, PayerWindow + 30*time.Second} {
		if age < at {
			return at - age
		}
	}
	return 30 * time.Minute
}

// scheduleCheck has the reconciliation look at an attempt when nextCheck
// says, unless a check is already waiting.
func (s *Service) scheduleCheck(ctx context.Context, tx *sqlx.Tx, a Attempt, now time.Time) error {
	_, err := s.Jobs.InsertTx(ctx, tx.Tx, ReconcileArgs{TenantID: a.TenantID, AttemptID: a.ID},
		&river.InsertOpts{ScheduledAt: now.Add(nextCheck(a, now))})
	return err
}

// checkNow has the reconciliation look at an attempt at once: a new job, or
// the waiting one brought forward.
func (s *Service) checkNow(ctx context.Context, tx *sqlx.Tx, a Attempt) error {
	res, err := s.Jobs.InsertTx(ctx, tx.Tx, ReconcileArgs{TenantID: a.TenantID, AttemptID: a.ID}, nil)
	if err != nil {
		return err
	}
	if res.UniqueSkippedAsDuplicate && res.Job.State == rivertype.JobStateScheduled {
		_, err = s.Jobs.JobRetryTx(ctx, tx.Tx, res.Job.ID)
	}
	return err
}

// ReconcileWorker works ReconcileArgs.
type ReconcileWorker struct {
	river.WorkerDefaults[ReconcileArgs]
	S *Service
}

// Work looks the attempt up and applies the policy.
func (w *ReconcileWorker) Work(ctx context.Context, job *river.Job[ReconcileArgs]) error {
	var a Attempt
	err := tenant.WithTx(ctx, w.S.DB, job.Args.TenantID, func(tx *sqlx.Tx) error {
		var err error
		a, err = AttemptByID(ctx, tx, job.Args.TenantID, job.Args.AttemptID)
		return err
	})
	if err != nil {
		return err
	}
	a, v, err := w.S.look(ctx, a, payfip.Timeout, "reconciliation", nil)
	switch {
	case err != nil:
		return err
	case a.Status.Final():
		return nil
	case v.retry:
		return errRetry
	}
	return river.JobSnooze(nextCheck(a, w.S.now()))
}

// errRetry makes River try a lookup again later with its back-off.
var errRetry = retryError{}

type retryError struct{}

func (retryError) Error() string { return "payments: DGFiP did not answer; will look again" }

// SweepArgs is the periodic job that gives every open PayFiP attempt a
// reconciliation job, in case one was lost (a database restored, a job
// discarded by hand).
type SweepArgs struct{}

// Kind names the job in River.
func (SweepArgs) Kind() string { return "payments.sweep" }

// SweepWorker works SweepArgs.
type SweepWorker struct {
	river.WorkerDefaults[SweepArgs]
	S *Service
}

// Work inserts a reconciliation job for every open attempt (unique jobs: a
// waiting one makes the insert a no-op).
func (w *SweepWorker) Work(ctx context.Context, _ *river.Job[SweepArgs]) error {
	open, err := ownerOpenAttempts(ctx, w.S.DB)
	if err != nil {
		return err
	}
	for _, o := range open {
		if _, err := w.S.Jobs.Insert(ctx, ReconcileArgs{TenantID: o.TenantID, AttemptID: o.ID}, nil); err != nil {
			return err
		}
	}
	return nil
}

// ownerOpenAttempts lists the open PayFiP attempts of every commune.
// Owner-level on purpose: the sweep serves all communes.
func ownerOpenAttempts(ctx context.Context, db *sqlx.DB) ([]struct {
	TenantID tenant.ID `db:"tenant_id"`
	ID       int64     `db:"id"`
}, error) {
	var out []struct {
		TenantID tenant.ID `db:"tenant_id"`
		ID       int64     `db:"id"`
	}
	err := db.SelectContext(ctx, &out, `SELECT tenant_id, id FROM payment_attempts
		WHERE status IN ('created', 'pending') AND protocol = 'payfip' ORDER BY updated_at LIMIT 10000`)
	return out, err
}

// AddWorkers registers the payments' job workers.
func AddWorkers(w *river.Workers, s *Service) error {
	if err := river.AddWorkerSafely(w, &ReconcileWorker{S: s}); err != nil {
		return err
	}
	if err := river.AddWorkerSafely(w, &SweepWorker{S: s}); err != nil {
		return err
	}
	return river.AddWorkerSafely(w, &DGFiPCheckWorker{S: s})
}

// PeriodicJobs are the payments' scheduled jobs: the sweep, every 5
// minutes, and the DGFiP reachability check, every 15.
func PeriodicJobs() []*river.PeriodicJob {
	return []*river.PeriodicJob{
		river.NewPeriodicJob(river.PeriodicInterval(5*time.Minute),
			func() (river.JobArgs, *river.InsertOpts) { return SweepArgs{}, nil },
			&river.PeriodicJobOpts{RunOnStart: true}),
		river.NewPeriodicJob(river.PeriodicInterval(15*time.Minute),
			func() (river.JobArgs, *river.InsertOpts) {
				// the next run comes soon enough: no retry
				return DGFiPCheckArgs{}, &river.InsertOpts{MaxAttempts: 1}
			},
			&river.PeriodicJobOpts{RunOnStart: true}),
	}
}
