package billing

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/tenant"
)

// UploadStatus is where an uploaded import file stands. Jobs move it:
// checking → checked | invalid, then on confirmation importing → imported
// | failed.
type UploadStatus string

// The statuses of an upload.
const (
	UploadChecking  UploadStatus = "checking"
	UploadChecked   UploadStatus = "checked"
	UploadInvalid   UploadStatus = "invalid"
	UploadImporting UploadStatus = "importing"
	UploadImported  UploadStatus = "imported"
	UploadFailed    UploadStatus = "failed"
)

// Running reports whether a job is working on the upload.
func (s UploadStatus) Running() bool { return s == UploadChecking || s == UploadImporting }

// Label is the status in the words of the back office.
func (s UploadStatus) Label() string {
	switch s {
	case UploadChecking:
		return "Vérification en cours"
	case UploadChecked:
		return "Vérifié, à confirmer"
	case UploadInvalid:
		return "Erreurs à corriger"
	case UploadImporting:
		return "Import en cours"
	case UploadImported:
		return "Importé"
	case UploadFailed:
		return "Échec de l'import"
	}
	return string(s)
}

// UploadReport is what the jobs of an upload found, kept as JSON with the
// upload so that leaving the page loses nothing.
type UploadReport struct {
	// Check is the preview: the file imported in a transaction that was
	// rolled back (its BatchID is 0).
	Check *ImportResult `json:"check,omitempty"`
	// Import is the outcome of the real import.
	Import *ImportResult `json:"import,omitempty"`
	// Published is how many invoices were published with the import.
	Published int `json:"published,omitempty"`
	// PDFs is how many PDFs of the ZIP now stand for their invoices.
	PDFs int `json:"pdfs,omitempty"`
	// ZIPProblems are the reasons the whole ZIP was refused.
	ZIPProblems []string `json:"zip_problems,omitempty"`
}

// Scan implements sql.Scanner (a NULL is an empty report).
func (r *UploadReport) Scan(src any) error {
	*r = UploadReport{}
	switch v := src.(type) {
	case nil:
		return nil
	case []byte:
		return json.Unmarshal(v, r)
	case string:
		return json.Unmarshal([]byte(v), r)
	}
	return fmt.Errorf("billing: upload report from %T", src)
}

// Value implements driver.Valuer.
func (r UploadReport) Value() (driver.Value, error) {
	b, err := json.Marshal(r)
	return string(b), err
}

// Upload is an import file sent through the back office, with its
// optional ZIP of PDFs, and where its jobs stand.
type Upload struct {
	TenantID   tenant.ID    `db:"tenant_id"`
	ID         int64        `db:"id"`
	StaffID    *int64       `db:"staff_id"`
	Filename   string       `db:"filename"`
	FileKey    string       `db:"file_key"`
	ZIPKey     string       `db:"zip_key"`
	SizeBytes  int64        `db:"size_bytes"`
	Status     UploadStatus `db:"status"`
	Progress   int64        `db:"progress"` // bytes of the CSV read by the running job
	Report     UploadReport `db:"result"`
	Error      string       `db:"error"` // a technical failure, in French
	BatchID    *int64       `db:"batch_id"`
	PublishAt  *time.Time   `db:"publish_at"`
	PublishNow bool         `db:"publish_now"`
	CreatedAt  time.Time    `db:"created_at"`
	UpdatedAt  time.Time    `db:"updated_at"`
}

// Percent is the share of the file read, 0 to 100.
func (u Upload) Percent() int64 {
	if u.SizeBytes <= 0 {
		return 0
	}
	return min(100, u.Progress*100/u.SizeBytes)
}

const uploadColumns = `tenant_id, id, staff_id, filename, file_key, zip_key, size_bytes, status, progress, result,
	error, batch_id, publish_at, publish_now, created_at, updated_at`

// CreateUpload records a new upload in status checking; the caller then
// stores its files under keys built from the returned id and records them
// with SetUploadKeys, in the same transaction.
func CreateUpload(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, staffID int64, filename string, size int64) (Upload, error) {
	const ins = `INSERT INTO import_uploads (tenant_id, staff_id, filename, file_key, size_bytes)
		VALUES ($1, $2, $3, '', $4) RETURNING ` + uploadColumns
	var u Upload
	err := sqlx.GetContext(ctx, q, &u, ins, tid, staffID, filename, size)
	return u, mapErr(err)
}

// SetUploadKeys records where an upload's files are stored.
func SetUploadKeys(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, id int64, fileKey, zipKey string) error {
	const upd = `UPDATE import_uploads SET file_key = $3, zip_key = $4, updated_at = now() WHERE tenant_id = $1 AND id = $2`
	_, err := q.ExecContext(ctx, upd, tid, id, fileKey, zipKey)
	return err
}

// UploadByID returns an upload of the commune, or ErrNotFound.
func UploadByID(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, id int64) (Upload, error) {
	const sel = `SELECT ` + uploadColumns + ` FROM import_uploads WHERE tenant_id = $1 AND id = $2`
	var u Upload
	err := sqlx.GetContext(ctx, q, &u, sel, tid, id)
	return u, mapErr(err)
}

// UploadSummary is an upload as the list of recent ones shows it: the
// counts are read from its report, not the whole report.
type UploadSummary struct {
	ID         int64        `db:"id"`
	Filename   string       `db:"filename"`
	HasZIP     bool         `db:"has_zip"`
	Status     UploadStatus `db:"status"`
	Rows       int          `db:"rows"`
	Invoices   int          `db:"invoices"`
	TotalCents int64        `db:"total_cents"`
	Errors     int          `db:"errors"`
	BatchID    *int64       `db:"batch_id"`
	CreatedAt  time.Time    `db:"created_at"`
}

// ListUploads returns the commune's uploads, newest first, limit at a time
// from offset.
func ListUploads(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, limit, offset int) ([]UploadSummary, error) {
	const sel = `SELECT u.id, u.filename, u.zip_key <> '' AS has_zip, u.status, u.batch_id, u.created_at,
			coalesce((r.r->>'Rows')::int, 0) AS rows,
			coalesce((r.r->>'NewInvoices')::int + (r.r->>'ReplacedInvoices')::int, 0) AS invoices,
			coalesce((r.r->>'TotalCents')::bigint, 0) AS total_cents,
			CASE jsonb_typeof(r.r->'Errors') WHEN 'array' THEN jsonb_array_length(r.r->'Errors') ELSE 0 END AS errors
		FROM import_uploads u, LATERAL (SELECT coalesce(u.result->'import', u.result->'check') AS r) r
		WHERE u.tenant_id = $1 ORDER BY u.id DESC LIMIT $2 OFFSET $3`
	var out []UploadSummary
	err := sqlx.SelectContext(ctx, q, &out, sel, tid, limit, offset)
	return out, err
}

// SetUploadProgress records how much of the file the running job has read.
// It runs in a transaction of its own, next to the job's.
func SetUploadProgress(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, id, read int64) error {
	const upd = `UPDATE import_uploads SET progress = $3, updated_at = now() WHERE tenant_id = $1 AND id = $2`
	_, err := q.ExecContext(ctx, upd, tid, id, read)
	return err
}

// ErrUploadState means the upload is not in the status the change needs
// (already confirmed, still being checked…).
var ErrUploadState = errors.New("billing: upload not in the expected state")

// FinishUpload moves an upload out of a running status: from to status,
// with its report, the batch it made and a technical error if any. It
// returns ErrUploadState when the upload is no longer in status from (a
// second run of the same job).
func FinishUpload(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, id int64, from, status UploadStatus, rep UploadReport, batchID int64, errMsg string) error {
	const upd = `UPDATE import_uploads SET status = $4, result = $5, batch_id = nullif($6::bigint, 0), error = $7,
			progress = size_bytes, updated_at = now()
		WHERE tenant_id = $1 AND id = $2 AND status = $3`
	res, err := q.ExecContext(ctx, upd, tid, id, from, status, rep, batchID, errMsg)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return ErrUploadState
	}
	return nil
}

// ConfirmUpload moves a checked upload to importing with the publication
// chosen: now, at publishAt, or neither (import only). It returns the
// upload before the change, or ErrUploadState when it is not checked.
func ConfirmUpload(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, id int64, publishNow bool, publishAt *time.Time) (Upload, error) {
	const sel = `SELECT ` + uploadColumns + ` FROM import_uploads WHERE tenant_id = $1 AND id = $2 FOR UPDATE`
	var u Upload
	if err := sqlx.GetContext(ctx, q, &u, sel, tid, id); err != nil {
		return u, mapErr(err)
	}
	if u.Status != UploadChecked {
		return u, ErrUploadState
	}
	const upd = `UPDATE import_uploads SET status = 'importing', progress = 0, publish_now = $3, publish_at = $4,
		updated_at = now() WHERE tenant_id = $1 AND id = $2`
	_, err := q.ExecContext(ctx, upd, tid, id, publishNow, publishAt)
	return u, err
}
