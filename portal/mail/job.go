package mail

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"

	"github.com/regie/regie/tenant"
)

// SendArgs is the job that sends stored mails: one, or a few dozen of a
// publication's, over one SMTP connection.
type SendArgs struct {
	TenantID tenant.ID `json:"tenant_id"`
	MailIDs  []int64   `json:"mail_ids"`
}

// Kind names the job in River.
func (SendArgs) Kind() string { return "mail.send" }

// SendWorker sends stored mails. A mail already recorded as sent is not
// sent again; a failure is recorded on the mail and the job retried with
// River's back-off (sending again only the mails not sent yet), and the
// mail marked failed when River gives up or when retrying cannot help.
type SendWorker struct {
	river.WorkerDefaults[SendArgs]
	DB     *sqlx.DB
	Sender Sender
}

// recordRetries bounds the waits between tries of recording what was sent
// (100 ms, doubling: 6.3 s in all).
const recordRetries = 3200 * time.Millisecond

// Work sends the mails of the job.
func (w *SendWorker) Work(ctx context.Context, job *river.Job[SendArgs]) error {
	a := job.Args
	var all []Mail
	err := tenant.WithTx(ctx, w.DB, a.TenantID, func(tx *sqlx.Tx) error {
		var err error
		all, err = GetMany(ctx, tx, a.TenantID, a.MailIDs)
		return err
	})
	if err != nil {
		return err
	}
	if len(all) == 0 {
		return river.JobCancel(ErrNotFound)
	}
	var todo []Mail
	var msgs []Message
	for _, m := range all {
		if m.State != Queued {
			continue // sent, or given up
		}
		todo = append(todo, m)
		msgs = append(msgs, Message{
			ID:       fmt.Sprintf("mail-%d-%d@regie", m.TenantID, m.ID),
			To:       m.To,
			FromName: m.FromName,
			ReplyTo:  m.ReplyTo,
			Subject:  m.Subject,
			Text:     m.Text,
			HTML:     m.HTML,
		})
	}
	if len(todo) == 0 {
		return nil
	}
	errs := w.Sender.Send(ctx, msgs)
	var sent []int64
	var retry, perm error
	for i, e := range errs {
		final := e != nil && (IsPermanent(e) || job.Attempt >= job.MaxAttempts)
		mailsSent.WithLabelValues(sendResult(e, final)).Inc()
		switch {
		case e == nil:
			sent = append(sent, todo[i].ID)
		case IsPermanent(e):
			perm = cmp.Or(perm, e)
		default:
			retry = cmp.Or(retry, e)
		}
	}
	// The relay has the mails: recording it must not fail for a brief
	// database outage (a restart, a failover), or the retried job would
	// send them again. The record is tried again for a few seconds.
	rctx := context.WithoutCancel(ctx)
	record := func() error {
		return tenant.WithTx(rctx, w.DB, a.TenantID, func(tx *sqlx.Tx) error {
			// The record is not waited for on disk: a commit's flush per mail
			// made the disk, not SMTP, the limit of a publication's mails
			// (60 ms a mail on this machine's disk). A database crash in the
			// next fraction of a second may lose the record, and the mail is
			// then sent again with the same Message-ID, as when a worker dies
			// between SMTP's acceptance and the record.
			if _, err := tx.ExecContext(rctx, `SET LOCAL synchronous_commit = off`); err != nil {
				return err
			}
			if err := markSent(rctx, tx, a.TenantID, sent); err != nil {
				return err
			}
			for i, e := range errs {
				if e != nil {
					final := IsPermanent(e) || job.Attempt >= job.MaxAttempts
					if err := markFailure(rctx, tx, a.TenantID, todo[i].ID, e.Error(), final); err != nil {
						return err
					}
				}
			}
			return nil
		})
	}
	err = record()
	for wait := 100 * time.Millisecond; err != nil && wait <= recordRetries; wait *= 2 {
		time.Sleep(wait)
		err = record()
	}
	switch {
	case retry != nil:
		return retry // the mails not sent go again; the others are skipped
	case perm != nil:
		return river.JobCancel(perm)
	}
	// The mails left; failing to record it would send them again on
	// retry, which is the lesser evil than losing them.
	return err
}
