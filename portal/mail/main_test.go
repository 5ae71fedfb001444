package mail_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/rivertype"

	"github.com/regie/regie/migrations/dbtest"
	"github.com/regie/regie/portal/mail"
	"github.com/regie/regie/portal/mail/catcher"
	"github.com/regie/regie/tenant"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// harness is the SMTP server and the River client working mail jobs. There
// is one per test process: River works every job of the database, so a
// second client would steal the first one's jobs. It runs until the process
// ends.
type harness struct {
	db   *sqlx.DB
	box  *catcher.Catcher
	jobs *river.Client[*sql.Tx]
}

var (
	harnessOnce sync.Once
	theHarness  *harness
	harnessErr  error
)

// fastRetry retries a failed job after 100 ms, so outage tests stay short.
type fastRetry struct{}

func (fastRetry) NextRetry(*rivertype.JobRow) time.Time {
	return time.Now().Add(100 * time.Millisecond)
}

func sharedHarness(t *testing.T) *harness {
	t.Helper()
	db := dbtest.DB(t)
	harnessOnce.Do(func() {
		h := &harness{db: db}
		if h.box, harnessErr = catcher.Start("127.0.0.1:0"); harnessErr != nil {
			return
		}
		sender, err := mail.NewSMTP(h.box.URL(), "portail@example.fr")
		if err != nil {
			harnessErr = err
			return
		}
		workers := river.NewWorkers()
		if harnessErr = river.AddWorkerSafely(workers, &mail.SendWorker{DB: db, Sender: sender}); harnessErr != nil {
			return
		}
		h.jobs, harnessErr = river.NewClient(riverdatabasesql.New(db.DB), &river.Config{
			Workers:           workers,
			Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 5}},
			PollOnly:          true,
			FetchCooldown:     10 * time.Millisecond,
			FetchPollInterval: 20 * time.Millisecond,
			RetryPolicy:       fastRetry{},
			Logger:            slog.New(slog.DiscardHandler),
			TestOnly:          true,
		})
		if harnessErr != nil {
			return
		}
		if harnessErr = h.jobs.Start(context.Background()); harnessErr != nil {
			return
		}
		theHarness = h
	})
	if harnessErr != nil {
		t.Fatalf("mail test harness: %v", harnessErr)
	}
	return theHarness
}

// waitFor polls cond until it returns "" or the deadline passes, then fails
// with the last thing cond reported.
func waitFor(t *testing.T, what string, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		msg := cond()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %s", what, msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// inTx runs fn in a transaction of commune tid and fails the test if the
// transaction fails.
func inTx(t *testing.T, db *sqlx.DB, tid tenant.ID, fn func(tx *sqlx.Tx) error) {
	t.Helper()
	if err := tenant.WithTx(context.Background(), db, tid, fn); err != nil {
		t.Fatalf("commune %d: %v", tid, err)
	}
}

func mustGet(t *testing.T, db *sqlx.DB, tid tenant.ID, id int64) mail.Mail {
	t.Helper()
	var ms []mail.Mail
	inTx(t, db, tid, func(tx *sqlx.Tx) error {
		var err error
		ms, err = mail.GetMany(context.Background(), tx, tid, []int64{id})
		return err
	})
	if len(ms) != 1 {
		t.Fatalf("mail %d of commune %d: %d found", id, tid, len(ms))
	}
	return ms[0]
}

// sendJobs returns the states of the send jobs of one mail, oldest first.
func sendJobs(t *testing.T, db *sqlx.DB, tid tenant.ID, id int64) []string {
	t.Helper()
	var states []string
	const q = `SELECT state FROM river_job WHERE kind = 'mail.send'
		AND (args->>'tenant_id')::bigint = $1 AND args->'mail_ids' @> to_jsonb($2::bigint) ORDER BY id`
	if err := db.Select(&states, q, tid, id); err != nil {
		t.Fatalf("send jobs of mail %d: %v", id, err)
	}
	return states
}

// waitJob polls one job until it reaches want.
func waitJob(t *testing.T, h *harness, id int64, want string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("job %d %s", id, want), func() string {
		j, err := h.jobs.JobGet(context.Background(), id)
		if err != nil {
			return err.Error()
		}
		if string(j.State) != want {
			return fmt.Sprintf("state %s (attempt %d, errors %v)", j.State, j.Attempt, j.Errors)
		}
		return ""
	})
}
