package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/tenant"
)

// openTenant connects to the database and finds the commune of a slug: the
// start of every billing command.
func openTenant(ctx context.Context, env func(string) string, slug string) (*sqlx.DB, tenant.Tenant, error) {
	if slug == "" {
		return nil, tenant.Tenant{}, usageError("--tenant is required")
	}
	cfg, err := loadConfig(env, needDatabase)
	if err != nil {
		return nil, tenant.Tenant{}, err
	}
	db, err := openDB(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, tenant.Tenant{}, err
	}
	t, err := tenant.NewStore(db).BySlug(ctx, slug)
	if err != nil {
		db.Close()
		return nil, tenant.Tenant{}, fmt.Errorf("commune %q: %w", slug, err)
	}
	return db, t, nil
}

// insertOnlyJobs is a River client that inserts jobs for the workers of
// `regie serve` or `regie worker` to work.
func insertOnlyJobs(db *sqlx.DB) (*river.Client[*sql.Tx], error) {
	return river.NewClient(riverdatabasesql.New(db.DB), &river.Config{})
}

// cmdSeries creates invoice series.
func cmdSeries(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return usageError("series expects create")
	}
	fs := newFlags("series create", stderr)
	slug := fs.String("tenant", "", "commune slug")
	code := fs.String("code", "", "series code (`RS`)")
	label := fs.String("label", "", "label (`Restauration scolaire`)")
	pattern := fs.String("pattern", "", "reference pattern (`{exer}-RS-00-{numero:7}`)")
	next := fs.Int64("next", 1, "next number")
	numcli := fs.String("numcli", "", "DGFiP client number of the series, if not the commune's")
	if err := parseFlags(fs, args[1:], 0, ""); err != nil {
		return err
	}
	db, t, err := openTenant(ctx, env, *slug)
	if err != nil {
		return err
	}
	defer db.Close()
	s := billing.Series{Code: *code, Label: *label, Pattern: *pattern, NextNumber: *next}
	if *numcli != "" {
		s.Numcli = numcli
	}
	err = tenant.WithTx(ctx, db, t.ID, func(tx *sqlx.Tx) error {
		var err error
		s, err = billing.CreateSeries(ctx, tx, t.ID, s)
		return err
	})
	if err != nil {
		return err
	}
	sample, _ := billing.FormatReference(s.Pattern, s.Code, time.Now().Year(), 1, s.NextNumber)
	fmt.Fprintf(stdout, "série %s « %s » créée pour %s : prochaine référence %s (numcli %s)\n", s.Code, s.Label, t.Name, sample, s.NumcliOr(t.Numcli))
	return nil
}

// errDryRun rolls back a dry run's transaction.
var errDryRun = errors.New("dry run")

// importOptions are the switches of an import.
type importOptions struct {
	dryRun, publish bool
	progress        func(read int64)
}

// importFile imports a CSV file into a commune in one transaction, and
// publishes the batch in the same one when asked: the code path of
// `regie import` and of the demo's seed.
func importFile(ctx context.Context, db *sqlx.DB, jobs *river.Client[*sql.Tx], t tenant.Tenant, f io.ReadSeeker, name string, o importOptions) (billing.ImportResult, int, error) {
	var res billing.ImportResult
	published := 0
	err := tenant.WithTx(ctx, db, t.ID, func(tx *sqlx.Tx) error {
		series, err := billing.ListSeries(ctx, tx, t.ID)
		if err != nil {
			return err
		}
		codes := make([]string, len(series))
		for i, s := range series {
			codes[i] = s.Code
		}
		src, headErrs, err := billing.NewCSVSource(f, codes)
		if err != nil {
			res.Errors = headErrs
			return err
		}
		src.Progress = o.progress
		res, err = billing.Import(ctx, tx, t.ID, src, billing.ImportOptions{Filename: name})
		res.Ignored = src.Ignored
		switch {
		case err != nil:
			return err
		case o.dryRun:
			return errDryRun
		case o.publish && res.BatchID != 0:
			published, err = billing.Publish(ctx, tx, jobs, t.ID, res.BatchID, time.Now())
		}
		return err
	})
	return res, published, err
}

// cmdImport imports a CSV file of invoice lines: all or nothing.
func cmdImport(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("import", stderr)
	slug := fs.String("tenant", "", "commune slug")
	dry := fs.Bool("dry-run", false, "check the file and print the preview, save nothing")
	publish := fs.Bool("publish", false, "publish the invoices at once")
	if err := parseFlags(fs, args, 1, "one CSV file (flags go before it)"); err != nil {
		return err
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	db, t, err := openTenant(ctx, env, *slug)
	if err != nil {
		return err
	}
	defer db.Close()
	jobs, err := insertOnlyJobs(db)
	if err != nil {
		return err
	}
	var progress func(int64)
	if file, ok := stderr.(*os.File); ok && term.IsTerminal(int(file.Fd())) {
		if st, err := f.Stat(); err == nil {
			bar := progressbar.DefaultBytes(st.Size(), "lecture")
			progress = func(n int64) { bar.Set64(n) } //nolint:errcheck // display only
			defer bar.Finish()                        //nolint:errcheck
		}
	}
	began := time.Now()
	res, published, err := importFile(ctx, db, jobs, t, f, filepath.Base(fs.Arg(0)), importOptions{dryRun: *dry, publish: *publish, progress: progress})
	printImport(stdout, res)
	if err == nil && res.NewInvoices+res.ReplacedInvoices >= billing.AnalyzeAfter {
		if err := billing.RefreshStats(ctx, db, began); err != nil {
			fmt.Fprintf(stderr, "attention : %v (les pages de la commune peuvent être lentes jusqu'à la prochaine analyse automatique)\n", err)
		}
	}
	switch {
	case errors.Is(err, billing.ErrInvalidImport), errors.Is(err, billing.ErrBadFile):
		for _, e := range res.Errors {
			fmt.Fprintln(stderr, e.String())
		}
		return fmt.Errorf("%d erreur(s) : rien n'a été importé", len(res.Errors))
	case errors.Is(err, errDryRun):
		fmt.Fprintln(stdout, "essai (--dry-run) : rien n'a été enregistré")
		return nil
	case err != nil:
		return err
	case res.NothingToDo():
		fmt.Fprintln(stdout, "rien à faire : toutes les factures du fichier sont déjà importées à l'identique")
	case *publish:
		fmt.Fprintf(stdout, "lot %d importé et publié : %d facture(s) ; les familles sont prévenues par courriel\n", res.BatchID, published)
	default:
		fmt.Fprintf(stdout, "lot %d importé, non publié : regie publish --tenant %s --batch %d\n", res.BatchID, t.Slug, res.BatchID)
	}
	return nil
}

func printImport(w io.Writer, r billing.ImportResult) {
	if r.Rows == 0 {
		return
	}
	fmt.Fprintf(w, "lignes lues : %d\n", r.Rows)
	if len(r.Errors) > 0 {
		return
	}
	fmt.Fprintf(w, "factures : %d nouvelle(s), %d remplacée(s), %d inchangée(s)\n", r.NewInvoices, r.ReplacedInvoices, r.UnchangedInvoices)
	fmt.Fprintf(w, "familles : %d nouvelle(s), %d modifiée(s)\n", r.NewFamilies, r.UpdatedFamilies)
	for _, g := range r.Groups {
		fmt.Fprintf(w, "  série %s, %s : %d facture(s), %s\n", g.SeriesCode, billing.PeriodLabel(g.Period), g.Invoices, billing.FormatEuros(g.TotalCents))
	}
	if r.NewInvoices+r.ReplacedInvoices > 0 {
		fmt.Fprintf(w, "montant total : %s\n", billing.FormatEuros(r.TotalCents))
	}
	for _, c := range r.Ignored {
		fmt.Fprintf(w, "colonne ignorée : %s\n", c)
	}
}

// cmdPublish publishes an imported batch.
func cmdPublish(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("publish", stderr)
	slug := fs.String("tenant", "", "commune slug")
	batch := fs.Int64("batch", 0, "batch id printed by regie import")
	if err := parseFlags(fs, args, 0, ""); err != nil {
		return err
	}
	if *batch <= 0 {
		return usageError("publish needs --batch")
	}
	db, t, err := openTenant(ctx, env, *slug)
	if err != nil {
		return err
	}
	defer db.Close()
	jobs, err := insertOnlyJobs(db)
	if err != nil {
		return err
	}
	var n int
	err = tenant.WithTx(ctx, db, t.ID, func(tx *sqlx.Tx) error {
		var err error
		n, err = billing.Publish(ctx, tx, jobs, t.ID, *batch, time.Now())
		return err
	})
	switch {
	case errors.Is(err, billing.ErrNotFound):
		return fmt.Errorf("lot %d inconnu pour %s", *batch, t.Slug)
	case errors.Is(err, billing.ErrBatchState):
		return fmt.Errorf("lot %d déjà publié ou annulé", *batch)
	case err != nil:
		return err
	}
	fmt.Fprintf(stdout, "lot %d publié : %d facture(s) ; les familles sont prévenues par courriel\n", *batch, n)
	return nil
}

// cmdInvoice cancels invoices.
func cmdInvoice(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "cancel" {
		return usageError("invoice expects cancel")
	}
	fs := newFlags("invoice cancel", stderr)
	slug := fs.String("tenant", "", "commune slug")
	ref := fs.String("reference", "", "invoice reference")
	reason := fs.String("reason", "", "why, as the family will read it")
	if err := parseFlags(fs, args[1:], 0, ""); err != nil {
		return err
	}
	db, t, err := openTenant(ctx, env, *slug)
	if err != nil {
		return err
	}
	defer db.Close()
	err = tenant.WithTx(ctx, db, t.ID, func(tx *sqlx.Tx) error {
		_, err := billing.CancelInvoice(ctx, tx, t.ID, *ref, *reason, time.Now())
		return err
	})
	switch {
	case errors.Is(err, billing.ErrNotFound):
		return fmt.Errorf("facture %q inconnue pour %s", *ref, t.Slug)
	case errors.Is(err, billing.ErrAlreadyPaid):
		return fmt.Errorf("la facture %s est payée : elle ne peut pas être annulée", *ref)
	case errors.Is(err, billing.ErrAlreadyCancelled):
		return fmt.Errorf("la facture %s est déjà annulée", *ref)
	case err != nil:
		return err
	}
	fmt.Fprintf(stdout, "facture %s annulée\n", *ref)
	return nil
}
