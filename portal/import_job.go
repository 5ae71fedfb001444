package portal

import (
	"archive/zip"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/billing/docstore"
	"github.com/regie/regie/tenant"
)

// An uploaded import file is worked by two jobs, so that a large file never
// holds a request and leaving the page loses nothing: the check imports it
// in a transaction that is rolled back and keeps the preview (or the
// errors); after the staff member confirms, the run imports it for real,
// publishes or schedules the batch, and takes the PDFs of the ZIP. Both
// record how much of the file they have read, which the upload's page
// shows as a progress bar.

// ImportCheckArgs asks to check an uploaded file.
type ImportCheckArgs struct {
	TenantID tenant.ID `json:"tenant_id"`
	UploadID int64     `json:"upload_id"`
}

// Kind names the job in River.
func (ImportCheckArgs) Kind() string { return "import.check" }

// ImportRunArgs asks to import a checked and confirmed file.
type ImportRunArgs struct {
	TenantID tenant.ID `json:"tenant_id"`
	UploadID int64     `json:"upload_id"`
}

// Kind names the job in River.
func (ImportRunArgs) Kind() string { return "import.run" }

const (
	// importJobAttempts bounds the tries of an import job: a file that
	// fails for a technical reason three times is marked failed rather
	// than left "en cours" for days.
	importJobAttempts = 3
	// importJobTimeout leaves a 50 MB file time to be read and checked.
	importJobTimeout = 30 * time.Minute
	// importFailedMessage is what the page says of a technical failure.
	importFailedMessage = "Le fichier n'a pas pu être traité à cause d'une erreur technique. Déposez-le de nouveau ; si le problème persiste, contactez le support."
)

// errCheckOnly rolls back the transaction of a check.
var errCheckOnly = errors.New("portal: check only")

// addImportWorkers registers the jobs of uploaded imports.
func addImportWorkers(w *river.Workers, d WorkerDeps) error {
	if err := river.AddWorkerSafely(w, &importCheckWorker{d: d}); err != nil {
		return err
	}
	return river.AddWorkerSafely(w, &importRunWorker{d: d})
}

type importCheckWorker struct {
	river.WorkerDefaults[ImportCheckArgs]
	d WorkerDeps
}

func (w *importCheckWorker) Timeout(*river.Job[ImportCheckArgs]) time.Duration {
	return importJobTimeout
}

// Work imports the file in a transaction it rolls back, and keeps the
// preview or every error.
func (w *importCheckWorker) Work(ctx context.Context, job *river.Job[ImportCheckArgs]) error {
	a := job.Args
	up, err := w.d.importUpload(ctx, a.TenantID, a.UploadID)
	if err != nil || up.Status != billing.UploadChecking {
		return err
	}
	f, err := w.d.importFetch(ctx, up.FileKey)
	if err != nil {
		return w.d.importTechnical(ctx, up, job.JobRow.Attempt, job.JobRow.MaxAttempts, err)
	}
	defer removeImportTemp(f)
	var res billing.ImportResult
	err = tenant.WithTx(ctx, w.d.DB, up.TenantID, func(tx *sqlx.Tx) error {
		var err error
		if res, err = importCSV(ctx, tx, up, f, w.d.importProgress(ctx, up)); err != nil {
			return err
		}
		return errCheckOnly
	})
	status := billing.UploadChecked
	switch {
	case errors.Is(err, errCheckOnly):
	case errors.Is(err, billing.ErrInvalidImport), errors.Is(err, billing.ErrBadFile):
		status = billing.UploadInvalid
	default:
		return w.d.importTechnical(ctx, up, job.JobRow.Attempt, job.JobRow.MaxAttempts, err)
	}
	res.BatchID = 0 // rolled back
	return w.d.importFinish(ctx, up, status, billing.UploadReport{Check: &res}, 0, "")
}

type importRunWorker struct {
	river.WorkerDefaults[ImportRunArgs]
	d WorkerDeps
}

func (w *importRunWorker) Timeout(*river.Job[ImportRunArgs]) time.Duration {
	return importJobTimeout
}

// Work imports the file for real in one transaction: the invoices, then the
// publication (now) or its schedule, then the PDFs of the ZIP. A ZIP with
// any problem is refused whole, and the invoices stay imported. When the
// file now has errors (the commune's data changed since the check),
// nothing is saved and the upload is marked failed with them.
func (w *importRunWorker) Work(ctx context.Context, job *river.Job[ImportRunArgs]) error {
	a := job.Args
	up, err := w.d.importUpload(ctx, a.TenantID, a.UploadID)
	if err != nil || up.Status != billing.UploadImporting {
		return err
	}
	attempt, maxAttempts := job.JobRow.Attempt, job.JobRow.MaxAttempts
	f, err := w.d.importFetch(ctx, up.FileKey)
	if err != nil {
		return w.d.importTechnical(ctx, up, attempt, maxAttempts, err)
	}
	defer removeImportTemp(f)
	var zr *zip.Reader
	if up.ZIPKey != "" {
		zf, err := w.d.importFetch(ctx, up.ZIPKey)
		if err != nil {
			return w.d.importTechnical(ctx, up, attempt, maxAttempts, err)
		}
		defer removeImportTemp(zf)
		if st, err := zf.Stat(); err == nil {
			zr, _ = zip.NewReader(zf, st.Size()) // nil: refused below as unreadable
		}
	}
	jobs := river.ClientFromContext[*sql.Tx](ctx)
	var rep billing.UploadReport
	var batchID int64
	began := time.Now()
	err = tenant.WithTx(ctx, w.d.DB, up.TenantID, func(tx *sqlx.Tx) error {
		res, err := importCSV(ctx, tx, up, f, w.d.importProgress(ctx, up))
		rep.Import = &res
		if err != nil {
			return err
		}
		batchID = res.BatchID
		switch {
		case batchID == 0:
		case up.PublishNow:
			rep.Published, err = billing.Publish(ctx, tx, jobs, up.TenantID, batchID, time.Now())
		case up.PublishAt != nil:
			err = billing.ScheduleBatch(ctx, tx, up.TenantID, batchID, *up.PublishAt)
		}
		if err != nil {
			return err
		}
		if up.ZIPKey != "" {
			if rep.PDFs, rep.ZIPProblems, err = w.d.importPDFs(ctx, tx, up.TenantID, batchID, zr); err != nil {
				return err
			}
		}
		return billing.FinishUpload(ctx, tx, up.TenantID, up.ID, billing.UploadImporting, billing.UploadImported, rep, batchID, "")
	})
	var ve *billing.ValidationError
	switch {
	case err == nil:
		w.d.importForget(ctx, up)
		if rep.Import.NewInvoices+rep.Import.ReplacedInvoices >= billing.AnalyzeAfter {
			if err := billing.RefreshStats(ctx, w.d.DB, began); err != nil {
				tenant.Logger(ctx, w.d.Log).Warn("statistics not refreshed after a large import", "commune", up.TenantID, "upload", up.ID, "err", err)
			}
		}
		return nil
	case errors.Is(err, billing.ErrUploadState):
		return nil // another run finished it
	case errors.Is(err, billing.ErrInvalidImport), errors.Is(err, billing.ErrBadFile):
		rep.Import.BatchID, rep.Published, rep.PDFs, rep.ZIPProblems = 0, 0, 0, nil
		return w.d.importFinish(ctx, up, billing.UploadFailed, billing.UploadReport{Import: rep.Import}, 0, "")
	case errors.As(err, &ve):
		// publication refused (numbers already taken): nothing imported
		return w.d.importFinish(ctx, up, billing.UploadFailed, billing.UploadReport{}, 0,
			"La publication a été refusée, rien n'a été importé : "+ve.Message+".")
	}
	return w.d.importTechnical(ctx, up, attempt, maxAttempts, err)
}

// importCSV runs billing.Import on an upload's file inside tx: the code path
// of `regie import`.
func importCSV(ctx context.Context, tx *sqlx.Tx, up billing.Upload, f io.ReadSeeker, progress func(int64)) (billing.ImportResult, error) {
	series, err := billing.ListSeries(ctx, tx, up.TenantID)
	if err != nil {
		return billing.ImportResult{}, err
	}
	codes := make([]string, len(series))
	for i, s := range series {
		codes[i] = s.Code
	}
	src, headErrs, err := billing.NewCSVSource(f, codes)
	if err != nil {
		return billing.ImportResult{Errors: headErrs}, err
	}
	src.Progress = progress
	res, err := billing.Import(ctx, tx, up.TenantID, src, billing.ImportOptions{Filename: up.Filename})
	res.Ignored = src.Ignored
	return res, err
}

// importPDFs takes the PDFs of an upload's ZIP for the invoices of the
// batch, all or none: it returns how many it stored, or the problems that
// made it refuse the ZIP.
func (d WorkerDeps) importPDFs(ctx context.Context, tx *sqlx.Tx, tid tenant.ID, batchID int64, zr *zip.Reader) (int, []string, error) {
	switch {
	case zr == nil:
		return 0, []string{"le fichier ZIP est illisible"}, nil
	case batchID == 0:
		return 0, []string{"aucune facture n'a été importée (rien à faire) : les PDF du ZIP n'ont pas été utilisés"}, nil
	}
	refs, err := billing.BatchReferences(ctx, tx, tid, batchID)
	if err != nil {
		return 0, nil, err
	}
	pdfs, problems := billing.CheckPDFZip(zr, refs)
	if len(problems) > 0 {
		n, err := billing.BatchUnnumbered(ctx, tx, tid, batchID)
		if err != nil {
			return 0, nil, err
		}
		if n > 0 {
			problems = append(problems, fmt.Sprintf("%d facture(s) du lot n'ont pas encore de référence : le portail les numérote à la publication. "+
				"Un ZIP ne peut viser que des factures publiées avec l'import (« Publier maintenant ») ou dont le fichier donne la référence (colonne reference).", n))
		}
		return 0, problems, nil
	}
	for _, p := range pdfs {
		b, err := billing.ReadZIPPDF(p)
		if err != nil {
			return 0, nil, err
		}
		key := docstore.InvoiceKey(tid, p.InvoiceID)
		if err := d.Docs.Put(ctx, key, bytes.NewReader(b), int64(len(b)), "application/pdf"); err != nil {
			return 0, nil, err
		}
		if err := billing.SetPDFKey(ctx, tx, tid, p.InvoiceID, key); err != nil {
			return 0, nil, err
		}
	}
	return len(pdfs), nil, nil
}

// importUpload reads an upload; a missing one (its commune deleted) ends
// the job.
func (d WorkerDeps) importUpload(ctx context.Context, tid tenant.ID, id int64) (billing.Upload, error) {
	var up billing.Upload
	err := tenant.WithTx(ctx, d.DB, tid, func(tx *sqlx.Tx) error {
		var err error
		up, err = billing.UploadByID(ctx, tx, tid, id)
		return err
	})
	if errors.Is(err, billing.ErrNotFound) {
		return up, river.JobCancel(err)
	}
	return up, err
}

// importFetch copies a stored file into a temporary one (the CSV reader
// seeks, the ZIP reader reads at offsets), positioned at its start.
func (d WorkerDeps) importFetch(ctx context.Context, key string) (*os.File, error) {
	rc, _, err := d.Docs.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	f, err := os.CreateTemp("", "regie-import-*")
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(f, rc); err != nil {
		removeImportTemp(f)
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		removeImportTemp(f)
		return nil, err
	}
	return f, nil
}

func removeImportTemp(f *os.File) {
	f.Close()
	os.Remove(f.Name())
}

// importProgress returns the reader's progress callback: it records the
// bytes read about every 1 % of the file, each time in a transaction of its
// own, so the page sees it while the import's transaction is still open.
func (d WorkerDeps) importProgress(ctx context.Context, up billing.Upload) func(int64) {
	step := max(up.SizeBytes/100, 1)
	next := step
	return func(read int64) {
		if read < next {
			return
		}
		next = read + step
		err := tenant.WithTx(ctx, d.DB, up.TenantID, func(tx *sqlx.Tx) error {
			return billing.SetUploadProgress(ctx, tx, up.TenantID, up.ID, read)
		})
		if err != nil {
			tenant.Logger(ctx, d.Log).Warn("import progress", "commune", up.TenantID, "upload", up.ID, "err", err)
		}
	}
}

// importFinish records the end of a job's work on an upload. Files of an
// upload that will not be imported any more are deleted: they hold
// personal data, and what the page shows is kept in the report.
func (d WorkerDeps) importFinish(ctx context.Context, up billing.Upload, status billing.UploadStatus, rep billing.UploadReport, batchID int64, msg string) error {
	err := tenant.WithTx(ctx, d.DB, up.TenantID, func(tx *sqlx.Tx) error {
		return billing.FinishUpload(ctx, tx, up.TenantID, up.ID, up.Status, status, rep, batchID, msg)
	})
	if errors.Is(err, billing.ErrUploadState) {
		return nil
	}
	if err == nil && status != billing.UploadChecked {
		d.importForget(ctx, up)
	}
	return err
}

// importTechnical handles a failure that is not the file's fault: River
// tries again, and after the last attempt the upload is marked failed.
func (d WorkerDeps) importTechnical(ctx context.Context, up billing.Upload, attempt, maxAttempts int, err error) error {
	tenant.Logger(ctx, d.Log).Error("import job failed", "commune", up.TenantID, "upload", up.ID, "attempt", attempt, "err", err)
	if attempt < maxAttempts {
		return err
	}
	if ferr := d.importFinish(ctx, up, billing.UploadFailed, billing.UploadReport{}, 0, importFailedMessage); ferr != nil {
		return errors.Join(err, ferr)
	}
	return err
}

// importForget deletes an upload's stored files.
func (d WorkerDeps) importForget(ctx context.Context, up billing.Upload) {
	for _, key := range []string{up.FileKey, up.ZIPKey} {
		if key == "" {
			continue
		}
		if err := d.Docs.Delete(ctx, key); err != nil {
			tenant.Logger(ctx, d.Log).Warn("delete import file", "key", key, "err", err)
		}
	}
}
