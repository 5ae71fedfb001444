package billing

import (
	"errors"
	"time"

	"github.com/regie/regie/tenant"
)

// InvoiceStatus is where an invoice stands in billing.
type InvoiceStatus string

// The statuses of an invoice. Families never see drafts.
const (
	Draft     InvoiceStatus = "draft"
	Published InvoiceStatus = "published"
	Paid      InvoiceStatus = "paid"
	Cancelled InvoiceStatus = "cancelled"
)

// Errors about invoices.
var (
	ErrAlreadyPaid      = errors.New("billing: invoice already paid")
	ErrAlreadyCancelled = errors.New("billing: invoice already cancelled")
	ErrNotPublished     = errors.New("billing: batch or invoice not in the expected state")
)

// Invoice is a bill to one family for one period of one series.
type Invoice struct {
	TenantID     tenant.ID     `db:"tenant_id"`
	ID           int64         `db:"id"`
	FamilyID     int64         `db:"family_id"`
	SeriesID     int64         `db:"series_id"`
	BatchID      int64         `db:"batch_id"`
	Period       time.Time     `db:"period"`
	Number       *int64        `db:"number"`
	Reference    *string       `db:"reference"`
	Refdet       *string       `db:"refdet"`
	OwnReference bool          `db:"own_reference"`
	IssueDate    *time.Time    `db:"issue_date"`
	DueDate      time.Time     `db:"due_date"`
	TotalCents   int64         `db:"total_cents"`
	Status       InvoiceStatus `db:"status"`
	ContentHash  string        `db:"content_hash"`
	PDFKey       string        `db:"pdf_key"`
	PaidAt       *time.Time    `db:"paid_at"`
	PaidTest     bool          `db:"paid_test"`
	CancelReason string        `db:"cancel_reason"`
	CancelledAt  *time.Time    `db:"cancelled_at"`
	PublishedAt  *time.Time    `db:"published_at"`
	CreatedAt    time.Time     `db:"created_at"`
	UpdatedAt    time.Time     `db:"updated_at"`
}

// Exer is the DGFiP "exercice" of the invoice: the year of its period.
func (i Invoice) Exer() int { return i.Period.Year() }

// Ref returns the reference, or "" for a draft still unnumbered.
func (i Invoice) Ref() string {
	if i.Reference == nil {
		return ""
	}
	return *i.Reference
}

// RefdetOrEmpty returns the DGFiP refdet, or "".
func (i Invoice) RefdetOrEmpty() string {
	if i.Refdet == nil {
		return ""
	}
	return *i.Refdet
}

// Overdue reports whether a published, unpaid invoice is past its due date
// on day today (Paris).
func (i Invoice) Overdue(today time.Time) bool {
	return i.Status == Published && today.After(i.DueDate)
}

// Line is one line of an invoice.
type Line struct {
	Position       int    `db:"position"`
	Label          string `db:"label"`
	QuantityMilli  int64  `db:"quantity_milli"`
	UnitPriceCents int64  `db:"unit_price_cents"`
	TotalCents     int64  `db:"total_cents"`
}

// Today returns the date in Paris at instant now, as a UTC midnight (the
// form dates are stored in).
func Today(now time.Time) time.Time {
	y, m, d := now.In(tenant.Paris).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// frenchMonths are the month names of invoice periods.
var frenchMonths = [...]string{"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"}

// PeriodLabel names a period the way a family says it: "octobre 2026".
func PeriodLabel(p time.Time) string {
	return frenchMonths[p.Month()-1] + " " + p.Format("2006")
}
