package bench

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/alexedwards/argon2id"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/regie/regie/portal/account"
)

// Password is the password of every seeded account. Its argon2id hash is
// computed once and stored for all of them.
const Password = "bench-famille-2026"

// SeedResult counts what Seed wrote.
type SeedResult struct {
	Shape       Shape
	FirstTenant int64
	Rows        map[string]int
	Elapsed     time.Duration
}

// ids are the first ids of the identity columns the seed fills: the next
// value of each sequence when the seed starts.
type ids struct {
	tenant, series, batch, family, account, invoice int64
}

// Seed fills an empty, migrated database with the profile's communes,
// series, families, addresses, accounts, twelve months of invoices with
// their lines, and the payments of the paid ones, with COPY, as the schema
// owner (owner-level work, outside tenant.WithTx: COPY is the named
// exception to row-level security, and every row carries its tenant_id).
// Two connections copy disjoint ranges of communes at once. It refuses a
// database that already has communes. now fixes the months invoiced (the
// twelve before now's).
func Seed(ctx context.Context, db *sqlx.DB, p Profile, now time.Time, progress func(string)) (SeedResult, error) {
	began := time.Now()
	var n int
	if err := db.GetContext(ctx, &n, `SELECT count(*) FROM tenants`); err != nil {
		return SeedResult{}, err
	}
	if n > 0 {
		return SeedResult{}, fmt.Errorf("the database already has %d communes: seed a fresh, migrated one", n)
	}
	shape := ShapeFor(p)
	hash, err := argon2id.CreateHash(Password, account.HashParams)
	if err != nil {
		return SeedResult{}, err
	}
	var base ids
	for _, s := range []struct {
		table string
		to    *int64
	}{{"tenants", &base.tenant}, {"series", &base.series}, {"import_batches", &base.batch},
		{"families", &base.family}, {"family_accounts", &base.account}, {"invoices", &base.invoice}} {
		if err := db.GetContext(ctx, s.to, `SELECT nextval(pg_get_serial_sequence($1, 'id'))`, s.table); err != nil {
			return SeedResult{}, err
		}
	}
	g := &generator{shape: shape, base: base, hash: hash, first: firstMonth(now)}
	g.offsets()

	chunks := g.chunks(50_000)
	res := SeedResult{Shape: shape, FirstTenant: base.tenant, Rows: map[string]int{}}
	var mu sync.Mutex
	work := make(chan [2]int)
	errc := make(chan error, 2)
	var wg sync.WaitGroup
	done := 0
	for range min(2, runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			for c := range work {
				rows, err := g.copyChunk(ctx, db, c[0], c[1])
				if err != nil {
					errc <- err
					return
				}
				mu.Lock()
				for t, n := range rows {
					res.Rows[t] += n
				}
				done++
				if progress != nil {
					progress(fmt.Sprintf("%d/%d chunks, %d invoices", done, len(chunks), res.Rows["invoices"]))
				}
				mu.Unlock()
			}
		})
	}
	var werr error
feed:
	for _, c := range chunks {
		select {
		case work <- c:
		case werr = <-errc:
			break feed
		}
	}
	close(work)
	wg.Wait()
	if werr == nil {
		select {
		case werr = <-errc:
		default:
		}
	}
	if werr != nil {
		return res, werr
	}
	// The sequences go on after the seeded ids; then fresh statistics for
	// the planner.
	last := map[string]int64{
		"tenants": base.tenant + int64(shape.Communes) - 1, "series": base.series + 2*int64(shape.Communes) - 1,
		"import_batches": base.batch + Months*int64(shape.Communes) - 1, "families": base.family + g.famOff[shape.Communes] - 1,
		"family_accounts": base.account + g.famOff[shape.Communes] - 1, "invoices": base.invoice + g.invOff[shape.Communes] - 1,
	}
	for t, id := range last {
		if _, err := db.ExecContext(ctx, `SELECT setval(pg_get_serial_sequence($1, 'id'), $2)`, t, id); err != nil {
			return res, err
		}
	}
	// payments and attempts take the ids of their invoices
	for _, t := range []string{"payments", "payment_attempts"} {
		if _, err := db.ExecContext(ctx, `SELECT setval(pg_get_serial_sequence($1, 'id'), greatest($2, (SELECT last_value FROM `+
			pq.QuoteIdentifier(t+"_id_seq")+`)))`, t, last["invoices"]); err != nil {
			return res, err
		}
	}
	// What autovacuum would have done to a year of invoices: without it the
	// first read of every page sets its rows' hint bits and dirties it, a
	// write the benchmark would pay and a real database does not.
	if progress != nil {
		progress("vacuum, analyze")
	}
	if _, err := db.ExecContext(ctx, `VACUUM (ANALYZE)`); err != nil {
		return res, err
	}
	res.Elapsed = time.Since(began)
	return res, nil
}

// firstMonth is the first of the twelve months before now's, in UTC dates.
func firstMonth(now time.Time) time.Time {
	return time.Date(now.Year(), now.Month()-Months, 1, 0, 0, 0, 0, time.UTC)
}

// generator makes the rows of communes deterministically from their rank.
type generator struct {
	shape  Shape
	base   ids
	hash   string
	first  time.Time
	famOff []int64 // famOff[r-1]: families of the communes before rank r
	invOff []int64 // the same for invoices
}

func (g *generator) offsets() {
	c := g.shape.Communes
	g.famOff = make([]int64, c+1)
	g.invOff = make([]int64, c+1)
	for r := 1; r <= c; r++ {
		g.famOff[r] = g.famOff[r-1] + int64(g.shape.Families(r))
		g.invOff[r] = g.invOff[r-1] + int64(g.shape.invoicesOf(r))
	}
}

// chunks cuts the ranks into ranges [from, to] of about size invoices.
func (g *generator) chunks(size int64) [][2]int {
	var out [][2]int
	from := 1
	for r := 1; r <= g.shape.Communes; r++ {
		if g.invOff[r]-g.invOff[from-1] >= size || r == g.shape.Communes {
			out = append(out, [2]int{from, r})
			from = r + 1
		}
	}
	return out
}

// copyChunk writes the communes of ranks from..to in one transaction.
func (g *generator) copyChunk(ctx context.Context, db *sqlx.DB, from, to int) (map[string]int, error) {
	t := newTables()
	for r := from; r <= to; r++ {
		if err := g.commune(t, r); err != nil {
			return nil, err
		}
	}
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit, a no-op
	if _, err := tx.ExecContext(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
		return nil, err
	}
	counts := map[string]int{}
	for _, tb := range t.order {
		if err := copyRows(ctx, tx.Tx, tb.name, tb.cols, tb.rows); err != nil {
			return nil, fmt.Errorf("copy %s: %w", tb.name, err)
		}
		counts[tb.name] = len(tb.rows)
	}
	return counts, tx.Commit()
}

// copyRows runs one COPY FROM STDIN.
func copyRows(ctx context.Context, tx *sql.Tx, table string, cols []string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, pq.CopyIn(table, cols...))
	if err != nil {
		return err
	}
	for _, r := range rows {
		if _, err := stmt.ExecContext(ctx, r...); err != nil {
			stmt.Close()
			return err
		}
	}
	if _, err := stmt.ExecContext(ctx); err != nil {
		stmt.Close()
		return err
	}
	return stmt.Close()
}

// table is the rows of one table for one COPY.
type table struct {
	name string
	cols []string
	rows [][]any
}

// tables are the seeded tables in foreign-key order.
type tables struct {
	tenants, series, batches, families, emails, accounts, invoices, lines, attempts, payments *table
	order                                                                                     []*table
}

func newTables() *tables {
	mk := func(name string, cols ...string) *table { return &table{name: name, cols: cols} }
	t := &tables{
		tenants:  mk("tenants", "id", "slug", "name", "search_name", "numcli", "protocol", "mode", "contact_email", "postal_address"),
		series:   mk("series", "tenant_id", "id", "code", "label", "pattern", "numcli", "next_number"),
		batches:  mk("import_batches", "tenant_id", "id", "filename", "status", "rows", "invoices", "total_cents", "created_at", "published_at"),
		families: mk("families", "tenant_id", "id", "ref", "name", "address", "postal_code", "city"),
		emails:   mk("family_emails", "tenant_id", "family_id", "email"),
		accounts: mk("family_accounts", "tenant_id", "id", "email", "password_hash"),
		invoices: mk("invoices", "tenant_id", "id", "family_id", "series_id", "batch_id", "period", "number", "reference", "refdet",
			"issue_date", "due_date", "total_cents", "status", "content_hash", "paid_at", "cancel_reason", "cancelled_at",
			"published_at", "created_at", "updated_at"),
		lines: mk("invoice_lines", "tenant_id", "invoice_id", "position", "label", "quantity_milli", "unit_price_cents", "total_cents"),
		attempts: mk("payment_attempts", "tenant_id", "id", "invoice_id", "protocol", "mode", "saisie", "numcli", "refdet", "exer",
			"amount_cents", "payer_email", "idop", "status", "resultrans", "numauto", "transaction_at", "created_at", "updated_at", "settled_at"),
		payments: mk("payments", "tenant_id", "id", "invoice_id", "attempt_id", "channel", "means", "amount_cents", "paid_at", "applied"),
	}
	t.order = []*table{t.tenants, t.series, t.batches, t.families, t.emails, t.accounts, t.invoices, t.lines, t.attempts, t.payments}
	return t
}

func (t *table) add(vals ...any) { t.rows = append(t.rows, vals) }

// errSeed wraps what the generator itself gets wrong (a reference the
// series' pattern refuses).
var errSeed = errors.New("bench seed")
