package portal

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/payments"
	"github.com/regie/regie/portal/mail"
	"github.com/regie/regie/tenant"
)

// receiptWorker mails the payer the receipt of an online payment: amount,
// date and time, authorisation number, reference, commune.
type receiptWorker struct {
	river.WorkerDefaults[payments.PaymentSettled]
	d WorkerDeps
}

// Work queues the receipt mail, once per payment (dedup key).
func (w *receiptWorker) Work(ctx context.Context, job *river.Job[payments.PaymentSettled]) error {
	a := job.Args
	t, err := w.d.Tenants.ByID(ctx, a.TenantID)
	if err != nil {
		return err
	}
	jobs := river.ClientFromContext[*sql.Tx](ctx)
	return tenant.WithTx(ctx, w.d.DB, t.ID, func(tx *sqlx.Tx) error {
		p, err := payments.PaymentByID(ctx, tx, t.ID, a.PaymentID)
		if err != nil {
			return err
		}
		if p.AttemptID == nil {
			return fmt.Errorf("payment %d was not made online", p.ID)
		}
		at, err := payments.AttemptByID(ctx, tx, t.ID, *p.AttemptID)
		if err != nil {
			return err
		}
		inv, err := billing.InvoiceByID(ctx, tx, t.ID, p.InvoiceID)
		if err != nil {
			return err
		}
		data := mail.ReceiptMail{
			Common:    mail.Common{Commune: t.Name, PortalURL: tenant.PortalURL(w.d.BaseURL, t, "/"), Contact: t.ContactEmail},
			Reference: inv.Ref(), Amount: billing.FormatEuros(p.AmountCents), PaidAt: parisTime(p.PaidAt),
			Numauto: at.Numauto, Test: p.Test, Anomaly: p.Anomaly != "",
			InvoiceURL: tenant.PortalURL(w.d.BaseURL, t, "/factures/"+itoa(inv.ID)),
		}
		r, err := mail.Render("receipt", data)
		if err != nil {
			return err
		}
		key := fmt.Sprintf("receipt:%d", p.ID)
		_, _, err = mail.Queue(ctx, tx, jobs, t.ID, mail.Mail{
			Kind: "receipt", To: at.PayerEmail, FromName: t.Name, ReplyTo: t.ContactEmail,
			Subject: r.Subject, Text: r.Text, HTML: r.HTML, DedupKey: &key,
		})
		return err
	})
}
