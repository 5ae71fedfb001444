package portal

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/riverqueue/river"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/portal/mail"
	"github.com/regie/regie/tenant"
)

// publishedWorker turns a publication into mails: one per address of the
// batch's families, listing that address's new invoices. An active account
// that wants them gets "facture disponible"; an address without an account
// gets an invitation to activate one; opted-out and disabled accounts get
// nothing. Each mail carries the dedup key publish:<batch>:<address>, so a
// retried job sends nothing twice.
type publishedWorker struct {
	river.WorkerDefaults[billing.InvoicesPublished]
	d WorkerDeps
}

// recipientsPerTx bounds the work of one transaction.
const recipientsPerTx = 500

type publishedRow struct {
	Email     string         `db:"email"`
	AccountID sql.NullInt64  `db:"account_id"`
	Notify    sql.NullBool   `db:"notify_invoices"`
	Disabled  bool           `db:"disabled"`
	InvoiceID int64          `db:"id"`
	Reference sql.NullString `db:"reference"`
	Period    time.Time      `db:"period"`
	Total     int64          `db:"total_cents"`
	Due       time.Time      `db:"due_date"`
	Family    string         `db:"family_name"`
	Series    string         `db:"series_label"`
}

// Work mails the batch's addresses, a few hundred per transaction.
func (w *publishedWorker) Work(ctx context.Context, job *river.Job[billing.InvoicesPublished]) error {
	a := job.Args
	t, err := w.d.Tenants.ByID(ctx, a.TenantID)
	if err != nil {
		return err
	}
	if t.Suspended() {
		return river.JobSnooze(time.Hour) // mail once the portal the links lead to is open
	}
	var batch billing.Batch
	if err := tenant.WithTx(ctx, w.d.DB, t.ID, func(tx *sqlx.Tx) error {
		var err error
		batch, err = billing.BatchByID(ctx, tx, t.ID, a.BatchID)
		return err
	}); errors.Is(err, billing.ErrNotFound) {
		return river.JobCancel(err)
	} else if err != nil {
		return err
	}
	if batch.Invoices >= billing.AnalyzeAfter && batch.PublishedAt != nil {
		if err := billing.RefreshStats(ctx, w.d.DB, *batch.PublishedAt); err != nil {
			return err
		}
	}
	jobs := river.ClientFromContext[*sql.Tx](ctx)
	// The batch's addresses are read once, in order, then mailed a page at
	// a time. A page used to be found by "the next 500 addresses after the
	// last one that have an invoice in the batch": the planner, which
	// cannot know how many of the commune's invoices a new batch holds
	// (it multiplies the commune's share by the batch's), then scanned the
	// whole batch for every page (over 12 s a page for 100,000 invoices
	// among 35,000 communes).
	var emails []string
	const addrs = `SELECT DISTINCT e.email
		FROM invoices i JOIN family_emails e ON e.tenant_id = i.tenant_id AND e.family_id = i.family_id
		WHERE i.tenant_id = $1 AND i.batch_id = $2 AND i.status = 'published' AND e.email > $3
		ORDER BY e.email`
	if err := tenant.WithTx(ctx, w.d.DB, t.ID, func(tx *sqlx.Tx) error {
		return tx.SelectContext(ctx, &emails, addrs, t.ID, a.BatchID, a.After)
	}); err != nil {
		return err
	}
	// The invoices are looked up family by family (the LATERAL subquery,
	// kept apart by OFFSET 0): joined, the planner, which takes a new
	// batch for a few hundred rows of the commune, read the whole batch
	// for each page of addresses.
	const sel = `
	SELECT e.email, a.id AS account_id, a.notify_invoices, (a.disabled_at IS NOT NULL) AS disabled,
		x.id, x.reference, x.period, x.total_cents, x.due_date, x.family_name, x.series_label
	FROM family_emails e
	CROSS JOIN LATERAL (
		SELECT i.id, i.reference, i.period, i.total_cents, i.due_date, f.name AS family_name, s.label AS series_label
		FROM invoices i
		JOIN families f ON f.tenant_id = i.tenant_id AND f.id = i.family_id
		JOIN series s ON s.tenant_id = i.tenant_id AND s.id = i.series_id
		WHERE i.tenant_id = $1 AND i.family_id = e.family_id AND i.batch_id = $2 AND i.status = 'published'
		OFFSET 0) x
	LEFT JOIN family_accounts a ON a.tenant_id = $1 AND a.email = e.email
	WHERE e.tenant_id = $1 AND e.email = ANY($3)
	ORDER BY e.email, x.family_name, x.period, x.id`
	began := time.Now()
	for page := range slices.Chunk(emails, recipientsPerTx) {
		more := false
		err := tenant.WithTx(ctx, w.d.DB, t.ID, func(tx *sqlx.Tx) error {
			var rows []publishedRow
			if err := tx.SelectContext(ctx, &rows, sel, t.ID, a.BatchID, pq.StringArray(page)); err != nil {
				return err
			}
			var ms []mail.Mail
			for start := 0; start < len(rows); {
				end := start
				for end < len(rows) && rows[end].Email == rows[start].Email {
					end++
				}
				m, ok, err := w.mailOf(t, a.BatchID, rows[start:end])
				if err != nil {
					return err
				}
				if ok {
					ms = append(ms, m)
				}
				start = end
			}
			if _, err := mail.QueueBulk(ctx, tx, jobs, t.ID, ms); err != nil {
				return err
			}
			// A large publication goes on in a new job after a while,
			// from the next address: every run stays well within the
			// jobs' timeout, and what is queued is committed as it goes.
			last := page[len(page)-1]
			if time.Since(began) > publishedRunFor && last != emails[len(emails)-1] {
				next := a
				next.After = last
				more = true
				_, err := jobs.InsertTx(ctx, tx.Tx, next, nil)
				return err
			}
			return nil
		})
		if err != nil || more {
			return err
		}
	}
	return nil
}

// publishedRunFor is how long one run of the publication job queues mails
// before it hands over to the next one (River's default job timeout is a
// minute).
const publishedRunFor = 20 * time.Second

// mailOf is the mail of one address, if it gets one.
func (w *publishedWorker) mailOf(t tenant.Tenant, batch int64, rows []publishedRow) (mail.Mail, bool, error) {
	r0 := rows[0]
	hasAccount := r0.AccountID.Valid
	if hasAccount && (r0.Disabled || !r0.Notify.Bool) {
		return mail.Mail{}, false, nil
	}
	items := make([]mail.InvoiceItem, len(rows))
	periods := map[string]bool{}
	for i, r := range rows {
		p := billing.PeriodLabel(r.Period)
		periods[p] = true
		items[i] = mail.InvoiceItem{
			Family: r.Family, Series: r.Series, Period: p, Reference: r.Reference.String,
			Amount: billing.FormatEuros(r.Total), DueDate: r.Due.Format("02/01/2006"),
			URL: tenant.PortalURL(w.d.BaseURL, t, "/factures/"+itoa(r.InvoiceID)),
		}
	}
	subject := publicationSubject(rows, periods)
	common := mail.Common{Commune: t.Name, PortalURL: tenant.PortalURL(w.d.BaseURL, t, "/"), Contact: t.ContactEmail}
	kind, data := "invoices", any(mail.InvoicesMail{Common: common, Subject: subject, Invoices: items, ListURL: tenant.PortalURL(w.d.BaseURL, t, "/factures")})
	if !hasAccount {
		kind = "invitation"
		data = mail.InvitationMail{Common: common, Subject: subject, Invoices: items,
			ActivationURL: tenant.PortalURL(w.d.BaseURL, t, "/activation") + "?email=" + url.QueryEscape(r0.Email)}
	}
	rendered, err := mail.Render(kind, data)
	if err != nil {
		return mail.Mail{}, false, err
	}
	key := fmt.Sprintf("publish:%d:%s", batch, r0.Email)
	return mail.Mail{
		Kind: kind, To: r0.Email, FromName: t.Name, ReplyTo: t.ContactEmail,
		Subject: rendered.Subject, Text: rendered.Text, HTML: rendered.HTML, DedupKey: &key,
	}, true, nil
}

// publicationSubject names the mail after the invoiced period: "Votre
// facture d'octobre 2026 est disponible".
func publicationSubject(rows []publishedRow, periods map[string]bool) string {
	if len(periods) > 1 {
		return "Vos nouvelles factures sont disponibles"
	}
	p := billing.PeriodLabel(rows[0].Period)
	of := "de "
	if strings.ContainsAny(p[:1], "aeiou") { // avril, août, octobre
		of = "d'"
	}
	if len(rows) == 1 {
		return "Votre facture " + of + p + " est disponible"
	}
	return "Vos factures " + of + p + " sont disponibles"
}
