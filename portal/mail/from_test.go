package mail_test

import (
	"context"
	"testing"
	"time"

	"github.com/regie/regie/portal/mail"
	"github.com/regie/regie/portal/mail/catcher"
)

// TestSMTP_SendFromAnyCommuneName: the commune's name is the sender's
// display name, whatever it holds (found by TestAbuse_HTMLInjection: a
// quote in the name made every mail of the commune fail for ever).
func TestSMTP_SendFromAnyCommuneName(t *testing.T) {
	box, err := catcher.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	s, err := mail.NewSMTP(box.URL(), "portail@example.fr")
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{
		`Mairie de "Les Ormes"`,
		`Mairie d'Évry — Courcouronnes`,
		`"'><script>alert(1)</script>`,
		`Mairie <de> Test, \ ; @ example`,
	} {
		to := "famille" + string(rune('a'+i)) + "@example.fr"
		if err := s.Send(context.Background(), []mail.Message{{To: to, FromName: name, ReplyTo: "accueil@example.fr", Subject: "s", Text: "t"}})[0]; err != nil {
			t.Errorf("from %q: %v", name, err)
			continue
		}
		deadline := time.Now().Add(5 * time.Second)
		for len(box.To(to)) == 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		got := box.To(to)
		if len(got) != 1 || got[0].FromName != name {
			t.Errorf("from %q: caught %+v", name, got)
		}
	}
}
