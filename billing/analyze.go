package billing

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// AnalyzeAfter is the size of an import (new and replaced invoices) after
// which the planner's statistics are refreshed at once.
const AnalyzeAfter = 1000

// RefreshStats runs ANALYZE on the tables an import fills when the
// planner's statistics of invoices are older than since. After a large
// import the statistics say the commune has next to no rows until
// autovacuum (at best a minute later, and never where it is off) analyzes
// the tables again, and joins over the commune's rows then become nested
// loops over all of them: publishing and mailing 100,000 invoices ran for
// many minutes instead of seconds. Owner-level work, outside
// tenant.WithTx: ANALYZE needs the tables' owner (under another role
// PostgreSQL skips the tables with a warning, and nothing fails). It is
// called after an import of AnalyzeAfter invoices or more commits, and by
// the publication job, which a publication in the import's own
// transaction may start before that.
func RefreshStats(ctx context.Context, db *sqlx.DB, since time.Time) error {
	var last sql.NullTime
	const q = `SELECT greatest(last_analyze, last_autoanalyze) FROM pg_stat_user_tables WHERE relid = 'invoices'::regclass`
	if err := db.GetContext(ctx, &last, q); err != nil {
		return fmt.Errorf("billing: statistics: %w", err)
	}
	if last.Valid && last.Time.After(since) {
		return nil
	}
	if _, err := db.ExecContext(ctx, `ANALYZE families, family_emails, family_accounts, invoices, invoice_lines`); err != nil {
		return fmt.Errorf("billing: analyze: %w", err)
	}
	return nil
}
