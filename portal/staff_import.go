package portal

import (
	"archive/zip"
	"errors"
	"fmt"
	"mime/multipart"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/billing/docstore"
	"github.com/regie/regie/portal/audit"
	"github.com/regie/regie/portal/staff"
	"github.com/regie/regie/tenant"
)

// The upload form is multipart. The CSRF middleware runs before the
// handler and reads c.PostForm("csrf_token"), which makes Go parse the
// whole multipart body (parts past 32 MB spill to temporary files), so the
// token is found wherever it stands in the body. The form still puts the
// hidden csrf_token FIRST, before the files: a check that streams the body
// can then refuse a forged upload before reading megabytes. No token in the
// query string: it would end up in access logs and in the Referer of the
// next page. A form without the token is refused (403) and stores nothing.

// uploadLimits bound the files the upload form takes. The handler reads
// the body through http.MaxBytesReader with their sum and checks each
// file's size, so an oversized file is refused with 413 and a French
// message.
type uploadLimits struct {
	csv, zip atomic.Int64
}

// defaultUploadLimits are the import's limits: CSV 50 MB, ZIP 200 MB.
// Atomic, so a test can lower them while the server runs.
func defaultUploadLimits() *uploadLimits {
	l := &uploadLimits{}
	l.csv.Store(50 << 20)
	l.zip.Store(200 << 20)
	return l
}

// max is the largest body an upload may send.
func (l *uploadLimits) max() int64 { return l.csv.Load() + l.zip.Load() + 1<<20 }

// importListSize is how many uploads and batches the import page lists.
const importListSize = 50

// importView is the data of the import page: the upload form and the
// recent uploads and batches.
type importView struct {
	Page
	CanImport           bool
	MaxCSV, MaxZIP      string
	FileError, ZIPError string
	Uploads             []uploadRow
	Batches             []batchRow
	UploadsPrev         string
	UploadsNext         string
	BatchesPrev         string
	BatchesNext         string
}

type uploadRow struct {
	ID          int64
	Filename    string
	HasZIP      bool
	Status      string
	StatusClass string
	Rows        int
	Invoices    int
	Total       string
	Errors      int
	BatchID     int64
	At          string
}

type batchRow struct {
	ID          int64
	Filename    string
	Status      string
	StatusClass string
	Invoices    int
	Total       string
	CreatedAt   string
	PublishedAt string
	PublishAt   string
}

// importData reads the lists of the import page, in one transaction and
// two queries; ?depots= and ?lots= page them.
func (s *Server) importData(c *gin.Context) (importView, error) {
	ctx := c.Request.Context()
	sess, _ := staffFrom(c)
	v := importView{Page: s.staffPage(c, "Import des factures", "import"), CanImport: staffRole(sess).Can(staff.PermImport),
		MaxCSV: importSize(s.uploads.csv.Load()), MaxZIP: importSize(s.uploads.zip.Load())}
	up, bp := importListPage(c, "depots"), importListPage(c, "lots")
	var uploads []billing.UploadSummary
	var batches []billing.Batch
	err := s.inStaffTx(c, func(tx *sqlx.Tx) error {
		var err error
		if uploads, err = billing.ListUploads(ctx, tx, sess.TenantID, importListSize+1, (up-1)*importListSize); err != nil {
			return err
		}
		batches, err = billing.ListBatches(ctx, tx, sess.TenantID, importListSize+1, (bp-1)*importListSize)
		return err
	})
	if err != nil {
		return v, err
	}
	v.UploadsPrev, v.UploadsNext = importListLinks(c, "depots", up, len(uploads) > importListSize)
	v.BatchesPrev, v.BatchesNext = importListLinks(c, "lots", bp, len(batches) > importListSize)
	for i, u := range uploads {
		if i == importListSize {
			break
		}
		r := uploadRow{ID: u.ID, Filename: u.Filename, HasZIP: u.HasZIP, Status: u.Status.Label(), StatusClass: uploadClass(u.Status),
			Rows: u.Rows, Invoices: u.Invoices, Total: billing.FormatEuros(u.TotalCents), Errors: u.Errors, At: parisTime(u.CreatedAt)}
		if u.BatchID != nil {
			r.BatchID = *u.BatchID
		}
		v.Uploads = append(v.Uploads, r)
	}
	for i, b := range batches {
		if i == importListSize {
			break
		}
		v.Batches = append(v.Batches, newBatchRow(b))
	}
	return v, nil
}

func newBatchRow(b billing.Batch) batchRow {
	r := batchRow{ID: b.ID, Filename: b.Filename, Status: b.Status.Label(), StatusClass: batchClass(b.Status),
		Invoices: b.Invoices, Total: billing.FormatEuros(b.TotalCents), CreatedAt: parisTime(b.CreatedAt)}
	if b.PublishedAt != nil {
		r.PublishedAt = parisTime(*b.PublishedAt)
	}
	if b.PublishAt != nil && b.Status == billing.BatchImported {
		r.PublishAt = parisTime(*b.PublishAt)
	}
	return r
}

// importPage shows the upload form and the recent uploads and batches.
func (s *Server) importPage(c *gin.Context) {
	v, err := s.importData(c)
	if err != nil {
		s.renderError(c, err)
		return
	}
	s.render(c, http.StatusOK, "staff_import.html", v)
}

// upload takes the CSV (field fichier) and the optional ZIP of PDFs (field
// pdfs), stores both with the documents, records the upload and queues the
// job that checks it, in one transaction, then sends to the upload's page.
func (s *Server) upload(c *gin.Context) {
	ctx := c.Request.Context()
	sess, _ := staffFrom(c)
	maxCSV, maxZIP := s.uploads.csv.Load(), s.uploads.zip.Load()
	refuse := func(status int, fileErr, zipErr string) {
		v, err := s.importData(c)
		if err != nil {
			s.renderError(c, err)
			return
		}
		v.FileError, v.ZIPError = fileErr, zipErr
		s.render(c, status, "staff_import.html", v)
	}
	if err := c.Request.ParseMultipartForm(8 << 20); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			refuse(http.StatusRequestEntityTooLarge, fmt.Sprintf("Les fichiers envoyés sont trop gros : %s au plus pour le CSV et %s pour le ZIP.",
				importSize(maxCSV), importSize(maxZIP)), "")
			return
		}
		refuse(http.StatusUnprocessableEntity, "Choisissez le fichier CSV des factures à importer.", "")
		return
	}
	csvFile, zipFile := formFile(c.Request.MultipartForm, "fichier"), formFile(c.Request.MultipartForm, "pdfs")
	switch {
	case csvFile == nil || csvFile.Size == 0:
		refuse(http.StatusUnprocessableEntity, "Choisissez le fichier CSV des factures à importer (il ne doit pas être vide).", "")
		return
	case csvFile.Size > maxCSV:
		refuse(http.StatusRequestEntityTooLarge, fmt.Sprintf("Ce fichier fait %s : le fichier CSV doit faire %s au plus. Découpez-le, par exemple par série ou par mois.",
			importSize(csvFile.Size), importSize(maxCSV)), "")
		return
	case zipFile != nil && zipFile.Size > maxZIP:
		refuse(http.StatusRequestEntityTooLarge, "", fmt.Sprintf("Ce ZIP fait %s : il doit faire %s au plus. Découpez-le en plusieurs envois.",
			importSize(zipFile.Size), importSize(maxZIP)))
		return
	}
	if zipFile != nil && !readableZIP(zipFile) {
		refuse(http.StatusUnprocessableEntity, "", "Ce fichier n'est pas un ZIP lisible. Choisissez un fichier .zip contenant les PDF des factures.")
		return
	}
	name := uploadName(csvFile.Filename)
	var up billing.Upload
	err := s.inStaffTx(c, func(tx *sqlx.Tx) error {
		var err error
		if up, err = billing.CreateUpload(ctx, tx, sess.TenantID, sess.AccountID, name, csvFile.Size); err != nil {
			return err
		}
		csvKey, zipKey := docstore.UploadCSVKey(sess.TenantID, up.ID), ""
		if err := s.storeUploadPart(c, csvFile, csvKey, "text/csv"); err != nil {
			return err
		}
		if zipFile != nil {
			zipKey = docstore.UploadZIPKey(sess.TenantID, up.ID)
			if err := s.storeUploadPart(c, zipFile, zipKey, "application/zip"); err != nil {
				return err
			}
		}
		if err := billing.SetUploadKeys(ctx, tx, sess.TenantID, up.ID, csvKey, zipKey); err != nil {
			return err
		}
		if _, err := s.jobs.InsertTx(ctx, tx.Tx, ImportCheckArgs{TenantID: sess.TenantID, UploadID: up.ID},
			&river.InsertOpts{MaxAttempts: importJobAttempts}); err != nil {
			return fmt.Errorf("queue import check: %w", err)
		}
		after := struct {
			Filename string `json:"filename"`
			Size     int64  `json:"size_bytes"`
			ZIP      string `json:"zip,omitempty"`
			ZIPSize  int64  `json:"zip_size_bytes,omitempty"`
		}{Filename: name, Size: csvFile.Size}
		if zipFile != nil {
			after.ZIP, after.ZIPSize = uploadName(zipFile.Filename), zipFile.Size
		}
		return audit.Record(ctx, tx, sess.TenantID, actor(c), audit.Entry{Action: "import.upload", TargetType: "import_upload",
			TargetID: itoa(up.ID), After: after})
	})
	if err != nil {
		s.renderError(c, err)
		return
	}
	s.setFlash(c, flash{Msg: "Fichier déposé : la vérification est en cours. Vous pouvez quitter cette page, rien ne sera perdu."})
	c.Redirect(http.StatusSeeOther, "/gestion/import/"+itoa(up.ID))
}

// storeUploadPart copies a file of the form to the document store.
func (s *Server) storeUploadPart(c *gin.Context, fh *multipart.FileHeader, key, contentType string) error {
	f, err := fh.Open()
	if err != nil {
		return err
	}
	defer f.Close()
	return s.docs.Put(c.Request.Context(), key, f, fh.Size, contentType)
}

// uploadView is the data of an upload's page.
type uploadView struct {
	Page
	ID          int64
	Filename    string
	Status      billing.UploadStatus
	StatusLabel string
	StatusClass string
	CreatedAt   string
	HasZIP      bool
	Running     bool
	Percent     int64
	ReadDone    bool // the whole file is read; the rules are being checked
	Preview     *importSummary
	Outcome     *importSummary
	Errors      []string
	Published   int
	PublishAt   string
	PDFs        int
	ZIPProblems []string
	BatchID     int64
	TechError   string
	CanImport   bool
	CanConfirm  bool
	// the confirmation form
	Choice      string
	ChoiceError string
	AtValue     string
	AtError     string
	MinAt       string
}

// importSummary is a preview or an outcome as the page shows it.
type importSummary struct {
	Rows                                     int
	NewInvoices, ReplacedInvoices, Unchanged int
	NewFamilies, UpdatedFamilies             int
	Total                                    string
	Groups                                   []importGroupRow
	Ignored                                  []string
	NothingToDo                              bool
}

type importGroupRow struct {
	Series, Period string
	Invoices       int
	Total          string
}

func newImportSummary(r *billing.ImportResult) *importSummary {
	if r == nil || len(r.Errors) > 0 {
		return nil
	}
	s := &importSummary{Rows: r.Rows, NewInvoices: r.NewInvoices, ReplacedInvoices: r.ReplacedInvoices, Unchanged: r.UnchangedInvoices,
		NewFamilies: r.NewFamilies, UpdatedFamilies: r.UpdatedFamilies, Total: billing.FormatEuros(r.TotalCents),
		Ignored: r.Ignored, NothingToDo: r.NothingToDo()}
	for _, g := range r.Groups {
		s.Groups = append(s.Groups, importGroupRow{Series: g.SeriesCode, Period: billing.PeriodLabel(g.Period),
			Invoices: g.Invoices, Total: billing.FormatEuros(g.TotalCents)})
	}
	return s
}

// uploadData reads an upload of the staff member's commune; another
// commune's id, or an unknown one, is a 404.
func (s *Server) uploadData(c *gin.Context) (uploadView, error) {
	ctx := c.Request.Context()
	sess, _ := staffFrom(c)
	id, ok := pathID(c, "id")
	if !ok {
		return uploadView{}, errNotFound
	}
	var up billing.Upload
	err := s.inStaffTx(c, func(tx *sqlx.Tx) error {
		var err error
		up, err = billing.UploadByID(ctx, tx, sess.TenantID, id)
		return err
	})
	if err != nil {
		return uploadView{}, missingAs404(err)
	}
	v := uploadView{Page: s.staffPage(c, "Import : "+up.Filename, "import"), ID: up.ID, Filename: up.Filename,
		Status: up.Status, StatusLabel: up.Status.Label(), StatusClass: uploadClass(up.Status), CreatedAt: parisTime(up.CreatedAt),
		HasZIP: up.ZIPKey != "", Running: up.Status.Running(), Percent: up.Percent(),
		ReadDone: up.SizeBytes > 0 && up.Progress >= up.SizeBytes, TechError: up.Error,
		CanImport: staffRole(sess).Can(staff.PermImport), MinAt: s.now().In(tenant.Paris).Format("2006-01-02T15:04")}
	rep := up.Report
	v.Preview, v.Outcome = newImportSummary(rep.Check), newImportSummary(rep.Import)
	switch {
	case rep.Import != nil && len(rep.Import.Errors) > 0:
		v.Errors = lineErrorStrings(rep.Import.Errors)
	case rep.Check != nil && len(rep.Check.Errors) > 0:
		v.Errors = lineErrorStrings(rep.Check.Errors)
	}
	v.Published, v.PDFs, v.ZIPProblems = rep.Published, rep.PDFs, rep.ZIPProblems
	if up.BatchID != nil {
		v.BatchID = *up.BatchID
	}
	if up.PublishAt != nil {
		v.PublishAt = parisTime(*up.PublishAt)
	}
	v.CanConfirm = v.CanImport && up.Status == billing.UploadChecked && v.Preview != nil && !v.Preview.NothingToDo
	return v, nil
}

func lineErrorStrings(errs []billing.LineError) []string {
	out := make([]string, len(errs))
	for i, e := range errs {
		out[i] = e.String()
	}
	return out
}

// uploadPage shows where an upload stands: a progress bar while a job
// works (the page reloads itself every 2 seconds), every error by line,
// the preview with the confirmation form, or the outcome.
func (s *Server) uploadPage(c *gin.Context) {
	v, err := s.uploadData(c)
	if err != nil {
		s.renderError(c, err)
		return
	}
	s.render(c, http.StatusOK, "staff_upload.html", v)
}

// The choices of the confirmation form (field publication).
const (
	publishNow   = "maintenant"
	publishLater = "date"
	publishNever = "non"
)

// confirmUpload records the choice of publication and queues the import.
func (s *Server) confirmUpload(c *gin.Context) {
	ctx := c.Request.Context()
	sess, _ := staffFrom(c)
	v, err := s.uploadData(c)
	if err != nil {
		s.renderError(c, err)
		return
	}
	if !v.CanConfirm {
		s.setFlash(c, flash{Msg: "Ce fichier n'est pas (ou plus) à confirmer : voici où il en est."})
		c.Redirect(http.StatusSeeOther, "/gestion/import/"+itoa(v.ID))
		return
	}
	v.Choice, v.AtValue = c.PostForm("publication"), strings.TrimSpace(c.PostForm("publier_le"))
	var at *time.Time
	switch v.Choice {
	case publishNow, publishNever:
	case publishLater:
		t, msg := parsePublishAt(v.AtValue, s.now())
		if msg != "" {
			v.AtError = msg
			s.render(c, http.StatusUnprocessableEntity, "staff_upload.html", v)
			return
		}
		at = &t
	default:
		v.ChoiceError = "Choisissez quand publier les factures."
		s.render(c, http.StatusUnprocessableEntity, "staff_upload.html", v)
		return
	}
	err = s.inStaffTx(c, func(tx *sqlx.Tx) error {
		before, err := billing.ConfirmUpload(ctx, tx, sess.TenantID, v.ID, v.Choice == publishNow, at)
		if err != nil {
			return err
		}
		if _, err := s.jobs.InsertTx(ctx, tx.Tx, ImportRunArgs{TenantID: sess.TenantID, UploadID: v.ID},
			&river.InsertOpts{MaxAttempts: importJobAttempts}); err != nil {
			return fmt.Errorf("queue import: %w", err)
		}
		after := struct {
			Status      billing.UploadStatus `json:"status"`
			Publication string               `json:"publication"`
			PublishAt   *time.Time           `json:"publish_at,omitempty"`
		}{billing.UploadImporting, v.Choice, at}
		return audit.Record(ctx, tx, sess.TenantID, actor(c), audit.Entry{Action: "import.confirm", TargetType: "import_upload",
			TargetID: itoa(v.ID), Before: map[string]billing.UploadStatus{"status": before.Status}, After: after})
	})
	switch {
	case errors.Is(err, billing.ErrUploadState):
		s.setFlash(c, flash{Msg: "Ce fichier n'est pas (ou plus) à confirmer : voici où il en est."})
	case err != nil:
		s.renderError(c, missingAs404(err))
		return
	default:
		s.setFlash(c, flash{Msg: "Import lancé. Vous pouvez quitter cette page, rien ne sera perdu."})
	}
	c.Redirect(http.StatusSeeOther, "/gestion/import/"+itoa(v.ID))
}

// parsePublishAt reads the date and time of a scheduled publication, in
// Paris, as a datetime-local field sends it (or typed in French where the
// browser shows a plain text field); it must be in the future and within a
// year. It returns a French message when it is not.
func parsePublishAt(raw string, now time.Time) (time.Time, string) {
	if raw == "" {
		return time.Time{}, "Indiquez la date et l'heure de publication."
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "02/01/2006 15:04", "02/01/2006 15h04"} {
		t, err := time.ParseInLocation(layout, raw, tenant.Paris)
		if err != nil {
			continue
		}
		switch {
		case !t.After(now):
			return time.Time{}, "La date de publication doit être dans le futur."
		case t.After(now.AddDate(1, 0, 0)):
			return time.Time{}, "La date de publication doit être dans l'année qui vient."
		}
		return t, ""
	}
	return time.Time{}, "Date et heure non reconnues : écrivez-les sous la forme jj/mm/aaaa hh:mm."
}

// batchView is the data of a batch's page.
type batchView struct {
	Page
	Batch       billing.Batch
	StatusLabel string
	StatusClass string
	CreatedAt   string
	PublishedAt string
	PublishAt   string
	CancelledAt string
	Counts      []batchCountRow
	Invoices    []staffInvoiceRow
	Nav         pageNav
	CanPublish  bool
	CanCancel   bool
	Reason      string
	ReasonError string
	Error       string
}

type batchCountRow struct {
	Label    string
	Invoices int
	Total    string
}

var batchCountLabels = map[billing.InvoiceStatus]string{
	billing.Draft: "Non publiées", billing.Published: "Publiées, non payées", billing.Paid: "Payées", billing.Cancelled: "Annulées",
}

// batchData reads a batch of the staff member's commune, its counts by
// status and a page of its invoices: three queries.
func (s *Server) batchData(c *gin.Context) (batchView, error) {
	ctx := c.Request.Context()
	sess, _ := staffFrom(c)
	id, ok := pathID(c, "id")
	if !ok {
		return batchView{}, errNotFound
	}
	page := queryPage(c)
	var b billing.Batch
	var counts []billing.BatchCount
	var invoices []billing.BatchInvoice
	err := s.inStaffTx(c, func(tx *sqlx.Tx) error {
		var err error
		if b, err = billing.BatchByID(ctx, tx, sess.TenantID, id); err != nil {
			return err
		}
		if counts, err = billing.BatchCounts(ctx, tx, sess.TenantID, id); err != nil {
			return err
		}
		invoices, err = billing.BatchInvoices(ctx, tx, sess.TenantID, id, staffListSize, (page-1)*staffListSize)
		return err
	})
	if err != nil {
		return batchView{}, missingAs404(err)
	}
	can := staffRole(sess).Can(staff.PermImport)
	v := batchView{Page: s.staffPage(c, fmt.Sprintf("Lot n° %d", b.ID), "import"), Batch: b, StatusLabel: b.Status.Label(),
		StatusClass: batchClass(b.Status), CreatedAt: parisTime(b.CreatedAt),
		CanPublish: can && b.Status == billing.BatchImported, CanCancel: can && b.Status == billing.BatchPublished}
	if b.PublishedAt != nil {
		v.PublishedAt = parisTime(*b.PublishedAt)
	}
	if b.PublishAt != nil && b.Status == billing.BatchImported {
		v.PublishAt = parisTime(*b.PublishAt)
	}
	if b.CancelledAt != nil {
		v.CancelledAt = parisTime(*b.CancelledAt)
	}
	total := 0
	for _, n := range counts {
		total += n.Invoices
		v.Counts = append(v.Counts, batchCountRow{Label: batchCountLabels[n.Status], Invoices: n.Invoices, Total: billing.FormatEuros(n.TotalCents)})
	}
	today := billing.Today(s.now())
	for _, i := range invoices {
		r := staffInvoiceRow{ID: i.ID, FamilyID: i.FamilyID, Reference: i.Ref(), FamilyRef: i.FamilyRef, FamilyName: i.FamilyName,
			SeriesCode: i.SeriesCode, Period: billing.PeriodLabel(i.Period), Amount: billing.FormatEuros(i.TotalCents),
			DueDate: i.DueDate.Format("02/01/2006")}
		r.Status, r.StatusClass = staffInvoiceStatus(i.Invoice, today)
		if r.Reference == "" {
			r.Reference = "(numérotée à la publication)"
		}
		v.Invoices = append(v.Invoices, r)
	}
	v.Nav = newPageNav(c, page, total, len(invoices))
	return v, nil
}

// batchPage shows a batch: its status, counts and invoices, and the
// buttons to publish it now or cancel it whole.
func (s *Server) batchPage(c *gin.Context) {
	v, err := s.batchData(c)
	if err != nil {
		s.renderError(c, err)
		return
	}
	s.render(c, http.StatusOK, "staff_batch.html", v)
}

// publishBatch publishes an imported batch now (its families are mailed).
func (s *Server) publishBatch(c *gin.Context) {
	ctx := c.Request.Context()
	sess, _ := staffFrom(c)
	id, ok := pathID(c, "id")
	if !ok {
		s.renderError(c, errNotFound)
		return
	}
	var n int
	err := s.inStaffTx(c, func(tx *sqlx.Tx) error {
		before, err := billing.BatchByID(ctx, tx, sess.TenantID, id)
		if err != nil {
			return err
		}
		if n, err = billing.Publish(ctx, tx, s.jobs, sess.TenantID, id, s.now()); err != nil {
			return err
		}
		return audit.Record(ctx, tx, sess.TenantID, actor(c), audit.Entry{Action: "batch.publish", TargetType: "import_batch",
			TargetID: itoa(id), Before: batchAudit{Status: before.Status, PublishAt: before.PublishAt},
			After: batchAudit{Status: billing.BatchPublished, Invoices: n}})
	})
	var ve *billing.ValidationError
	switch {
	case errors.Is(err, billing.ErrBatchState):
		s.setFlash(c, flash{Msg: "Ce lot est déjà publié ou annulé."})
	case errors.As(err, &ve):
		v, derr := s.batchData(c)
		if derr != nil {
			s.renderError(c, derr)
			return
		}
		v.Error = "Publication refusée : " + ve.Message + "."
		s.render(c, http.StatusUnprocessableEntity, "staff_batch.html", v)
		return
	case err != nil:
		s.renderError(c, missingAs404(err))
		return
	default:
		s.setFlash(c, flash{Msg: fmt.Sprintf("Lot publié : %d facture(s). Les familles sont prévenues par courriel.", n)})
	}
	c.Redirect(http.StatusSeeOther, "/gestion/lots/"+itoa(id))
}

// batchAudit is a batch's state in the audit log.
type batchAudit struct {
	Status    billing.BatchStatus `json:"status"`
	PublishAt *time.Time          `json:"publish_at,omitempty"`
	Invoices  int                 `json:"invoices,omitempty"`
	Cancelled int                 `json:"cancelled,omitempty"`
	Paid      int                 `json:"paid_kept,omitempty"`
	Reason    string              `json:"reason,omitempty"`
}

// cancelBatch cancels, with a reason, every unpaid invoice of a published
// batch; paid ones stay paid. Unpublished batches are not offered: their
// drafts numbered at publication cannot be cancelled (billing.CancelBatch
// breaks the invoices' "reference unless draft" check on them), and a
// corrected file imported again replaces them.
func (s *Server) cancelBatch(c *gin.Context) {
	ctx := c.Request.Context()
	sess, _ := staffFrom(c)
	id, ok := pathID(c, "id")
	if !ok {
		s.renderError(c, errNotFound)
		return
	}
	reason := strings.TrimSpace(c.PostForm("motif"))
	var cancelled, paid int
	err := s.inStaffTx(c, func(tx *sqlx.Tx) error {
		before, err := billing.BatchByID(ctx, tx, sess.TenantID, id)
		if err != nil {
			return err
		}
		if cancelled, paid, err = billing.CancelBatch(ctx, tx, sess.TenantID, id, reason, s.now()); err != nil {
			return err
		}
		return audit.Record(ctx, tx, sess.TenantID, actor(c), audit.Entry{Action: "batch.cancel", TargetType: "import_batch",
			TargetID: itoa(id), Before: batchAudit{Status: before.Status, PublishAt: before.PublishAt},
			After: batchAudit{Status: billing.BatchCancelled, Cancelled: cancelled, Paid: paid, Reason: reason}})
	})
	var ve *billing.ValidationError
	switch {
	case errors.Is(err, billing.ErrBatchState):
		s.setFlash(c, flash{Msg: "Ce lot est déjà annulé."})
	case errors.As(err, &ve):
		v, derr := s.batchData(c)
		if derr != nil {
			s.renderError(c, derr)
			return
		}
		v.Reason, v.ReasonError = reason, frenchSentence(ve.Message)
		s.render(c, http.StatusUnprocessableEntity, "staff_batch.html", v)
		return
	case err != nil:
		s.renderError(c, missingAs404(err))
		return
	default:
		msg := fmt.Sprintf("Lot annulé : %d facture(s) annulée(s).", cancelled)
		if paid > 0 {
			msg += fmt.Sprintf(" %d facture(s) déjà payée(s) restent payées.", paid)
		}
		s.setFlash(c, flash{Msg: msg})
	}
	c.Redirect(http.StatusSeeOther, "/gestion/lots/"+itoa(id))
}

// formFile returns the first file of a multipart field, or nil when the
// field is absent or the browser sent no file.
func formFile(f *multipart.Form, name string) *multipart.FileHeader {
	if f == nil || len(f.File[name]) == 0 {
		return nil
	}
	fh := f.File[name][0]
	if fh.Filename == "" && fh.Size == 0 {
		return nil
	}
	return fh
}

// readableZIP reports whether an uploaded file opens as a ZIP archive.
func readableZIP(fh *multipart.FileHeader) bool {
	f, err := fh.Open()
	if err != nil {
		return false
	}
	defer f.Close()
	_, err = zip.NewReader(f, fh.Size)
	return err == nil
}

// uploadName is the name of an uploaded file as shown on the pages (never
// used in a storage key): its base name, at most 200 characters.
func uploadName(raw string) string {
	name := strings.TrimSpace(path.Base(strings.ReplaceAll(raw, `\`, "/")))
	if name == "" || name == "." || name == "/" {
		return "fichier.csv"
	}
	if r := []rune(name); len(r) > 200 {
		name = string(r[:200])
	}
	return name
}

// importSize writes a size limit in megabytes: "50 Mo".
func importSize(n int64) string {
	if n >= 1<<20 {
		return strconv.FormatInt((n+(1<<20)-1)>>20, 10) + " Mo"
	}
	return strconv.FormatInt((n+1023)>>10, 10) + " Ko"
}

// importListPage is the page number of a list of the import page.
func importListPage(c *gin.Context, param string) int {
	p, err := strconv.Atoi(c.Query(param))
	if err != nil || p < 1 || p > 100_000 {
		return 1
	}
	return p
}

// importListLinks links the previous and next pages of a list of the import
// page, keeping the other list's page.
func importListLinks(c *gin.Context, param string, page int, more bool) (prev, next string) {
	link := func(p int) string {
		q := c.Request.URL.Query()
		q.Del(param)
		if p > 1 {
			q.Set(param, strconv.Itoa(p))
		}
		if e := q.Encode(); e != "" {
			return "/gestion/import?" + e
		}
		return "/gestion/import"
	}
	if page > 1 {
		prev = link(page - 1)
	}
	if more {
		next = link(page + 1)
	}
	return prev, next
}

// uploadClass is the badge class of an upload's status.
func uploadClass(s billing.UploadStatus) string {
	switch s {
	case billing.UploadChecked:
		return "due"
	case billing.UploadInvalid, billing.UploadFailed:
		return "late"
	case billing.UploadImported:
		return "paid"
	}
	return "pending"
}

// batchClass is the badge class of a batch's status.
func batchClass(s billing.BatchStatus) string {
	switch s {
	case billing.BatchPublished:
		return "paid"
	case billing.BatchCancelled:
		return "cancelled"
	}
	return "due"
}
