package billing_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/migrations/dbtest"
	"github.com/regie/regie/tenant"
	"github.com/regie/regie/tenant/tenanttest"
)

// fixture is a commune with two series: RS numbered like the seed invoice
// (2015-RS-00-8001516) from 8001516, GA by month from 1.
type fixture struct {
	db     *sqlx.DB
	tid    tenant.ID
	slug   string
	rs, ga billing.Series
}

const (
	rsPattern = "{exer}-RS-00-{numero:7}"
	gaPattern = "GA{exer}{mois}-{numero:4}"
	rsNext    = 8001516
)

func newFixture(t testing.TB, prefix string) fixture {
	t.Helper()
	db := dbtest.DB(t)
	c := tenanttest.MustCreate(t, db, prefix)
	f := fixture{db: db, tid: c.ID, slug: c.Slug}
	f.inTx(t, func(tx *sqlx.Tx) error {
		var err error
		ctx := context.Background()
		if f.rs, err = billing.CreateSeries(ctx, tx, c.ID, billing.Series{Code: "RS", Label: "Restauration scolaire", Pattern: rsPattern, NextNumber: rsNext}); err != nil {
			return err
		}
		f.ga, err = billing.CreateSeries(ctx, tx, c.ID, billing.Series{Code: "GA", Label: "Garderie", Pattern: gaPattern})
		return err
	})
	return f
}

// inTx runs fn in a transaction of the fixture's commune and fails the test
// if the transaction fails.
func (f fixture) inTx(t testing.TB, fn func(tx *sqlx.Tx) error) {
	t.Helper()
	if err := tenant.WithTx(context.Background(), f.db, f.tid, fn); err != nil {
		t.Fatalf("commune %d: %v", f.tid, err)
	}
}

// importCSV reads data as the CLI does, inside one transaction of the
// commune, and returns the callback's error from WithTx so that a failed
// import is rolled back.
func (f fixture) importCSV(t testing.TB, data string) (billing.ImportResult, error) {
	t.Helper()
	ctx := context.Background()
	var res billing.ImportResult
	err := tenant.WithTx(ctx, f.db, f.tid, func(tx *sqlx.Tx) error {
		series, err := billing.ListSeries(ctx, tx, f.tid)
		if err != nil {
			return err
		}
		var codes []string
		for _, s := range series {
			codes = append(codes, s.Code)
		}
		src, headErrs, err := billing.NewCSVSource(strings.NewReader(data), codes)
		if err != nil {
			res.Errors = headErrs
			return err
		}
		res, err = billing.Import(ctx, tx, f.tid, src, billing.ImportOptions{Filename: "factures.csv"})
		res.Ignored = src.Ignored
		return err
	})
	return res, err
}

// mustImport imports data and fails the test on any error.
func (f fixture) mustImport(t testing.TB, data string) billing.ImportResult {
	t.Helper()
	res, err := f.importCSV(t, data)
	if err != nil {
		t.Fatalf("import: %v; errors: %v", err, lineErrors(res.Errors))
	}
	return res
}

// publish publishes a batch in its own transaction.
func (f fixture) publish(t testing.TB, jobs *river.Client[*sql.Tx], batchID int64, now time.Time) (int, error) {
	t.Helper()
	var n int
	err := tenant.WithTx(context.Background(), f.db, f.tid, func(tx *sqlx.Tx) error {
		var err error
		n, err = billing.Publish(context.Background(), tx, jobs, f.tid, batchID, now)
		return err
	})
	return n, err
}

func (f fixture) mustPublish(t testing.TB, jobs *river.Client[*sql.Tx], batchID int64) int {
	t.Helper()
	n, err := f.publish(t, jobs, batchID, publishedAt)
	if err != nil {
		t.Fatalf("publish batch %d: %v", batchID, err)
	}
	return n
}

// count returns the commune's rows of a tenant-owned table.
func (f fixture) count(t testing.TB, table string) int {
	t.Helper()
	var n int
	f.inTx(t, func(tx *sqlx.Tx) error {
		return tx.Get(&n, `SELECT count(*) FROM `+table+` WHERE tenant_id = $1`, f.tid)
	})
	return n
}

// tables are the tenant-owned tables an import writes.
var tables = []string{"families", "family_emails", "import_batches", "invoices", "invoice_lines"}

// counts returns count for every table an import writes.
func (f fixture) counts(t testing.TB) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, tb := range tables {
		out[tb] = f.count(t, tb)
	}
	return out
}

// invoices returns the commune's invoices by id.
func (f fixture) invoices(t testing.TB) []billing.Invoice {
	t.Helper()
	var ids []int64
	f.inTx(t, func(tx *sqlx.Tx) error {
		return tx.Select(&ids, `SELECT id FROM invoices WHERE tenant_id = $1 ORDER BY id`, f.tid)
	})
	out := make([]billing.Invoice, len(ids))
	for i, id := range ids {
		out[i] = f.invoice(t, id)
	}
	return out
}

func (f fixture) invoice(t testing.TB, id int64) billing.Invoice {
	t.Helper()
	var inv billing.Invoice
	f.inTx(t, func(tx *sqlx.Tx) error {
		var err error
		inv, err = billing.InvoiceByID(context.Background(), tx, f.tid, id)
		return err
	})
	return inv
}

// invoiceOf returns the one invoice of a family, series and period.
func (f fixture) invoiceOf(t testing.TB, familyRef string, s billing.Series, period string) billing.Invoice {
	t.Helper()
	var id int64
	f.inTx(t, func(tx *sqlx.Tx) error {
		err := tx.Get(&id, `SELECT i.id FROM invoices i JOIN families f ON f.tenant_id = i.tenant_id AND f.id = i.family_id
			WHERE i.tenant_id = $1 AND f.ref = $2 AND i.series_id = $3 AND i.period = $4::date AND i.status <> 'cancelled'`,
			f.tid, familyRef, s.ID, period+"-01")
		if err != nil {
			return fmt.Errorf("the invoice of family %s in %s %s: %w", familyRef, s.Code, period, err)
		}
		return nil
	})
	return f.invoice(t, id)
}

func (f fixture) lines(t testing.TB, invoiceID int64) []billing.Line {
	t.Helper()
	var ls []billing.Line
	f.inTx(t, func(tx *sqlx.Tx) error {
		var err error
		ls, err = billing.InvoiceLines(context.Background(), tx, f.tid, invoiceID)
		return err
	})
	return ls
}

func (f fixture) series(t testing.TB, code string) billing.Series {
	t.Helper()
	var s billing.Series
	f.inTx(t, func(tx *sqlx.Tx) error {
		var err error
		s, err = billing.SeriesByCode(context.Background(), tx, f.tid, code)
		return err
	})
	return s
}

// jobsClient is an insert-only River client: Publish only inserts its job.
func jobsClient(t testing.TB, db *sqlx.DB) *river.Client[*sql.Tx] {
	t.Helper()
	c, err := river.NewClient(riverdatabasesql.New(db.DB), &river.Config{})
	if err != nil {
		t.Fatalf("river client: %v", err)
	}
	return c
}

// publishedJobs counts the publication jobs of a batch.
func publishedJobs(t testing.TB, db *sqlx.DB, tid tenant.ID, batchID int64) int {
	t.Helper()
	var n int
	err := tenant.WithTx(context.Background(), db, tid, func(tx *sqlx.Tx) error {
		return tx.Get(&n, `SELECT count(*) FROM river_job WHERE kind = 'billing.invoices_published'
			AND (args->>'batch_id')::bigint = $1 AND (args->>'tenant_id')::bigint = $2`, batchID, tid)
	})
	if err != nil {
		t.Fatalf("count jobs: %v", err)
	}
	return n
}

// publishedAt is the instant tests publish at: 23:30 UTC on 31 October is
// already 1 November in Paris.
var publishedAt = time.Date(2026, 10, 31, 23, 30, 0, 0, time.UTC)

// csvHeader names the columns of csvRow, in its order.
const csvHeader = "famille;nom;email;adresse;code_postal;ville;serie;periode;libelle;quantite;prix_unitaire;echeance;reference"

// csvRow is one line of an import file.
type csvRow struct {
	Famille, Nom, Email, Adresse, CodePostal, Ville, Serie, Periode, Libelle, Quantite, Prix, Echeance, Reference string
}

// meal is a valid row of family fam: 15 meals at 2,50 € in October 2026.
func meal(fam, name string) csvRow {
	return csvRow{
		Famille: fam, Nom: name, Email: strings.ToLower(fam) + "@exemple.fr",
		Adresse: "1 rue de la Mairie", CodePostal: "44000", Ville: "Nantes",
		Serie: "RS", Periode: "2026-10", Libelle: "Repas", Quantite: "15", Prix: "2,50", Echeance: "15/11/2026",
	}
}

// with returns a copy of r changed by fn.
func (r csvRow) with(fn func(r *csvRow)) csvRow {
	fn(&r)
	return r
}

func (r csvRow) String() string {
	fields := []string{r.Famille, r.Nom, r.Email, r.Adresse, r.CodePostal, r.Ville, r.Serie, r.Periode,
		r.Libelle, r.Quantite, r.Prix, r.Echeance, r.Reference}
	for i, v := range fields {
		if strings.ContainsAny(v, ";\"\n") {
			fields[i] = `"` + strings.ReplaceAll(v, `"`, `""`) + `"`
		}
	}
	return strings.Join(fields, ";")
}

// csvFile is an import file: the header, then one line per row.
func csvFile(rows ...csvRow) string {
	var b strings.Builder
	b.WriteString(csvHeader + "\n")
	for _, r := range rows {
		b.WriteString(r.String() + "\n")
	}
	return b.String()
}

// lineErrors renders errors as the CLI prints them.
func lineErrors(errs []billing.LineError) []string {
	out := make([]string, len(errs))
	for i, e := range errs {
		out[i] = e.String()
	}
	return out
}

// mustNotFound fails unless err is ErrNotFound.
func mustNotFound(t testing.TB, what string, got any, err error) {
	t.Helper()
	if !errors.Is(err, billing.ErrNotFound) {
		t.Errorf("%s = %+v, %v; want ErrNotFound", what, got, err)
	}
}

// date is a day at UTC midnight, the form dates are stored in.
func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func ptr[T any](v T) *T { return &v }

func deref[T any](p *T) string {
	if p == nil {
		return "<nil>"
	}
	return fmt.Sprint(*p)
}
