// Package billingtest helps tests run billing's jobs.
package billingtest

import (
	"context"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/rivertype"

	"github.com/regie/regie/billing"
)

// WorkPublishDue runs billing's PublishDueWorker once with its clock at
// now, the way River runs it (River puts its client on the context):
// through a River client of its own that works only a queue of its own,
// so that it takes no other job of the database (the publication's mail
// job stays for whoever works it). It fails the test unless the job
// completes within 10 seconds.
func WorkPublishDue(t testing.TB, db *sqlx.DB, now time.Time) {
	t.Helper()
	ctx := context.Background()
	const queue = "test_publish_due"
	workers := river.NewWorkers()
	river.AddWorker(workers, &billing.PublishDueWorker{DB: db, Now: func() time.Time { return now }})
	c, err := river.NewClient(riverdatabasesql.New(db.DB), &river.Config{
		Workers: workers, Queues: map[string]river.QueueConfig{queue: {MaxWorkers: 1}},
		PollOnly: true, FetchCooldown: 10 * time.Millisecond, FetchPollInterval: 20 * time.Millisecond,
		SkipUnknownJobCheck: true, // the publication's mail job is not billing's
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer c.Stop(ctx) //nolint:errcheck // the job's outcome is checked below
	res, err := c.Insert(ctx, billing.PublishDueArgs{}, &river.InsertOpts{Queue: queue, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		job, err := c.JobGet(ctx, res.Job.ID)
		if err != nil {
			t.Fatal(err)
		}
		switch job.State {
		case rivertype.JobStateCompleted:
			return
		case rivertype.JobStateDiscarded, rivertype.JobStateCancelled:
			t.Fatalf("publish due at %v: %s %v", now, job.State, job.Errors)
		}
		if time.Now().After(deadline) {
			t.Fatalf("publish due at %v: still %s", now, job.State)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
