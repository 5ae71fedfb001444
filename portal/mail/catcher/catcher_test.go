package catcher_test

import (
	"context"
	"errors"
	"net/smtp"
	"strings"
	"testing"
	"time"

	"github.com/regie/regie/portal/mail"
	"github.com/regie/regie/portal/mail/catcher"
)

func start(t *testing.T) *catcher.Catcher {
	t.Helper()
	c, err := catcher.Start("127.0.0.1:0")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// send delivers a raw message with the standard library's client.
func send(c *catcher.Catcher, from string, to []string, raw string) error {
	return smtp.SendMail(c.Addr(), nil, from, to, []byte(raw))
}

func raw(subject string) string {
	return "From: portail@example.fr\r\nSubject: " + subject + "\r\n\r\nCorps.\r\n"
}

func TestStart(t *testing.T) {
	c := start(t)
	if !strings.HasPrefix(c.Addr(), "127.0.0.1:") || strings.HasSuffix(c.Addr(), ":0") {
		t.Fatalf("Addr = %q, want 127.0.0.1 and the port chosen", c.Addr())
	}
	if want := "smtp://" + c.Addr() + "?tls=none"; c.URL() != want {
		t.Fatalf("URL = %q, want %q", c.URL(), want)
	}
	if n := len(c.Messages()); n != 0 {
		t.Fatalf("new mailbox holds %d messages", n)
	}
}

// TestCatcher_WithSMTPSender sends through the portal's own sender, as the
// demo and the tests do.
func TestCatcher_WithSMTPSender(t *testing.T) {
	c := start(t)
	s, err := mail.NewSMTP(c.URL(), "portail@example.fr")
	if err != nil {
		t.Fatalf("NewSMTP(%q): %v", c.URL(), err)
	}
	m := mail.Message{
		ID: "mail-1-2@regie", To: "Famille.Dupont@exemple.fr", FromName: "Mairie de Démonstration", ReplyTo: "accueil@demo.example.fr",
		Subject: "Activez votre compte — Démonstration",
		Text:    "Bonjour,\n\nLien : https://demo.example.fr/activation/abc\n",
		HTML:    `<p>Bonjour,</p><p><a href="https://demo.example.fr/activation/abc">Activer</a></p>`,
	}
	if err := s.Send(context.Background(), []mail.Message{m})[0]; err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := c.Messages()
	if len(got) != 1 {
		t.Fatalf("mailbox holds %d messages, want 1", len(got))
	}
	msg := got[0]
	for _, f := range []struct{ name, got, want string }{
		{"From", msg.From, "portail@example.fr"},
		{"FromName", msg.FromName, m.FromName},
		{"ReplyTo", msg.ReplyTo, m.ReplyTo},
		{"Subject", msg.Subject, m.Subject},
		{"MessageID", msg.MessageID, "<mail-1-2@regie>"},
		{"Text", strings.TrimSpace(strings.ReplaceAll(msg.Text, "\r\n", "\n")), strings.TrimSpace(m.Text)},
		{"HTML", strings.TrimSpace(strings.ReplaceAll(msg.HTML, "\r\n", "\n")), m.HTML},
	} {
		if f.got != f.want {
			t.Errorf("%s = %q, want %q", f.name, f.got, f.want)
		}
	}
	if len(msg.To) != 1 || !strings.EqualFold(msg.To[0], m.To) {
		t.Errorf("To = %v, want [%s]", msg.To, m.To)
	}
	if time.Since(msg.At) > time.Minute || msg.At.After(time.Now()) {
		t.Errorf("At = %v, want about now", msg.At)
	}
}

func TestCatcher_To(t *testing.T) {
	c := start(t)
	for _, m := range []struct {
		to      []string
		subject string
	}{
		{[]string{"jean@exemple.fr"}, "un"},
		{[]string{"marie@exemple.fr", "JEAN@exemple.fr"}, "deux"},
		{[]string{"marie@exemple.fr"}, "trois"},
	} {
		if err := send(c, "portail@example.fr", m.to, raw(m.subject)); err != nil {
			t.Fatalf("send %s: %v", m.subject, err)
		}
	}
	subjects := func(ms []catcher.Message) string {
		var s []string
		for _, m := range ms {
			s = append(s, m.Subject)
		}
		return strings.Join(s, ",")
	}
	for addr, want := range map[string]string{
		"jean@exemple.fr":     "un,deux",
		"Marie@Exemple.fr":    "deux,trois",
		"personne@exemple.fr": "",
	} {
		if got := subjects(c.To(addr)); got != want {
			t.Errorf("To(%q) = [%s], want [%s] (oldest first, any case)", addr, got, want)
		}
	}
	if got := subjects(c.Messages()); got != "un,deux,trois" {
		t.Errorf("Messages = [%s], want all three oldest first", got)
	}
}

func TestCatcher_Messages(t *testing.T) {
	c := start(t)
	if err := send(c, "a@example.fr", []string{"b@exemple.fr"}, raw("original")); err != nil {
		t.Fatal(err)
	}
	got := c.Messages()
	got[0].Subject = "changé"
	if s := c.Messages()[0].Subject; s != "original" {
		t.Fatalf("changing the returned slice changed the mailbox: subject %q", s)
	}
}

func TestCatcher_RefusesGarbage(t *testing.T) {
	c := start(t)
	err := send(c, "a@example.fr", []string{"b@exemple.fr"}, "ceci n'est pas un en-tête\r\n\r\ncorps\r\n")
	if err == nil || !strings.Contains(err.Error(), "554") {
		t.Fatalf("send of an unparsable message: err = %v, want a 554 refusal", err)
	}
	if n := len(c.Messages()); n != 0 {
		t.Fatalf("mailbox holds %d messages after a refusal", n)
	}
}

func TestCatcher_WaitFor(t *testing.T) {
	c := start(t)
	ctx := context.Background()

	t.Run("Arrives", func(t *testing.T) {
		errc := make(chan error, 1)
		go func() { errc <- send(c, "a@example.fr", []string{"attente@exemple.fr"}, raw("plus tard")) }()
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		ms, err := c.WaitFor(wctx, "attente@exemple.fr", 1)
		if err != nil || len(ms) != 1 || ms[0].Subject != "plus tard" {
			t.Fatalf("WaitFor = %d messages, %v; want the one sent", len(ms), err)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	})

	t.Run("Deadline", func(t *testing.T) {
		wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		ms, err := c.WaitFor(wctx, "attente@exemple.fr", 2)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("WaitFor of 2 with 1 sent: err = %v, want DeadlineExceeded", err)
		}
		if len(ms) != 1 || !strings.Contains(err.Error(), "1 message(s)") {
			t.Fatalf("WaitFor gave %d messages and %q, want the 1 received and a count", len(ms), err)
		}
	})
}

func TestCatcher_StopRestart(t *testing.T) {
	c := start(t)
	addr := c.Addr()
	if err := send(c, "a@example.fr", []string{"x@exemple.fr"}, raw("avant")); err != nil {
		t.Fatal(err)
	}

	c.Stop()
	if err := send(c, "a@example.fr", []string{"x@exemple.fr"}, raw("pendant")); err == nil {
		t.Fatal("send while stopped succeeded")
	}
	if n := len(c.Messages()); n != 1 {
		t.Fatalf("mailbox after Stop holds %d messages, want the 1 kept", n)
	}
	c.Stop() // a second Stop is harmless

	if err := c.Restart(); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	if c.Addr() != addr {
		t.Fatalf("Addr after Restart = %q, want the same %q", c.Addr(), addr)
	}
	if err := send(c, "a@example.fr", []string{"x@exemple.fr"}, raw("après")); err != nil {
		t.Fatalf("send after Restart: %v", err)
	}
	var subjects []string
	for _, m := range c.To("x@exemple.fr") {
		subjects = append(subjects, m.Subject)
	}
	if strings.Join(subjects, ",") != "avant,après" {
		t.Fatalf("mailbox = %v, want [avant après]", subjects)
	}
}
