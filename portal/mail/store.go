package mail

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/riverqueue/river"

	"github.com/regie/regie/tenant"
)

// ErrNotFound means no such mail in this commune.
var ErrNotFound = errors.New("mail: not found")

// State is where a mail stands.
type State string

// The states of a mail. A mail whose sending failed but will be retried
// stays queued, with its last error.
const (
	Queued State = "queued"
	Sent   State = "sent"
	Failed State = "failed" // given up
)

// Mail is a stored e-mail.
type Mail struct {
	TenantID  tenant.ID  `db:"tenant_id"`
	ID        int64      `db:"id"`
	Kind      string     `db:"kind"`
	To        string     `db:"to_addr"`
	FromName  string     `db:"from_name"`
	ReplyTo   string     `db:"reply_to"`
	Subject   string     `db:"subject"`
	Text      string     `db:"text_body"`
	HTML      string     `db:"html_body"`
	DedupKey  *string    `db:"dedup_key"`
	State     State      `db:"state"`
	Attempts  int        `db:"attempts"`
	LastError string     `db:"last_error"`
	CreatedAt time.Time  `db:"created_at"`
	SentAt    *time.Time `db:"sent_at"`
}

const columns = `tenant_id, id, kind, to_addr, from_name, reply_to, subject, text_body, html_body,
	dedup_key, state, attempts, last_error, created_at, sent_at`

// Queue stores a mail and inserts its send job, both in tx. A mail with a
// dedup key already stored is skipped (queued is false): producers that may
// run twice pass one.
func Queue(ctx context.Context, tx *sqlx.Tx, jobs *river.Client[*sql.Tx], tid tenant.ID, m Mail) (id int64, queued bool, err error) {
	const ins = `INSERT INTO mails (tenant_id, kind, to_addr, from_name, reply_to, subject, text_body, html_body, dedup_key)
		VALUES ($1, $2, lower($3), $4, $5, $6, $7, $8, $9)
		ON CONFLICT (tenant_id, dedup_key) DO NOTHING
		RETURNING id`
	err = tx.GetContext(ctx, &id, ins, tid, m.Kind, m.To, m.FromName, m.ReplyTo, m.Subject, m.Text, m.HTML, m.DedupKey)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("mail: queue: %w", err)
	}
	if _, err := jobs.InsertTx(ctx, tx.Tx, SendArgs{TenantID: tid, MailID: id}, nil); err != nil {
		return 0, false, fmt.Errorf("mail: queue job: %w", err)
	}
	return id, true, nil
}

// Get returns a mail.
func Get(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, id int64) (Mail, error) {
	const sel = `SELECT ` + columns + ` FROM mails WHERE tenant_id = $1 AND id = $2`
	var m Mail
	err := sqlx.GetContext(ctx, q, &m, sel, tid, id)
	if errors.Is(err, sql.ErrNoRows) {
		return Mail{}, ErrNotFound
	}
	return m, err
}

// ToAddresses returns the latest mails sent to any of the addresses, newest
// first.
func ToAddresses(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, addrs []string, limit int) ([]Mail, error) {
	const sel = `SELECT ` + columns + ` FROM mails WHERE tenant_id = $1 AND to_addr = ANY($2)
		ORDER BY created_at DESC, id DESC LIMIT $3`
	var ms []Mail
	err := sqlx.SelectContext(ctx, q, &ms, sel, tid, pq.StringArray(addrs), limit)
	return ms, err
}

func markSent(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, id int64) error {
	const upd = `UPDATE mails SET state = 'sent', sent_at = now(), attempts = attempts + 1, last_error = ''
		WHERE tenant_id = $1 AND id = $2`
	_, err := q.ExecContext(ctx, upd, tid, id)
	return err
}

func markFailure(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, id int64, reason string, final bool) error {
	st := Queued
	if final {
		st = Failed
	}
	const upd = `UPDATE mails SET state = $4, attempts = attempts + 1, last_error = $3
		WHERE tenant_id = $1 AND id = $2 AND state <> 'sent'`
	_, err := q.ExecContext(ctx, upd, tid, id, reason, st)
	return err
}
