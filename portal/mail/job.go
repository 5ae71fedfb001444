package mail

import (
	"context"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"

	"github.com/regie/regie/tenant"
)

// SendArgs is the job that sends one stored mail.
type SendArgs struct {
	TenantID tenant.ID `json:"tenant_id"`
	MailID   int64     `json:"mail_id"`
}

// Kind names the job in River.
func (SendArgs) Kind() string { return "mail.send" }

// SendWorker sends stored mails. A mail already recorded as sent is not
// sent again; a failure is recorded on the mail and the job retried with
// River's back-off, then marked failed when River gives up.
type SendWorker struct {
	river.WorkerDefaults[SendArgs]
	DB     *sqlx.DB
	Sender Sender
}

// Work sends the mail of the job.
func (w *SendWorker) Work(ctx context.Context, job *river.Job[SendArgs]) error {
	a := job.Args
	var m Mail
	err := tenant.WithTx(ctx, w.DB, a.TenantID, func(tx *sqlx.Tx) error {
		var err error
		m, err = Get(ctx, tx, a.TenantID, a.MailID)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	if m.State == Sent {
		return nil
	}
	sendErr := w.Sender.Send(ctx, Message{
		ID:       fmt.Sprintf("mail-%d-%d@regie", m.TenantID, m.ID),
		To:       m.To,
		FromName: m.FromName,
		ReplyTo:  m.ReplyTo,
		Subject:  m.Subject,
		Text:     m.Text,
		HTML:     m.HTML,
	})
	final := sendErr != nil && (IsPermanent(sendErr) || job.Attempt >= job.MaxAttempts)
	mailsSent.WithLabelValues(sendResult(sendErr, final)).Inc()
	err = tenant.WithTx(context.WithoutCancel(ctx), w.DB, a.TenantID, func(tx *sqlx.Tx) error {
		// The record is not waited for on disk: a commit's flush per mail
		// made the disk, not SMTP, the limit of a publication's mails
		// (60 ms a mail on this machine's disk). A database crash in the
		// next fraction of a second may lose the record, and the mail is
		// then sent again with the same Message-ID, as when a worker dies
		// between SMTP's acceptance and the record.
		if _, err := tx.ExecContext(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
			return err
		}
		if sendErr == nil {
			return markSent(ctx, tx, a.TenantID, m.ID)
		}
		return markFailure(ctx, tx, a.TenantID, m.ID, sendErr.Error(), final)
	})
	switch {
	case sendErr != nil && IsPermanent(sendErr):
		return river.JobCancel(sendErr)
	case sendErr != nil:
		return sendErr
	}
	// The mail left; failing to record it would send it again on retry,
	// which is the lesser evil than losing it.
	return err
}
