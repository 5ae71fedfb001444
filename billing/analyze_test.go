package billing_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/migrations/dbtest"
)

// TestRefreshStats: the tables are analyzed when their statistics are older
// than the import, and left alone when they are newer.
func TestRefreshStats(t *testing.T) {
	ctx := context.Background()
	db := dbtest.DB(t)
	lastAnalyze := func() time.Time {
		var at sql.NullTime
		if err := db.Get(&at, `SELECT last_analyze FROM pg_stat_user_tables WHERE relid = 'invoices'::regclass`); err != nil {
			t.Fatal(err)
		}
		return at.Time
	}
	since := time.Now()
	if err := billing.RefreshStats(ctx, db, since); err != nil {
		t.Fatal(err)
	}
	first := lastAnalyze()
	if first.Before(since.Add(-time.Second)) { // the database's clock is the machine's
		t.Fatalf("statistics of %v after RefreshStats since %v: not analyzed", first, since)
	}
	// statistics newer than the import: nothing to do
	if err := billing.RefreshStats(ctx, db, first.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if again := lastAnalyze(); !again.Equal(first) {
		t.Fatalf("analyzed again (%v, was %v) though the statistics were newer than the import", again, first)
	}
}
