package catcher

import (
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name      string
		raw       string
		want      Message
		wantError bool
	}{
		{
			name: "PlainText",
			raw: "From: portail@example.fr\r\nSubject: Bonjour\r\nMessage-Id: <1@x>\r\n\r\n" +
				"Un message simple.\r\n",
			want: Message{From: "portail@example.fr", Subject: "Bonjour", MessageID: "<1@x>", Text: "Un message simple.\r\n"},
		},
		{
			name: "AlternativeQuotedPrintableAndBase64",
			raw: "From: =?UTF-8?q?Mairie_de_D=C3=A9monstration?= <portail@example.fr>\r\n" +
				"Reply-To: \"Mairie\" <accueil@demo.example.fr>\r\n" +
				"Subject: =?UTF-8?q?Activez_votre_compte_=E2=80=94_D=C3=A9monstration?=\r\n" +
				"MIME-Version: 1.0\r\n" +
				"Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n" +
				"--b1\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
				"Bonjour, voici le lien : https://demo.example.fr/activation/un-jeton-tr=\r\n=C3=A8s-long=3D\r\n" +
				"--b1\r\nContent-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
				"PHA+QsOpbsOpZGljdGlvbjwvcD4=\r\n" +
				"--b1--\r\n",
			want: Message{From: "portail@example.fr", FromName: "Mairie de Démonstration", ReplyTo: "accueil@demo.example.fr",
				Subject: "Activez votre compte — Démonstration",
				Text:    "Bonjour, voici le lien : https://demo.example.fr/activation/un-jeton-très-long=",
				HTML:    "<p>Bénédiction</p>"},
		},
		{
			name: "NestedMixedWithAttachment",
			raw: "From: a@example.fr\r\nSubject: s\r\nContent-Type: multipart/mixed; boundary=out\r\n\r\n" +
				"--out\r\nContent-Type: multipart/alternative; boundary=in\r\n\r\n" +
				"--in\r\nContent-Type: text/plain\r\n\r\ntexte\r\n--in\r\nContent-Type: text/html\r\n\r\n<b>html</b>\r\n--in--\r\n" +
				"--out\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--out--\r\n",
			want: Message{From: "a@example.fr", Subject: "s", Text: "texte", HTML: "<b>html</b>"},
		},
		{
			name:      "NotAMessage",
			raw:       "ceci n'est pas un en-tête\r\n\r\ncorps",
			wantError: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decode([]byte(tc.raw))
			if tc.wantError {
				if err == nil {
					t.Fatalf("decode = %+v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			for _, f := range []struct{ name, got, want string }{
				{"From", got.From, tc.want.From},
				{"FromName", got.FromName, tc.want.FromName},
				{"ReplyTo", got.ReplyTo, tc.want.ReplyTo},
				{"Subject", got.Subject, tc.want.Subject},
				{"MessageID", got.MessageID, tc.want.MessageID},
				{"Text", strings.TrimRight(got.Text, "\r\n"), strings.TrimRight(tc.want.Text, "\r\n")},
				{"HTML", strings.TrimRight(got.HTML, "\r\n"), strings.TrimRight(tc.want.HTML, "\r\n")},
			} {
				if f.got != f.want {
					t.Errorf("%s = %q, want %q", f.name, f.got, f.want)
				}
			}
		})
	}
}
