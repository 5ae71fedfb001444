package portal

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/billing/docstore"
	"github.com/regie/regie/portal/account"
	"github.com/regie/regie/portal/mail"
	"github.com/regie/regie/tenant"
)

// WorkerDeps are what the portal's background jobs need. They do not need
// the web server: `regie worker` builds them alone.
type WorkerDeps struct {
	DB      *sqlx.DB
	Tenants *tenant.Store
	Sender  mail.Sender
	Docs    docstore.Store
	BaseURL *url.URL
	Log     *slog.Logger
}

// AddWorkers registers the portal's job workers: sending mails, and turning
// activation and reset requests, publications and payments into mails.
func AddWorkers(w *river.Workers, d WorkerDeps) error {
	if err := river.AddWorkerSafely(w, &mail.SendWorker{DB: d.DB, Sender: d.Sender}); err != nil {
		return err
	}
	if err := river.AddWorkerSafely(w, &publishedWorker{d: d}); err != nil {
		return err
	}
	if err := river.AddWorkerSafely(w, &receiptWorker{d: d}); err != nil {
		return err
	}
	if err := addImportWorkers(w, d); err != nil {
		return err
	}
	return river.AddWorkerSafely(w, &linkRequestWorker{d: d})
}

// LinkRequestArgs is a family's request for an activation or reset link.
// The request page inserts it for every well-formed address, known or not,
// so that both answer alike; the job decides whether a mail goes out.
type LinkRequestArgs struct {
	TenantID tenant.ID       `json:"tenant_id"`
	Email    string          `json:"email"`
	Purpose  account.Purpose `json:"purpose"`
}

// Kind names the job in River.
func (LinkRequestArgs) Kind() string { return "account.link_request" }

type linkRequestWorker struct {
	river.WorkerDefaults[LinkRequestArgs]
	d WorkerDeps
}

// Work mails, in one transaction with the link it creates:
//   - activation, address of a family and no active account: the link;
//   - activation, active account: a reminder to log in or reset;
//   - reset, active account: the link;
//   - reset, address of a family without an account: the activation link;
//   - anything else (unknown address, suspended commune): nothing.
func (w *linkRequestWorker) Work(ctx context.Context, job *river.Job[LinkRequestArgs]) error {
	a := job.Args
	t, err := w.d.Tenants.ByID(ctx, a.TenantID)
	if err != nil {
		return err
	}
	if t.Suspended() {
		return nil
	}
	jobs := river.ClientFromContext[*sql.Tx](ctx)
	return tenant.WithTx(ctx, w.d.DB, t.ID, func(tx *sqlx.Tx) error {
		acc, err := account.ByEmail(ctx, tx, t.ID, a.Email)
		if err != nil && !errors.Is(err, account.ErrNotFound) {
			return err
		}
		active := err == nil && acc.Active()
		known, err := billing.EmailKnown(ctx, tx, t.ID, a.Email)
		if err != nil {
			return err
		}
		common := mail.Common{Commune: t.Name, PortalURL: tenant.PortalURL(w.d.BaseURL, t, "/"), Contact: t.ContactEmail}
		var kind string
		var data any
		switch {
		case a.Purpose == account.PurposeActivation && active:
			kind, data = "already_active", mail.AlreadyActiveMail{Common: common,
				LoginURL: tenant.PortalURL(w.d.BaseURL, t, "/"), ResetURL: tenant.PortalURL(w.d.BaseURL, t, resetFlow.RequestPath)}
		case a.Purpose == account.PurposeReset && active:
			raw, err := account.NewToken(ctx, tx, t.ID, account.PurposeReset, a.Email, job.CreatedAt)
			if err != nil {
				return err
			}
			kind, data = "reset", mail.LinkMail{Common: common, Link: tenant.PortalURL(w.d.BaseURL, t, "/mot-de-passe/"+raw), Validity: resetFlow.Validity}
		case known:
			raw, err := account.NewToken(ctx, tx, t.ID, account.PurposeActivation, a.Email, job.CreatedAt)
			if err != nil {
				return err
			}
			kind, data = "activation", mail.LinkMail{Common: common, Link: tenant.PortalURL(w.d.BaseURL, t, "/activation/"+raw), Validity: activationFlow.Validity}
		default:
			tenant.Logger(ctx, w.d.Log).Info("link request for an address without family or account", "commune", t.Slug, "purpose", a.Purpose)
			return nil
		}
		r, err := mail.Render(kind, data)
		if err != nil {
			return err
		}
		_, _, err = mail.Queue(ctx, tx, jobs, t.ID, mail.Mail{
			Kind: kind, To: a.Email, FromName: t.Name, ReplyTo: t.ContactEmail,
			Subject: r.Subject, Text: r.Text, HTML: r.HTML,
		})
		if err != nil {
			return fmt.Errorf("queue %s mail: %w", kind, err)
		}
		return nil
	})
}
