package portal

import (
	"bytes"
	"context"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/billing/pdf"
	"github.com/regie/regie/payments"
	"github.com/regie/regie/tenant"
)

// onlinePayment returns the online payment that settled an invoice, with
// its attempt, if there is one.
func onlinePayment(ctx context.Context, q sqlx.QueryerContext, tid tenant.ID, invoiceID int64) (payments.Payment, payments.Attempt, bool, error) {
	ps, err := payments.InvoicePayments(ctx, q, tid, invoiceID)
	if err != nil {
		return payments.Payment{}, payments.Attempt{}, false, err
	}
	for _, p := range ps {
		if p.Channel == "online" && p.Applied && p.AttemptID != nil {
			a, err := payments.AttemptByID(ctx, q, tid, *p.AttemptID)
			return p, a, err == nil, err
		}
	}
	return payments.Payment{}, payments.Attempt{}, false, nil
}

// receiptDoc gathers a receipt's content but its issuer, which receiptPDF
// adds once the transaction is over (the logo is a document to fetch).
func receiptDoc(ctx context.Context, tx *sqlx.Tx, t tenant.Tenant, inv billing.Invoice, p payments.Payment, a payments.Attempt) (pdf.Receipt, error) {
	parties, err := billing.InvoiceParties(ctx, tx, t.ID, inv)
	if err != nil {
		return pdf.Receipt{}, err
	}
	means := "carte bancaire"
	if p.Means == "debit" {
		means = "prélèvement"
	}
	return pdf.Receipt{
		Family:      pdfFamily(parties.Family),
		Reference:   inv.Ref(),
		SeriesLabel: parties.Series.Label,
		Period:      inv.Period,
		AmountCents: p.AmountCents,
		PaidAt:      p.PaidAt,
		Numauto:     a.Numauto,
		Means:       means,
		Numcli:      a.Numcli,
		Test:        p.Test,
	}, nil
}

// receiptPDF serves the "justificatif de paiement" of an invoice paid
// online. It is rendered on each request: it is cheap and never changes.
func (s *Server) receiptPDF(c *gin.Context) {
	ctx := c.Request.Context()
	t, _ := tenant.FromContext(ctx)
	var doc pdf.Receipt
	err := s.accountInvoice(c, func(tx *sqlx.Tx, inv billing.AccountInvoice) error {
		p, a, ok, err := onlinePayment(ctx, tx, t.ID, inv.ID)
		if err != nil {
			return err
		}
		if !ok {
			return errNotFound
		}
		doc, err = receiptDoc(ctx, tx, t, inv.Invoice, p, a)
		return err
	})
	if err != nil {
		s.renderError(c, err)
		return
	}
	doc.Commune, _ = s.pdfCommune(ctx, t) // rendered on each request: without the logo this once
	var buf bytes.Buffer
	if err := pdf.RenderReceipt(&buf, doc); err != nil {
		s.renderError(c, err)
		return
	}
	pdfHeaders(c, "justificatif-"+doc.Reference)
	c.Data(http.StatusOK, "application/pdf", buf.Bytes())
}
