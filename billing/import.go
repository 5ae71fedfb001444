package billing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/regie/regie/tenant"
)

// RowSource yields import rows: a CSV file, or the API's JSON. Next
// returns io.EOF after the last row; a row with errors comes with them.
type RowSource interface {
	Next() (ImportRow, []LineError, error)
}

// ImportOptions tune an import.
type ImportOptions struct {
	Filename string // shown with the batch
}

// ImportResult is the preview, and after the import the outcome, of a file.
type ImportResult struct {
	BatchID int64 // 0 when nothing was imported
	Rows    int
	// Invoices of the file: new ones, drafts replaced by a changed version,
	// and those already imported identically.
	NewInvoices, ReplacedInvoices, UnchangedInvoices int
	NewFamilies, UpdatedFamilies                     int
	TotalCents                                       int64 // of new and replaced invoices
	Groups                                           []ImportGroup
	Ignored                                          []string // columns of the file that are not import columns
	Errors                                           []LineError
}

// NothingToDo reports an import that changes no invoice ("rien à faire").
func (r ImportResult) NothingToDo() bool {
	return len(r.Errors) == 0 && r.NewInvoices == 0 && r.ReplacedInvoices == 0
}

// ImportGroup sums the new and replaced invoices of a series and period.
type ImportGroup struct {
	SeriesCode string    `db:"code"`
	Period     time.Time `db:"period"`
	Invoices   int       `db:"invoices"`
	TotalCents int64     `db:"total"`
}

// ErrInvalidImport means the file has errors: ImportResult.Errors lists them
// all, and nothing was saved.
var ErrInvalidImport = errors.New("billing: the import has errors")

// maxErrors bounds the errors kept from one file.
const maxErrors = 10_000

// Import reads every row of src into the commune's invoices, inside tx (the
// transaction of tenant.WithTx): all or nothing. Rows stream into a
// temporary table with COPY, then set-based SQL checks the rules that span
// rows (a family's name and address, an invoice's family, series, period
// and due date, a positive total, unique references, changes to published
// invoices) and writes families, invoices and lines. It returns
// ErrInvalidImport with every error in the result; the caller then rolls
// back. An identical file imports nothing; changed drafts are replaced.
func Import(ctx context.Context, tx *sqlx.Tx, tid tenant.ID, src RowSource, opts ImportOptions) (ImportResult, error) {
	var res ImportResult
	series, err := ListSeries(ctx, tx, tid)
	if err != nil {
		return res, err
	}
	seriesID := map[string]int64{}
	for _, s := range series {
		seriesID[s.Code] = s.ID
	}
	if err := createStaging(ctx, tx); err != nil {
		return res, err
	}
	if err := stageRows(ctx, tx, src, seriesID, &res); err != nil {
		return res, err
	}
	if res.Rows == 0 && len(res.Errors) == 0 {
		res.Errors = append(res.Errors, LineError{2, "-", "le fichier ne contient aucune ligne de facture"})
	}
	if err := checkRows(ctx, tx, tid, &res); err != nil {
		return res, err
	}
	if len(res.Errors) > 0 {
		sort.SliceStable(res.Errors, func(i, j int) bool { return res.Errors[i].Line < res.Errors[j].Line })
		if len(res.Errors) > maxErrors {
			res.Errors = res.Errors[:maxErrors]
		}
		return res, ErrInvalidImport
	}
	if err := apply(ctx, tx, tid, opts, &res); err != nil {
		return res, err
	}
	return res, nil
}

func createStaging(ctx context.Context, tx *sqlx.Tx) error {
	const q = `
	CREATE TEMP TABLE import_rows (
		line int NOT NULL, ikey text NOT NULL, family_ref text NOT NULL, name text NOT NULL,
		emails text[] NOT NULL, address text NOT NULL, postal_code text NOT NULL, city text NOT NULL,
		series_id bigint NOT NULL, period date NOT NULL, label text NOT NULL, quantity_milli bigint NOT NULL,
		unit_price_cents bigint NOT NULL, line_total bigint NOT NULL, due_date date NOT NULL, reference text
	) ON COMMIT DROP;
	CREATE TEMP TABLE import_tainted (ikey text PRIMARY KEY) ON COMMIT DROP;`
	_, err := tx.ExecContext(ctx, q)
	return err
}

// stageRows copies the valid rows into import_rows and collects the errors
// of the others; the invoices those belong to are marked tainted so that
// their totals are not judged on a part of their lines.
func stageRows(ctx context.Context, tx *sqlx.Tx, src RowSource, seriesID map[string]int64, res *ImportResult) error {
	stmt, err := tx.PrepareContext(ctx, pq.CopyIn("import_rows", "line", "ikey", "family_ref", "name", "emails",
		"address", "postal_code", "city", "series_id", "period", "label", "quantity_milli", "unit_price_cents",
		"line_total", "due_date", "reference"))
	if err != nil {
		return err
	}
	defer stmt.Close()
	tainted := map[string]bool{}
	for {
		row, errs, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		res.Rows++
		if len(errs) > 0 {
			if len(res.Errors) < maxErrors {
				res.Errors = append(res.Errors, errs...)
			}
			if row.FamilyRef != "" || row.Reference != "" {
				tainted[row.invoiceKey()] = true
			}
			continue
		}
		var ref any
		if row.Reference != "" {
			ref = row.Reference
		}
		emails := row.Emails
		if emails == nil {
			emails = []string{} // a family without an address: an empty list, not NULL
		}
		if _, err := stmt.ExecContext(ctx, row.Line, row.invoiceKey(), row.FamilyRef, row.Name, pq.StringArray(emails),
			row.Address, row.PostalCode, row.City, seriesID[row.SeriesCode], row.Period, row.Label, row.QuantityMilli,
			row.UnitPriceCents, lineTotal(row.QuantityMilli, row.UnitPriceCents), row.DueDate, ref); err != nil {
			return fmt.Errorf("billing: stage line %d: %w", row.Line, err)
		}
	}
	if _, err := stmt.ExecContext(ctx); err != nil {
		return fmt.Errorf("billing: stage rows: %w", err)
	}
	if len(tainted) > 0 {
		keys := make([]string, 0, len(tainted))
		for k := range tainted {
			keys = append(keys, k)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO import_tainted SELECT unnest($1::text[]) ON CONFLICT DO NOTHING`, pq.StringArray(keys)); err != nil {
			return err
		}
	}
	// One row per invoice of the file, with its fingerprint; how it meets the
	// commune's existing invoices is filled by checkRows.
	const q = `
	CREATE INDEX ON import_rows (ikey, line);
	CREATE INDEX ON import_rows (family_ref, line);
	ANALYZE import_rows;
	CREATE TEMP TABLE import_invoices ON COMMIT DROP AS
	SELECT ikey, min(line) AS first_line, (array_agg(family_ref ORDER BY line))[1] AS family_ref,
		(array_agg(series_id ORDER BY line))[1] AS series_id, (array_agg(period ORDER BY line))[1] AS period,
		(array_agg(due_date ORDER BY line))[1] AS due_date, min(reference) AS reference,
		sum(line_total) AS total, count(*) AS nlines,
		md5((array_agg(family_ref ORDER BY line))[1] || '|' || (array_agg(series_id ORDER BY line))[1] || '|' ||
			(array_agg(period ORDER BY line))[1] || '|' || (array_agg(due_date ORDER BY line))[1] || '|' ||
			string_agg(label || '|' || quantity_milli || '|' || unit_price_cents, E'\n' ORDER BY line)) AS content_hash,
		NULL::bigint AS family_id, NULL::bigint AS existing_id, NULL::text AS action, NULL::bigint AS invoice_id
	FROM import_rows GROUP BY ikey;
	CREATE UNIQUE INDEX ON import_invoices (ikey);
	ANALYZE import_invoices;`
	_, err = tx.ExecContext(ctx, q)
	return err
}

// checkRows applies the rules that span rows and the commune's invoices.
func checkRows(ctx context.Context, tx *sqlx.Tx, tid tenant.ID, res *ImportResult) error {
	var errs []LineError
	add := func(q string, args ...any) error {
		var rows []struct {
			Line    int    `db:"line"`
			Column  string `db:"col"`
			Message string `db:"msg"`
		}
		if err := sqlx.SelectContext(ctx, tx, &rows, q, args...); err != nil {
			return err
		}
		for _, r := range rows {
			errs = append(errs, LineError{r.Line, r.Column, r.Message})
		}
		return nil
	}
	checks := []struct {
		q    string
		args []any
	}{
		// a family has one name and one address in the file...
		{`SELECT r.line, 'nom' AS col, format('la famille %s s''appelle « %s » à la ligne %s', r.family_ref, f.name, f.line) AS msg
			FROM import_rows r JOIN LATERAL (SELECT name, line FROM import_rows x WHERE x.family_ref = r.family_ref ORDER BY line LIMIT 1) f ON true
			WHERE r.name <> f.name`, nil},
		{`SELECT r.line, 'adresse' AS col, format('la famille %s a une autre adresse à la ligne %s', r.family_ref, f.line) AS msg
			FROM import_rows r JOIN LATERAL (SELECT address, postal_code, city, line FROM import_rows x WHERE x.family_ref = r.family_ref ORDER BY line LIMIT 1) f ON true
			WHERE (r.address, r.postal_code, r.city) <> (f.address, f.postal_code, f.city)`, nil},
		// ...an invoice one family, series, period and due date...
		{`SELECT r.line, 'reference' AS col, format('la facture %s a une autre famille, série ou période à la ligne %s', r.reference, f.line) AS msg
			FROM import_rows r JOIN LATERAL (SELECT family_ref, series_id, period, line FROM import_rows x
				WHERE x.ikey = r.ikey ORDER BY line LIMIT 1) f ON true
			WHERE r.reference IS NOT NULL AND (r.family_ref, r.series_id, r.period) <> (f.family_ref, f.series_id, f.period)`, nil},
		{`SELECT r.line, 'echeance' AS col, format('les lignes d''une même facture doivent avoir la même échéance (voir la ligne %s)', i.first_line) AS msg
			FROM import_rows r JOIN import_invoices i USING (ikey)
			WHERE r.due_date <> (SELECT due_date FROM import_rows x WHERE x.ikey = r.ikey ORDER BY line LIMIT 1)`, nil},
		// ...and a positive total
		{`SELECT first_line AS line, 'prix_unitaire' AS col,
				format('le total de la facture (lignes %s) doit être positif ; il vaut %s centimes', first_line, total) AS msg
			FROM import_invoices i WHERE total <= 0 AND NOT EXISTS (SELECT 1 FROM import_tainted t WHERE t.ikey = i.ikey)`, nil},
		// two references of the file may not give the same DGFiP refdet
		{`SELECT b.first_line AS line, 'reference' AS col,
				format('les références %s et %s (ligne %s) se confondent pour la DGFiP', b.reference, a.reference, a.first_line) AS msg
			FROM import_invoices a JOIN import_invoices b
			  ON a.reference IS NOT NULL AND b.reference IS NOT NULL AND a.first_line < b.first_line
			 AND regexp_replace(a.reference, '[^A-Za-z0-9]', '', 'g') = regexp_replace(b.reference, '[^A-Za-z0-9]', '', 'g')`, nil},
	}
	for _, c := range checks {
		if err := add(c.q, c.args...); err != nil {
			return err
		}
	}
	// Meet the existing invoices: by reference, or by family, series and
	// period for invoices numbered by Régie.
	if err := execAll(ctx, tx,
		stmt{`UPDATE import_invoices s SET family_id = f.id FROM families f WHERE f.tenant_id = $1 AND f.ref = s.family_ref`, []any{tid}},
		stmt{`UPDATE import_invoices s SET existing_id = i.id FROM invoices i
			WHERE s.reference IS NOT NULL AND i.tenant_id = $1 AND i.reference = s.reference`, []any{tid}},
		stmt{`UPDATE import_invoices s SET existing_id = i.id FROM invoices i
			WHERE s.reference IS NULL AND i.tenant_id = $1 AND i.family_id = s.family_id AND i.series_id = s.series_id
			  AND i.period = s.period AND i.status <> 'cancelled' AND NOT i.own_reference`, []any{tid}},
		stmt{`UPDATE import_invoices s SET action = CASE
				WHEN i.content_hash = s.content_hash THEN 'unchanged'
				WHEN i.status = 'draft' THEN 'replace'
				ELSE 'conflict' END
			FROM invoices i WHERE i.tenant_id = $1 AND i.id = s.existing_id`, []any{tid}},
	); err != nil {
		return err
	}
	// the planner must know the actions before the statements that filter
	// on them (it otherwise guessed one row and looped: 90 s for 30,000
	// invoices)
	if _, err := tx.ExecContext(ctx, `UPDATE import_invoices SET action = 'new' WHERE existing_id IS NULL; ANALYZE import_invoices`); err != nil {
		return err
	}
	more := []string{
		`SELECT s.first_line AS line, 'famille' AS col,
			CASE i.status
				WHEN 'cancelled' THEN format('la facture %s est annulée : donnez une nouvelle référence à la facture corrigée', i.reference)
				ELSE format('la facture %s (%s) est déjà publiée%s : annulez-la avant d''en importer une autre version',
					coalesce(i.reference, ''), to_char(i.period, 'MM/YYYY'), CASE WHEN i.status = 'paid' THEN ' et payée' ELSE '' END)
			END AS msg
		FROM import_invoices s JOIN invoices i ON i.tenant_id = $1 AND i.id = s.existing_id
		WHERE s.action = 'conflict'`,
		`SELECT s.first_line AS line, 'reference' AS col, format('la référence %s appartient déjà à la famille %s', s.reference, f.ref) AS msg
		FROM import_invoices s JOIN invoices i ON i.tenant_id = $1 AND i.id = s.existing_id
		JOIN families f ON f.tenant_id = $1 AND f.id = i.family_id
		WHERE s.reference IS NOT NULL AND f.ref <> s.family_ref`,
		`SELECT s.first_line AS line, 'reference' AS col, format('la référence %s se confond pour la DGFiP avec la facture existante %s', s.reference, i.reference) AS msg
		FROM import_invoices s JOIN invoices i ON i.tenant_id = $1 AND i.refdet = regexp_replace(s.reference, '[^A-Za-z0-9]', '', 'g')
		WHERE s.reference IS NOT NULL AND i.reference <> s.reference`,
	}
	for _, q := range more {
		if err := add(q, tid); err != nil {
			return err
		}
	}
	res.Errors = append(res.Errors, errs...)
	return nil
}

// apply writes families, the batch, invoices and lines from the staging
// tables, and fills the result's counts.
func apply(ctx context.Context, tx *sqlx.Tx, tid tenant.ID, opts ImportOptions, res *ImportResult) error {
	var fam struct {
		New     int `db:"new"`
		Updated int `db:"updated"`
	}
	const families = `
	WITH src AS (
		SELECT DISTINCT ON (family_ref) family_ref, name, address, postal_code, city
		FROM import_rows ORDER BY family_ref, line),
	up AS (
		INSERT INTO families (tenant_id, ref, name, address, postal_code, city)
		SELECT $1, family_ref, name, address, postal_code, city FROM src
		ON CONFLICT (tenant_id, ref) DO UPDATE
		SET name = excluded.name, address = excluded.address, postal_code = excluded.postal_code,
			city = excluded.city, updated_at = now()
		WHERE (families.name, families.address, families.postal_code, families.city)
			IS DISTINCT FROM (excluded.name, excluded.address, excluded.postal_code, excluded.city)
		RETURNING (xmax = 0) AS inserted)
	SELECT count(*) FILTER (WHERE inserted) AS new, count(*) FILTER (WHERE NOT inserted) AS updated FROM up`
	if err := sqlx.GetContext(ctx, tx, &fam, families, tid); err != nil {
		return fmt.Errorf("billing: import families: %w", err)
	}
	res.NewFamilies, res.UpdatedFamilies = fam.New, fam.Updated
	if err := execAll(ctx, tx,
		stmt{`UPDATE import_invoices s SET family_id = f.id FROM families f
			WHERE f.tenant_id = $1 AND f.ref = s.family_ref AND s.family_id IS NULL`, []any{tid}},
		stmt{`INSERT INTO family_emails (tenant_id, family_id, email)
			SELECT DISTINCT $1::bigint, f.id, e.email
			FROM import_rows r JOIN families f ON f.tenant_id = $1 AND f.ref = r.family_ref, unnest(r.emails) AS e(email)
			ON CONFLICT DO NOTHING`, []any{tid}},
	); err != nil {
		return fmt.Errorf("billing: import e-mails: %w", err)
	}

	var counts struct {
		New       int   `db:"new"`
		Replace   int   `db:"replace"`
		Unchanged int   `db:"unchanged"`
		Total     int64 `db:"total"`
	}
	const count = `SELECT count(*) FILTER (WHERE action = 'new') AS new, count(*) FILTER (WHERE action = 'replace') AS replace,
		count(*) FILTER (WHERE action = 'unchanged') AS unchanged,
		coalesce(sum(total) FILTER (WHERE action IN ('new', 'replace')), 0) AS total FROM import_invoices`
	if err := sqlx.GetContext(ctx, tx, &counts, count); err != nil {
		return err
	}
	res.NewInvoices, res.ReplacedInvoices, res.UnchangedInvoices, res.TotalCents = counts.New, counts.Replace, counts.Unchanged, counts.Total
	const groups = `SELECT s.code, i.period, count(*) AS invoices, sum(i.total) AS total
		FROM import_invoices i JOIN series s ON s.tenant_id = $1 AND s.id = i.series_id
		WHERE i.action IN ('new', 'replace') GROUP BY s.code, i.period ORDER BY s.code, i.period`
	if err := sqlx.SelectContext(ctx, tx, &res.Groups, groups, tid); err != nil {
		return err
	}
	if res.NothingToDo() {
		return nil
	}

	const batch = `INSERT INTO import_batches (tenant_id, filename, rows, invoices, total_cents)
		VALUES ($1, $2, $3, $4, $5) RETURNING id`
	if err := tx.GetContext(ctx, &res.BatchID, batch, tid, opts.Filename, res.Rows, counts.New+counts.Replace, counts.Total); err != nil {
		return fmt.Errorf("billing: create batch: %w", err)
	}
	err := execAll(ctx, tx,
		stmt{`UPDATE invoices i SET series_id = s.series_id, period = s.period, due_date = s.due_date,
			total_cents = s.total, content_hash = s.content_hash, batch_id = $2, pdf_key = '', updated_at = now()
		FROM import_invoices s WHERE s.action = 'replace' AND i.tenant_id = $1 AND i.id = s.existing_id`, []any{tid, res.BatchID}},
		stmt{`DELETE FROM invoice_lines l USING import_invoices s
			WHERE s.action = 'replace' AND l.tenant_id = $1 AND l.invoice_id = s.existing_id`, []any{tid}},
		stmt{`WITH ins AS (
			INSERT INTO invoices (tenant_id, family_id, series_id, batch_id, period, reference, refdet, own_reference,
				due_date, total_cents, content_hash)
			SELECT $1, family_id, series_id, $2, period, reference, regexp_replace(reference, '[^A-Za-z0-9]', '', 'g'),
				reference IS NOT NULL, due_date, total, content_hash
			FROM import_invoices WHERE action = 'new' ORDER BY first_line
			RETURNING id, family_id, series_id, period, reference)
		UPDATE import_invoices s SET invoice_id = ins.id FROM ins
			WHERE s.action = 'new' AND s.family_id = ins.family_id AND s.series_id = ins.series_id
			  AND s.period = ins.period AND s.reference IS NOT DISTINCT FROM ins.reference`, []any{tid, res.BatchID}},
		stmt{`INSERT INTO invoice_lines (tenant_id, invoice_id, position, label, quantity_milli, unit_price_cents, total_cents)
		SELECT $1, coalesce(s.invoice_id, s.existing_id), row_number() OVER (PARTITION BY r.ikey ORDER BY r.line), r.label,
			r.quantity_milli, r.unit_price_cents, r.line_total
		FROM import_rows r JOIN import_invoices s USING (ikey) WHERE s.action IN ('new', 'replace')`, []any{tid}},
	)
	if err != nil {
		return fmt.Errorf("billing: import invoices: %w", mapErr(err))
	}
	return nil
}

// stmt is one SQL statement and its arguments.
type stmt struct {
	q    string
	args []any
}

// execAll runs statements one by one: the driver cannot send several
// statements with parameters at once.
func execAll(ctx context.Context, tx *sqlx.Tx, stmts ...stmt) error {
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s.q, s.args...); err != nil {
			return err
		}
	}
	return nil
}
