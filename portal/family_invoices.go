package portal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html"
	"html/template"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/billing/docstore"
	"github.com/regie/regie/billing/pdf"
	"github.com/regie/regie/payments"
	"github.com/regie/regie/tenant"
)

// invoiceRow is an invoice as "Mes factures" and its detail show it.
type invoiceRow struct {
	ID          int64
	Reference   string
	Family      string
	Series      string
	Period      string
	Amount      string
	IssueDate   string
	DueDate     string
	Status      billing.FamilyStatus
	StatusClass string
	Cancelled   string // the reason, when cancelled
	Payable     bool   // published and unpaid: show "Payer en ligne"
	PaidOnline  bool   // a receipt exists
}

func (s *Server) invoiceRow(i billing.AccountInvoice, today time.Time) invoiceRow {
	st := billing.StatusFor(i.Invoice, today, i.Paying)
	r := invoiceRow{
		ID: i.ID, Reference: i.Ref(), Family: i.FamilyName, Series: i.SeriesLabel,
		Period: billing.PeriodLabel(i.Period), Amount: billing.FormatEuros(i.TotalCents),
		DueDate: i.DueDate.Format("02/01/2006"), Status: st, StatusClass: statusClass[st],
		Payable: i.Status == billing.Published,
	}
	if i.IssueDate != nil {
		r.IssueDate = i.IssueDate.Format("02/01/2006")
	}
	if st == billing.StatusCancelled {
		r.Cancelled = i.CancelReason
	}
	return r
}

var statusClass = map[billing.FamilyStatus]string{
	billing.StatusDue: "due", billing.StatusLate: "late", billing.StatusPending: "pending",
	billing.StatusPaid: "paid", billing.StatusPaidTest: "paid", billing.StatusCancelled: "cancelled",
}

// invoicesView is the data of "Mes factures".
type invoicesView struct {
	Page
	Invoices     []invoiceRow
	ManyFamilies bool
	Families     []billing.Family
}

// Rows writes the rows of "Mes factures", with a Famille cell when the
// list mixes families. They are written here rather than in the page's
// template: a family's list holds up to a year of invoices, and
// html/template, calling its escapers through reflection for each of a
// row's eight fields, took a third of the page's server CPU at the maximum
// load (BENCHMARKS.md). html.EscapeString escapes what text and quoted
// attribute values both need; the status class comes from statusClass.
func (v invoicesView) Rows() template.HTML {
	var b strings.Builder
	b.Grow(400 * len(v.Invoices))
	for _, r := range v.Invoices {
		b.WriteString("\n    <tr>\n      <td data-label=\"Période\">")
		b.WriteString(html.EscapeString(r.Period))
		b.WriteString(`<br><span class="help">`)
		b.WriteString(html.EscapeString(r.Series))
		b.WriteString("</span></td>\n      <td data-label=\"Référence\"><a href=\"/factures/")
		b.WriteString(strconv.FormatInt(r.ID, 10))
		b.WriteString(`">`)
		b.WriteString(html.EscapeString(r.Reference))
		b.WriteString("</a></td>")
		if v.ManyFamilies {
			b.WriteString(`<td data-label="Famille">`)
			b.WriteString(html.EscapeString(r.Family))
			b.WriteString("</td>")
		}
		b.WriteString("\n      <td data-label=\"Montant\" class=\"num\">")
		b.WriteString(html.EscapeString(r.Amount))
		b.WriteString("</td>\n      <td data-label=\"Échéance\">")
		b.WriteString(html.EscapeString(r.DueDate))
		b.WriteString("</td>\n      <td data-label=\"État\"><span class=\"status ")
		b.WriteString(html.EscapeString(r.StatusClass))
		b.WriteString(`">`)
		b.WriteString(html.EscapeString(string(r.Status)))
		b.WriteString("</span></td>\n    </tr>")
	}
	return template.HTML(b.String())
}

// invoicesPage lists the invoices of every family that lists the account's
// address, newest first, in one query and one round trip (tenant.Read).
func (s *Server) invoicesPage(c *gin.Context) {
	ctx := c.Request.Context()
	sess, _ := familyFrom(c)
	v := invoicesView{Page: s.page(c, "Mes factures")}
	var list []billing.AccountInvoice
	err := tenant.Read(ctx, s.db, sess.TenantID, func(q sqlx.QueryerContext) error {
		var err error
		list, err = billing.AccountInvoices(ctx, q, sess.TenantID, sess.Email, payments.PayingSince(s.now()))
		return err
	})
	if err == nil && len(list) == 0 {
		err = tenant.WithTx(ctx, s.db, sess.TenantID, func(tx *sqlx.Tx) error {
			var err error
			v.Families, err = billing.FamiliesByEmail(ctx, tx, sess.TenantID, sess.Email)
			return err
		})
	}
	if err != nil {
		s.renderError(c, err)
		return
	}
	today := billing.Today(s.now())
	families := map[int64]bool{}
	v.Invoices = make([]invoiceRow, 0, len(list))
	for _, i := range list {
		v.Invoices = append(v.Invoices, s.invoiceRow(i, today))
		families[i.FamilyID] = true
	}
	v.ManyFamilies = len(families) > 1
	s.render(c, http.StatusOK, "invoices.html", v)
}

// invoiceView is the data of one invoice's page.
type invoiceView struct {
	Page
	Invoice invoiceRow
	Lines   []lineRow
}

type lineRow struct {
	Label, Quantity, UnitPrice, Total string
}

// invoiceOfAccount reads with q the invoice of the URL, when a family of the
// account owns it. Any other id, of this commune or another, is a 404.
func (s *Server) invoiceOfAccount(c *gin.Context, q sqlx.QueryerContext) (billing.AccountInvoice, error) {
	sess, _ := familyFrom(c)
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return billing.AccountInvoice{}, errNotFound
	}
	inv, err := billing.AccountInvoiceByID(c.Request.Context(), q, sess.TenantID, sess.Email, id, payments.PayingSince(s.now()))
	if errors.Is(err, billing.ErrNotFound) {
		return inv, errNotFound
	}
	return inv, err
}

// accountInvoice runs fn in a transaction with the invoice of the URL
// (invoiceOfAccount).
func (s *Server) accountInvoice(c *gin.Context, fn func(tx *sqlx.Tx, inv billing.AccountInvoice) error) error {
	sess, _ := familyFrom(c)
	return tenant.WithTx(c.Request.Context(), s.db, sess.TenantID, func(tx *sqlx.Tx) error {
		inv, err := s.invoiceOfAccount(c, tx)
		if err != nil {
			return err
		}
		return fn(tx, inv)
	})
}

// invoicePage shows one invoice with its lines, each read in one round trip
// (tenant.Read).
func (s *Server) invoicePage(c *gin.Context) {
	ctx := c.Request.Context()
	sess, _ := familyFrom(c)
	var (
		inv        billing.AccountInvoice
		lines      []billing.Line
		paidOnline bool
	)
	err := tenant.Read(ctx, s.db, sess.TenantID, func(q sqlx.QueryerContext) error {
		var err error
		if inv, err = s.invoiceOfAccount(c, q); err != nil {
			return err
		}
		if lines, err = billing.InvoiceLines(ctx, q, inv.TenantID, inv.ID); err != nil {
			return err
		}
		paidOnline = false
		if inv.Status == billing.Paid {
			_, _, paidOnline, err = onlinePayment(ctx, q, inv.TenantID, inv.ID)
		}
		return err
	})
	if err != nil {
		s.renderError(c, err)
		return
	}
	v := invoiceView{Page: s.page(c, "Facture "+inv.Ref()), Invoice: s.invoiceRow(inv, billing.Today(s.now()))}
	v.Invoice.PaidOnline = paidOnline
	for _, l := range lines {
		v.Lines = append(v.Lines, lineRow{l.Label, billing.FormatQuantity(l.QuantityMilli), billing.FormatEuros(l.UnitPriceCents), billing.FormatEuros(l.TotalCents)})
	}
	s.render(c, http.StatusOK, "invoice.html", v)
}

// invoicePDF serves the invoice's PDF. PDFs are rendered when first asked
// for (serveNewInvoicePDF), then stored: rendering costs about 2 ms of CPU
// (see billing/pdf's benchmark), too much to do for a whole batch at
// publication. The reads take one round trip each (tenant.Read).
func (s *Server) invoicePDF(c *gin.Context) {
	ctx := c.Request.Context()
	t, _ := tenant.FromContext(ctx)
	sess, _ := familyFrom(c)
	var (
		inv billing.AccountInvoice
		doc pdf.Invoice
	)
	err := tenant.Read(ctx, s.db, sess.TenantID, func(q sqlx.QueryerContext) error {
		var err error
		if inv, err = s.invoiceOfAccount(c, q); err != nil || inv.PDFKey != "" {
			return err
		}
		doc, err = invoiceDoc(ctx, q, t, inv.Invoice)
		return err
	})
	switch {
	case err != nil:
		s.renderError(c, err)
	case inv.PDFKey != "":
		s.sendInvoicePDF(c, inv.PDFKey, inv.Ref())
	default:
		s.serveNewInvoicePDF(c, t, inv.Invoice, doc)
	}
}

// sendInvoicePDF streams the stored PDF of an invoice to the browser.
func (s *Server) sendInvoicePDF(c *gin.Context, key, reference string) {
	rc, info, err := s.docs.Get(c.Request.Context(), key)
	if err != nil {
		s.renderError(c, fmt.Errorf("invoice PDF %s: %w", key, err))
		return
	}
	defer rc.Close()
	pdfHeaders(c, "facture-"+reference)
	c.DataFromReader(http.StatusOK, info.Size, "application/pdf", rc, nil)
}

// pdfHeaders names a PDF about to be served and keeps it out of caches.
func pdfHeaders(c *gin.Context, name string) {
	c.Header("Content-Disposition", fmt.Sprintf(`inline; filename="%s.pdf"`, name))
	c.Header("Cache-Control", "private, no-store")
}

// invoiceDoc reads what an invoice's PDF shows but its issuer, which
// serveNewInvoicePDF adds outside any transaction (the logo is a document
// to fetch).
func invoiceDoc(ctx context.Context, q sqlx.QueryerContext, t tenant.Tenant, inv billing.Invoice) (pdf.Invoice, error) {
	p, err := billing.InvoiceParties(ctx, q, t.ID, inv)
	if err != nil {
		return pdf.Invoice{}, err
	}
	lines, err := billing.InvoiceLines(ctx, q, t.ID, inv.ID)
	if err != nil {
		return pdf.Invoice{}, err
	}
	doc := pdf.Invoice{
		Family:      pdfFamily(p.Family),
		Reference:   inv.Ref(),
		SeriesLabel: p.Series.Label,
		Period:      inv.Period,
		DueDate:     inv.DueDate,
		Lines:       lines,
		TotalCents:  inv.TotalCents,
		Numcli:      p.Series.NumcliOr(t.Numcli),
	}
	if inv.IssueDate != nil {
		doc.IssueDate = *inv.IssueDate
	}
	return doc, nil
}

// pdfFamily is the addressee block of a family's documents.
func pdfFamily(f billing.Family) pdf.Family {
	return pdf.Family{Ref: f.Ref, Name: f.Name, Address: f.Address, PostalCode: f.PostalCode, City: f.City}
}

// serveNewInvoicePDF renders the PDF of an invoice that has none yet
// (doc, from invoiceDoc), stores and records it, then serves it from
// memory. Rendering is deterministic, so two first requests at once store
// the same bytes; a PDF rendered without the commune's logo, which could
// not be read, is served but not stored, so that the next request renders
// it with the logo. No transaction is open while the PDF is stored.
func (s *Server) serveNewInvoicePDF(c *gin.Context, t tenant.Tenant, inv billing.Invoice, doc pdf.Invoice) {
	ctx := c.Request.Context()
	var whole bool
	doc.Commune, whole = s.pdfCommune(ctx, t)
	doc.PortalURL = s.communeURL(t, "")
	var buf bytes.Buffer
	if err := pdf.Render(&buf, doc); err != nil {
		s.renderError(c, fmt.Errorf("invoice %d: render PDF: %w", inv.ID, err))
		return
	}
	if whole {
		key := docstore.InvoiceKey(t.ID, inv.ID)
		if err := s.docs.Put(ctx, key, bytes.NewReader(buf.Bytes()), int64(buf.Len()), "application/pdf"); err != nil {
			s.renderError(c, err)
			return
		}
		err := tenant.WithTx(ctx, s.db, t.ID, func(tx *sqlx.Tx) error {
			return billing.SetPDFKey(ctx, tx, t.ID, inv.ID, key)
		})
		if err != nil {
			s.renderError(c, err)
			return
		}
	}
	pdfHeaders(c, "facture-"+inv.Ref())
	c.DataFromReader(http.StatusOK, int64(buf.Len()), "application/pdf", &buf, nil)
}

// pdfCommune is the issuer block of a commune's documents, logo included
// when it has one. whole is false when the commune has a logo that could
// not be read: the block then lacks it.
func (s *Server) pdfCommune(ctx context.Context, t tenant.Tenant) (c pdf.Commune, whole bool) {
	c = pdf.Commune{Name: t.Name, Address: t.PostalAddress, Email: t.ContactEmail, Phone: t.ContactPhone}
	if t.LogoKey == "" {
		return c, true
	}
	rc, info, err := s.docs.Get(ctx, t.LogoKey)
	if err != nil {
		logger(ctx).Warn("logo unavailable for a PDF", "key", t.LogoKey, "err", err)
		return c, false
	}
	defer rc.Close()
	logo, err := io.ReadAll(io.LimitReader(rc, 2<<20))
	if err != nil {
		logger(ctx).Warn("logo unreadable for a PDF", "key", t.LogoKey, "err", err)
		return c, false
	}
	c.Logo, c.LogoType = logo, map[string]string{"image/png": "PNG", "image/jpeg": "JPG"}[info.ContentType]
	return c, true
}
