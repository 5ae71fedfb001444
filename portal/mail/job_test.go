package mail_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"

	"github.com/regie/regie/portal/mail"
	"github.com/regie/regie/tenant"
	"github.com/regie/regie/tenant/tenanttest"
)

// address returns a recipient no other test writes to, so that the shared
// mailbox can be counted per test.
func address(prefix string) string {
	return fmt.Sprintf("%s-%d@exemple.fr", prefix, rand.Int64())
}

// waitMail polls a mail until check returns "".
func waitMail(t *testing.T, h *harness, tid tenant.ID, id int64, what string, check func(mail.Mail) string) mail.Mail {
	t.Helper()
	var m mail.Mail
	waitFor(t, what, func() string {
		m = mustGet(t, h.db, tid, id)
		if msg := check(m); msg != "" {
			return fmt.Sprintf("%s (state %s, attempts %d, last error %q)", msg, m.State, m.Attempts, m.LastError)
		}
		return ""
	})
	return m
}

func stateIs(want mail.State) func(mail.Mail) string {
	return func(m mail.Mail) string {
		if m.State != want {
			return "not " + string(want)
		}
		return ""
	}
}

// waitJobs polls the send jobs of a mail until they all reach a final state
// and returns those states.
func waitJobsDone(t *testing.T, h *harness, tid tenant.ID, id int64) []string {
	t.Helper()
	var states []string
	waitFor(t, fmt.Sprintf("send jobs of mail %d to finish", id), func() string {
		states = sendJobs(t, h.db, tid, id)
		if len(states) == 0 {
			return "no job"
		}
		for _, s := range states {
			if s != "completed" && s != "cancelled" && s != "discarded" {
				return fmt.Sprintf("states %v", states)
			}
		}
		return ""
	})
	return states
}

func TestSendWorker_Work(t *testing.T) {
	ctx := context.Background()
	h := sharedHarness(t)
	c := tenanttest.MustCreate(t, h.db, "send")

	rendered, err := mail.Render("activation", mail.LinkMail{Common: mail.Common{Commune: "Mairie de Démonstration",
		PortalURL: "https://demo.example.fr/", Contact: "accueil@demo.example.fr"},
		Link: "https://demo.example.fr/activation/jeton-123", Validity: "48 heures"})
	if err != nil {
		t.Fatal(err)
	}
	newMail := func(to string) mail.Mail {
		return mail.Mail{Kind: "activation", To: to, FromName: "Mairie de Démonstration", ReplyTo: "accueil@demo.example.fr",
			Subject: rendered.Subject, Text: rendered.Text, HTML: rendered.HTML}
	}

	t.Run("Delivers", func(t *testing.T) {
		sent := mailsMetric(t, "sent")
		to := address("livre")
		id, _ := queue(t, h, c.ID, newMail(to))
		m := waitMail(t, h, c.ID, id, "mail sent", stateIs(mail.Sent))
		if got := mailsMetric(t, "sent"); got < sent+1 {
			t.Errorf("regie_mails_total{result=sent} went from %v to %v", sent, got)
		}
		if states := waitJobsDone(t, h, c.ID, id); len(states) != 1 || states[0] != "completed" {
			t.Fatalf("send jobs: %v, want one completed", states)
		}
		got := h.box.To(to)
		if len(got) != 1 {
			t.Fatalf("mailbox of %s: %d messages, want 1", to, len(got))
		}
		msg := got[0]
		for _, f := range []struct{ name, got, want string }{
			{"From", msg.From, "portail@example.fr"},
			{"From name", msg.FromName, "Mairie de Démonstration"},
			{"Reply-To", msg.ReplyTo, "accueil@demo.example.fr"},
			{"Subject", msg.Subject, rendered.Subject},
		} {
			if f.got != f.want {
				t.Errorf("%s = %q, want %q", f.name, f.got, f.want)
			}
		}
		// The id is stable across retries, so receivers can drop a duplicate.
		if want := fmt.Sprintf("<mail-%d-%d@regie>", c.ID, id); msg.MessageID != want {
			t.Errorf("Message-Id = %q, want one naming %s", msg.MessageID, want)
		}
		if text := strings.ReplaceAll(msg.Text, "\r\n", "\n"); strings.TrimSpace(text) != strings.TrimSpace(rendered.Text) {
			t.Errorf("text part:\n%s\nwant:\n%s", text, rendered.Text)
		}
		if html := strings.ReplaceAll(msg.HTML, "\r\n", "\n"); strings.TrimSpace(html) != strings.TrimSpace(rendered.HTML) {
			t.Errorf("html part:\n%s\nwant:\n%s", html, rendered.HTML)
		}
		if m.Attempts != 1 || m.SentAt == nil || m.LastError != "" {
			t.Errorf("mail after sending: attempts %d, sent at %v, last error %q; want 1, set, empty", m.Attempts, m.SentAt, m.LastError)
		}

		t.Run("NotSentAgain", func(t *testing.T) {
			res, err := h.jobs.Insert(ctx, mail.SendArgs{TenantID: c.ID, MailIDs: []int64{id}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			waitJob(t, h, res.Job.ID, "completed")
			if n := len(h.box.To(to)); n != 1 {
				t.Errorf("mailbox of %s after the job ran again: %d messages, want 1", to, n)
			}
			if again := mustGet(t, h.db, c.ID, id); again.Attempts != 1 || again.State != mail.Sent || !again.SentAt.Equal(*m.SentAt) {
				t.Errorf("mail after the job ran again: state %s, attempts %d, sent at %v; want unchanged", again.State, again.Attempts, again.SentAt)
			}
		})
	})

	t.Run("SeveralMails", func(t *testing.T) {
		// One job for three stored mails, one of them already sent: the
		// other two go out over one connection, the sent one not again.
		var ids []int64
		tos := []string{address("plusieurs-un"), address("plusieurs-deja"), address("plusieurs-trois")}
		for _, to := range tos {
			var id int64
			inTx(t, h.db, c.ID, func(tx *sqlx.Tx) error {
				m := newMail(to)
				return tx.GetContext(ctx, &id, `INSERT INTO mails (tenant_id, kind, to_addr, from_name, subject, text_body, html_body)
					VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`, c.ID, m.Kind, m.To, m.FromName, m.Subject, m.Text, m.HTML)
			})
			ids = append(ids, id)
		}
		if _, err := h.db.Exec(`UPDATE mails SET state = 'sent', sent_at = now(), attempts = 1 WHERE tenant_id = $1 AND id = $2`, c.ID, ids[1]); err != nil {
			t.Fatal(err)
		}
		res, err := h.jobs.Insert(ctx, mail.SendArgs{TenantID: c.ID, MailIDs: ids}, nil)
		if err != nil {
			t.Fatal(err)
		}
		waitJob(t, h, res.Job.ID, "completed")
		for i, to := range tos {
			want := 1
			if i == 1 {
				want = 0
			}
			if n := len(h.box.To(to)); n != want {
				t.Errorf("mailbox of %s: %d messages, want %d", to, n, want)
			}
			if m := mustGet(t, h.db, c.ID, ids[i]); m.State != mail.Sent || m.Attempts != 1 {
				t.Errorf("mail to %s: state %s, attempts %d; want sent once", to, m.State, m.Attempts)
			}
		}
	})

	t.Run("OutageThenRecovery", func(t *testing.T) {
		h.box.Stop()
		stopped := true
		defer func() {
			if stopped {
				if err := h.box.Restart(); err != nil {
					t.Errorf("restart the SMTP server: %v", err)
				}
			}
		}()
		retries := mailsMetric(t, "retry")
		to := address("panne")
		id, _ := queue(t, h, c.ID, newMail(to))
		down := waitMail(t, h, c.ID, id, "a failed attempt", func(m mail.Mail) string {
			if m.Attempts < 1 || m.LastError == "" {
				return "no failure recorded"
			}
			return ""
		})
		if got := mailsMetric(t, "retry"); got < retries+1 {
			t.Errorf("regie_mails_total{result=retry} went from %v to %v", retries, got)
		}
		if down.State != mail.Queued {
			t.Errorf("state during the outage = %s, want queued (to be retried)", down.State)
		}
		if !strings.Contains(down.LastError, to) {
			t.Errorf("last error %q does not say which send failed", down.LastError)
		}
		if n := len(h.box.To(to)); n != 0 {
			t.Fatalf("%d messages arrived while the server was down", n)
		}

		if err := h.box.Restart(); err != nil {
			t.Fatalf("restart the SMTP server: %v", err)
		}
		stopped = false
		up := waitMail(t, h, c.ID, id, "mail sent after the outage", stateIs(mail.Sent))
		if states := waitJobsDone(t, h, c.ID, id); len(states) != 1 || states[0] != "completed" {
			t.Fatalf("send jobs: %v, want one completed", states)
		}
		if n := len(h.box.To(to)); n != 1 {
			t.Fatalf("mailbox of %s after the outage: %d messages, want exactly 1", to, n)
		}
		if up.Attempts <= down.Attempts || up.LastError != "" || up.SentAt == nil {
			t.Errorf("mail after recovery: attempts %d (was %d), last error %q, sent at %v; want more attempts, no error, a time",
				up.Attempts, down.Attempts, up.LastError, up.SentAt)
		}
	})

	t.Run("GivesUpAfterMaxAttempts", func(t *testing.T) {
		h.box.Stop()
		defer func() {
			if err := h.box.Restart(); err != nil {
				t.Errorf("restart the SMTP server: %v", err)
			}
		}()
		to := address("abandon")
		// The mail is stored by hand so that its job can be given two
		// attempts only.
		var id int64
		inTx(t, h.db, c.ID, func(tx *sqlx.Tx) error {
			m := newMail(to)
			return tx.GetContext(ctx, &id, `INSERT INTO mails (tenant_id, kind, to_addr, from_name, subject, text_body, html_body)
				VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`, c.ID, m.Kind, m.To, m.FromName, m.Subject, m.Text, m.HTML)
		})
		res, err := h.jobs.Insert(ctx, mail.SendArgs{TenantID: c.ID, MailIDs: []int64{id}}, &river.InsertOpts{MaxAttempts: 2})
		if err != nil {
			t.Fatal(err)
		}
		failed := mailsMetric(t, "failed")
		waitJob(t, h, res.Job.ID, "discarded")
		if got := mailsMetric(t, "failed"); got < failed+1 {
			t.Errorf("regie_mails_total{result=failed} went from %v to %v", failed, got)
		}
		m := mustGet(t, h.db, c.ID, id)
		if m.State != mail.Failed || m.Attempts != 2 || m.LastError == "" || m.SentAt != nil {
			t.Errorf("mail after the last attempt: state %s, attempts %d, last error %q, sent at %v; want failed, 2, set, none",
				m.State, m.Attempts, m.LastError, m.SentAt)
		}
	})

	t.Run("PermanentFailure", func(t *testing.T) {
		// An address the SMTP client refuses: retrying cannot help.
		id, _ := queue(t, h, c.ID, newMail("pas une adresse"))
		m := waitMail(t, h, c.ID, id, "mail failed", stateIs(mail.Failed))
		if states := waitJobsDone(t, h, c.ID, id); len(states) != 1 || states[0] != "cancelled" {
			t.Errorf("send jobs: %v, want one cancelled", states)
		}
		if m.Attempts != 1 || m.LastError == "" {
			t.Errorf("attempts %d, last error %q; want 1 attempt and its error", m.Attempts, m.LastError)
		}
	})

	t.Run("MailGone", func(t *testing.T) {
		res, err := h.jobs.Insert(ctx, mail.SendArgs{TenantID: c.ID, MailIDs: []int64{1 << 40}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		waitJob(t, h, res.Job.ID, "cancelled")
	})

	t.Run("OtherCommuneMail", func(t *testing.T) {
		// A job naming the wrong commune for a mail finds nothing to send.
		other := tenanttest.MustCreate(t, h.db, "send-other")
		to := address("mauvaise-commune")
		var id int64
		inTx(t, h.db, c.ID, func(tx *sqlx.Tx) error {
			m := newMail(to)
			return tx.GetContext(ctx, &id, `INSERT INTO mails (tenant_id, kind, to_addr, from_name, subject, text_body, html_body)
				VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`, c.ID, m.Kind, m.To, m.FromName, m.Subject, m.Text, m.HTML)
		})
		res, err := h.jobs.Insert(ctx, mail.SendArgs{TenantID: other.ID, MailIDs: []int64{id}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		waitJob(t, h, res.Job.ID, "cancelled")
		if n := len(h.box.To(to)); n != 0 {
			t.Errorf("%d messages sent for another commune's mail", n)
		}
		if m := mustGet(t, h.db, c.ID, id); m.State != mail.Queued || m.Attempts != 0 {
			t.Errorf("mail touched by another commune's job: state %s, attempts %d", m.State, m.Attempts)
		}
	})
}

// mailsMetric reads regie_mails_total for a result from the default
// registry, as /metrics serves it.
func mailsMetric(t *testing.T, result string) float64 {
	t.Helper()
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "regie_mails_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
