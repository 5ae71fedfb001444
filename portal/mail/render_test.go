package mail_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/regie/regie/portal/mail"
)

var common = mail.Common{
	Commune:   "Mairie de Démonstration",
	PortalURL: "https://demo.portail.example.fr/",
	Contact:   "accueil@demo.example.fr",
}

// samples holds filled data for every template, with the links each body
// must show.
var items = []mail.InvoiceItem{{Family: "Famille Martin", Series: "Restauration scolaire", Period: "octobre 2026",
	Reference: "2026-RS-00-8001517", Amount: "37,50\u00a0€", DueDate: "15/11/2026", URL: "https://demo.portail.example.fr/factures/42"}}

var samples = map[string]struct {
	data  any
	links []string
	// subject the mail's subject when it does not name the commune (the
	// sender's name does)
	subject string
}{
	"activation": {
		mail.LinkMail{Common: common, Link: "https://demo.portail.example.fr/activation/tok-act-123", Validity: "48 heures"},
		[]string{"https://demo.portail.example.fr/activation/tok-act-123"}, "",
	},
	"reset": {
		mail.LinkMail{Common: common, Link: "https://demo.portail.example.fr/mot-de-passe/tok-reset-456", Validity: "1 heure"},
		[]string{"https://demo.portail.example.fr/mot-de-passe/tok-reset-456"}, "",
	},
	"already_active": {
		mail.AlreadyActiveMail{Common: common, LoginURL: "https://demo.portail.example.fr/connexion", ResetURL: "https://demo.portail.example.fr/mot-de-passe-oublie"},
		[]string{"https://demo.portail.example.fr/connexion", "https://demo.portail.example.fr/mot-de-passe-oublie"}, "",
	},
	"invoices": {
		mail.InvoicesMail{Common: common, Subject: "Votre facture d'octobre 2026 est disponible", Invoices: items, ListURL: "https://demo.portail.example.fr/factures"},
		[]string{"https://demo.portail.example.fr/factures/42", "https://demo.portail.example.fr/factures"},
		"Votre facture d'octobre 2026 est disponible",
	},
	"invitation": {
		mail.InvitationMail{Common: common, Subject: "Votre facture d'octobre 2026 est disponible", Invoices: items,
			ActivationURL: "https://demo.portail.example.fr/activation?email=a%40b.fr"},
		[]string{"https://demo.portail.example.fr/activation?email=a%40b.fr"},
		"Votre facture d'octobre 2026 est disponible",
	},
	"staff_invitation": {
		mail.StaffInvitationMail{Common: common, Name: "Nadia", Role: "Agent", InvitedBy: "admin@demo.example.fr",
			Link: "https://demo.portail.example.fr/gestion/invitation/tok-inv-789", Validity: "7 jours"},
		[]string{"https://demo.portail.example.fr/gestion/invitation/tok-inv-789"}, "",
	},
	"receipt": {
		mail.ReceiptMail{Common: common, Reference: "2026-RS-00-8001517", Amount: "37,50\u00a0€", PaidAt: "25/11/2026 à 14h25",
			Numauto: "112233", InvoiceURL: "https://demo.portail.example.fr/factures/42"},
		[]string{"https://demo.portail.example.fr/factures/42"}, "",
	},
}

func TestNames(t *testing.T) {
	names := mail.Names()
	slices.Sort(names)
	if want := []string{"activation", "already_active", "invitation", "invoices", "receipt", "reset", "staff_invitation"}; !slices.Equal(names, want) {
		t.Fatalf("Names() = %v, want %v (layout is not a mail)", names, want)
	}
}

func TestRender(t *testing.T) {
	for _, name := range mail.Names() {
		t.Run(name, func(t *testing.T) {
			s, ok := samples[name]
			if !ok {
				t.Fatalf("no sample data for template %q: add one to samples", name)
			}
			r, err := mail.Render(name, s.data)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if r.Subject == "" || r.Text == "" || r.HTML == "" {
				t.Fatalf("subject %q, text %d bytes, html %d bytes: want all three", r.Subject, len(r.Text), len(r.HTML))
			}
			if strings.ContainsAny(r.Subject, "\r\n") || r.Subject != strings.TrimSpace(r.Subject) {
				t.Errorf("subject %q: want one trimmed line", r.Subject)
			}
			if s.subject != "" && r.Subject != s.subject {
				t.Errorf("subject %q, want %q", r.Subject, s.subject)
			}
			if s.subject == "" && !strings.Contains(r.Subject, common.Commune) {
				t.Errorf("subject %q does not name the commune", r.Subject)
			}
			for _, link := range s.links {
				if !strings.Contains(r.Text, link) {
					t.Errorf("text lacks %s:\n%s", link, r.Text)
				}
				if !strings.Contains(r.HTML, `href="`+link+`"`) {
					t.Errorf("html lacks a link to %s:\n%s", link, r.HTML)
				}
			}
			for part, body := range map[string]string{"text": r.Text, "html": r.HTML} {
				for _, want := range []string{common.Commune, common.PortalURL, common.Contact, "Bonjour"} {
					if !strings.Contains(body, want) {
						t.Errorf("%s lacks %q", part, want)
					}
				}
				if strings.Contains(body, "<no value>") {
					t.Errorf("%s shows a missing value:\n%s", part, body)
				}
			}
			if lm, ok := s.data.(mail.LinkMail); ok {
				if !strings.Contains(r.Text, lm.Validity) || !strings.Contains(r.HTML, lm.Validity) {
					t.Errorf("validity %q missing from text or html", lm.Validity)
				}
			}
			if !strings.HasPrefix(r.HTML, "<!doctype html>") {
				t.Errorf("html starts with %.40q, want the layout", r.HTML)
			}
		})
	}
}

func TestRender_NoContact(t *testing.T) {
	data := mail.LinkMail{Common: mail.Common{Commune: "Mairie de Sans-Contact", PortalURL: "https://sans.example.fr/"},
		Link: "https://sans.example.fr/activation/x", Validity: "48 heures"}
	r, err := mail.Render("activation", data)
	if err != nil {
		t.Fatal(err)
	}
	for part, body := range map[string]string{"text": r.Text, "html": r.HTML} {
		if strings.Contains(body, "Écrivez à") || strings.Contains(body, "mailto:") {
			t.Errorf("%s offers a contact the commune does not have:\n%s", part, body)
		}
	}
}

func TestRender_EscapesHTML(t *testing.T) {
	data := mail.LinkMail{Common: mail.Common{Commune: `Mairie <b>"Piégée"</b> & Cie`, PortalURL: "https://x.example.fr/"},
		Link: "https://x.example.fr/activation/a?b=1&c=2", Validity: "48 heures"}
	r, err := mail.Render("activation", data)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(r.HTML, "<b>") {
		t.Errorf("html carries the commune's name unescaped:\n%s", r.HTML)
	}
	if !strings.Contains(r.HTML, "&lt;b&gt;") || !strings.Contains(r.HTML, "a?b=1&amp;c=2") {
		t.Errorf("html lacks the escaped name or link:\n%s", r.HTML)
	}
	// Plain text is not HTML: it shows the name as typed.
	if !strings.Contains(r.Text, data.Commune) || !strings.Contains(r.Text, data.Link) {
		t.Errorf("text does not show the name and link as typed:\n%s", r.Text)
	}
}

func TestRender_Unknown(t *testing.T) {
	if _, err := mail.Render("layout", mail.LinkMail{}); err == nil {
		t.Error(`Render("layout") succeeded, want an error: the layout is not a mail`)
	}
	if _, err := mail.Render("nope", mail.LinkMail{}); err == nil {
		t.Error(`Render("nope") succeeded, want an error`)
	}
}

func TestRender_WrongData(t *testing.T) {
	// A LinkMail for the mail that needs a login URL is a programming
	// error, reported rather than sent half empty.
	if _, err := mail.Render("already_active", mail.LinkMail{Common: common}); err == nil {
		t.Error("already_active rendered with LinkMail, want an error")
	}
}
