package mail_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/regie/regie/portal/mail"
	"github.com/regie/regie/portal/mail/catcher"
)

func TestNewSMTP(t *testing.T) {
	for _, tc := range []struct {
		url    string
		wantOK bool
	}{
		{"smtp://127.0.0.1:1025?tls=none", true},
		{"smtp://smtp.example.fr:587", true},
		{"smtp://smtp.example.fr:587?tls=starttls", true},
		{"smtp://smtp.example.fr:465?tls=tls", true},
		{"smtp://utilisateur:secret@smtp.example.fr:587", true},
		{"smtp://smtp.example.fr", false},      // no port
		{"smtp://smtp.example.fr:abc", false},  // bad port
		{"smtp://:587", false},                 // no host
		{"smtps://smtp.example.fr:465", false}, // unknown scheme
		{"http://smtp.example.fr:25", false},   // not SMTP
		{"smtp.example.fr:25", false},          // no scheme
		{"::not a url", false},
	} {
		s, err := mail.NewSMTP(tc.url, "portail@example.fr")
		if tc.wantOK && (err != nil || s == nil) {
			t.Errorf("NewSMTP(%q) = %v, %v; want a sender", tc.url, s, err)
		}
		if !tc.wantOK && err == nil {
			t.Errorf("NewSMTP(%q) succeeded, want an error", tc.url)
		}
	}
}

func TestSMTP_Send(t *testing.T) {
	ctx := context.Background()

	t.Run("BadRecipientIsPermanent", func(t *testing.T) {
		s, err := mail.NewSMTP("smtp://127.0.0.1:1?tls=none", "portail@example.fr")
		if err != nil {
			t.Fatal(err)
		}
		err = s.Send(ctx, []mail.Message{{To: "pas une adresse", FromName: "Mairie", Subject: "s", Text: "t"}})[0]
		if err == nil || !mail.IsPermanent(err) {
			t.Fatalf("err = %v, want a permanent error", err)
		}
		if !mail.IsPermanent(fmt.Errorf("job: %w", err)) {
			t.Errorf("a wrapped permanent error is no longer permanent")
		}
	})

	t.Run("ServerDownIsTemporary", func(t *testing.T) {
		// A port just freed: nothing listens there.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		s, err := mail.NewSMTP("smtp://"+addr+"?tls=none", "portail@example.fr")
		if err != nil {
			t.Fatal(err)
		}
		errs := s.Send(ctx, []mail.Message{{To: "jean@exemple.fr", FromName: "Mairie", Subject: "s", Text: "t"},
			{To: "paul@exemple.fr", FromName: "Mairie", Subject: "s", Text: "t"}})
		for i, err := range errs {
			if err == nil || mail.IsPermanent(err) {
				t.Fatalf("err[%d] = %v, want a temporary error", i, err)
			}
		}
	})

	t.Run("SeveralOverOneConnection", func(t *testing.T) {
		box, err := catcher.Start("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer box.Close()
		s, err := mail.NewSMTP(box.URL(), "portail@example.fr")
		if err != nil {
			t.Fatal(err)
		}
		errs := s.Send(ctx, []mail.Message{
			{ID: "un@regie", To: "un.plusieurs@exemple.fr", FromName: "Mairie", Subject: "un", Text: "t"},
			{ID: "deux@regie", To: "pas une adresse", FromName: "Mairie", Subject: "deux", Text: "t"},
			{ID: "trois@regie", To: "trois.plusieurs@exemple.fr", FromName: "Mairie", Subject: "trois", Text: "t"},
		})
		if len(errs) != 3 || errs[0] != nil || !mail.IsPermanent(errs[1]) || errs[2] != nil {
			t.Fatalf("errors %v, want nil, a permanent one, nil", errs)
		}
		for _, want := range []struct{ to, subject string }{{"un.plusieurs@exemple.fr", "un"}, {"trois.plusieurs@exemple.fr", "trois"}} {
			if got := box.To(want.to); len(got) != 1 || got[0].Subject != want.subject {
				t.Errorf("mailbox of %s: %+v, want the message %q", want.to, got, want.subject)
			}
		}
	})
}

func TestIsPermanent(t *testing.T) {
	for _, err := range []error{nil, errors.New("mail: send: connection refused"), context.DeadlineExceeded} {
		if mail.IsPermanent(err) {
			t.Errorf("IsPermanent(%v) = true, want false", err)
		}
	}
}
