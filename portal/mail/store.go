package mail

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/riverqueue/river"

	"github.com/regie/regie/tenant"
	"github.com/regie/regie/tenant/pgdb"
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
	ids, err := queue(ctx, tx, jobs, tid, []Mail{m}, priorityNow)
	if err != nil || len(ids) == 0 {
		return 0, false, err
	}
	return ids[0], true, nil
}

// QueueBulk stores mails sent in bulk (a publication's) and inserts their
// send jobs, in one statement each, in tx. Their jobs come after those of
// the mails a family waits for (activation and reset links, receipts), so
// that a link asked for during a large publication is not queued behind
// its mails. Mails whose dedup key is already stored are skipped; it
// returns the ids of those queued.
func QueueBulk(ctx context.Context, tx *sqlx.Tx, jobs *river.Client[*sql.Tx], tid tenant.ID, ms []Mail) ([]int64, error) {
	return queue(ctx, tx, jobs, tid, ms, priorityBulk)
}

// mailsPerJob is how many mails one send job hands to the relay over one
// connection. The job records them as sent once the relay has taken them
// all, so a worker killed in the middle sends again those already taken
// (with the same Message-ID): with 10 a job, 100,000 invoices took 95 s
// to mail instead of 65 s.
const mailsPerJob = 50

// River's job priorities: 1 is worked first.
const (
	priorityNow  = 1
	priorityBulk = 2
)

func queue(ctx context.Context, tx *sqlx.Tx, jobs *river.Client[*sql.Tx], tid tenant.ID, ms []Mail, priority int) ([]int64, error) {
	if len(ms) == 0 {
		return nil, nil
	}
	var kinds, tos, fromNames, replyTos, subjects, texts, htmls pq.StringArray
	dedup := make([]sql.NullString, len(ms))
	for i, m := range ms {
		kinds, tos, fromNames = append(kinds, m.Kind), append(tos, m.To), append(fromNames, m.FromName)
		replyTos, subjects, texts, htmls = append(replyTos, m.ReplyTo), append(subjects, m.Subject), append(texts, m.Text), append(htmls, m.HTML)
		if m.DedupKey != nil {
			dedup[i] = sql.NullString{String: *m.DedupKey, Valid: true}
		}
	}
	const ins = pgdb.Prepared + `INSERT INTO mails (tenant_id, kind, to_addr, from_name, reply_to, subject, text_body, html_body, dedup_key)
		SELECT $1, kind, lower(to_addr), from_name, reply_to, subject, text_body, html_body, dedup_key
		FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])
			AS u(kind, to_addr, from_name, reply_to, subject, text_body, html_body, dedup_key)
		ON CONFLICT (tenant_id, dedup_key) DO NOTHING
		RETURNING id`
	var ids []int64
	if err := tx.SelectContext(ctx, &ids, ins, tid, kinds, tos, fromNames, replyTos, subjects, texts, htmls, pq.Array(dedup)); err != nil {
		return nil, fmt.Errorf("mail: queue: %w", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	var params []river.InsertManyParams
	for chunk := range slices.Chunk(ids, mailsPerJob) {
		params = append(params, river.InsertManyParams{Args: SendArgs{TenantID: tid, MailIDs: chunk}, InsertOpts: &river.InsertOpts{Priority: priority}})
	}
	if _, err := jobs.InsertManyTx(ctx, tx.Tx, params); err != nil {
		return nil, fmt.Errorf("mail: queue jobs: %w", err)
	}
	return ids, nil
}

// GetMany returns the mails of the commune among ids, in id order; ids of
// no mail of the commune are left out.
func GetMany(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, ids []int64) ([]Mail, error) {
	const sel = pgdb.Prepared + `SELECT ` + columns + ` FROM mails WHERE tenant_id = $1 AND id = ANY($2) ORDER BY id`
	var ms []Mail
	err := sqlx.SelectContext(ctx, q, &ms, sel, tid, pq.Int64Array(ids))
	return ms, err
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

func markSent(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	const upd = pgdb.Prepared + `UPDATE mails SET state = 'sent', sent_at = now(), attempts = attempts + 1, last_error = ''
		WHERE tenant_id = $1 AND id = ANY($2)`
	_, err := q.ExecContext(ctx, upd, tid, pq.Int64Array(ids))
	return err
}

func markFailure(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, id int64, reason string, final bool) error {
	st := Queued
	if final {
		st = Failed
	}
	const upd = pgdb.Prepared + `UPDATE mails SET state = $4, attempts = attempts + 1, last_error = $3
		WHERE tenant_id = $1 AND id = $2 AND state <> 'sent'`
	_, err := q.ExecContext(ctx, upd, tid, id, reason, st)
	return err
}
