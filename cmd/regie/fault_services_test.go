package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/payments/dgfipsim"
)

// TestFault_SMTPOutage stops the SMTP server while a publication and
// reset requests queue mails: the send jobs fail and retry, and once the
// server is back every mail arrives exactly once and is recorded sent.
func TestFault_SMTPOutage(t *testing.T) {
	t.Parallel()
	outage := 3 * time.Second
	if faultSoak() {
		outage = 12 * time.Second
	}
	s := newFaultStack(t, "panne-smtp", 2)
	// the stack's own publication mails first
	faultEventually(t, 60*time.Second, "the first publication's mails", func() (bool, string) {
		return len(s.box.Messages()) >= 2, fmt.Sprintf("%d mails", len(s.box.Messages()))
	})
	before := len(s.box.Messages())

	s.box.Stop()
	down := time.Now()
	// a second commune publishes 20 invoices and two families ask for a
	// reset link while SMTP is down
	second := faultSeed(t, s.db, s.secret, "panne-smtp-b", 20)
	for i := range 2 {
		c := newFaultClient(s.communeURL())
		st, body, err := c.submit("/mot-de-passe-oublie", "/mot-de-passe-oublie", url.Values{"email": {s.fc.families[i].email}})
		if err != nil || st != http.StatusSeeOther && st != http.StatusOK {
			t.Fatalf("reset request during the SMTP outage: %d %v\n%s", st, err, faultExcerpt(body))
		}
	}
	want := 22
	faultEventually(t, 60*time.Second, "send attempts failing while SMTP is down", func() (bool, string) {
		var failed int
		err := s.db.Get(&failed, `SELECT count(*) FROM mails WHERE state <> 'sent' AND attempts > 0`)
		return err == nil && failed >= want, fmt.Sprintf("%d mails failed once (%v)", failed, err)
	})
	for time.Since(down) < outage {
		time.Sleep(100 * time.Millisecond) // the outage lasts as long as the scenario says
	}
	if err := s.box.Restart(); err != nil {
		t.Fatal(err)
	}
	restored := time.Now()
	faultEventually(t, 3*time.Minute, "every mail sent after the restart", func() (bool, string) {
		var unsent int
		err := s.db.Get(&unsent, `SELECT count(*) FROM mails WHERE state <> 'sent'`)
		return err == nil && unsent == 0 && len(s.box.Messages()) >= before+want,
			fmt.Sprintf("%d unsent (%v), %d caught", unsent, err, len(s.box.Messages()))
	})
	recovered := time.Since(restored)
	time.Sleep(2 * time.Second) // time for a duplicate to show
	byID := map[string]int{}
	for _, m := range s.box.Messages() {
		byID[m.MessageID]++
	}
	for id, n := range byID {
		if n != 1 {
			t.Errorf("mail %s delivered %d times", id, n)
		}
	}
	if got := len(s.box.Messages()); got != before+want {
		t.Errorf("%d mails caught, want %d", got, before+want)
	}
	for _, f := range second.families {
		if n := len(s.box.To(f.email)); n != 1 {
			t.Errorf("%s got %d mails, want its one publication mail", f.email, n)
		}
	}
	var attempts int
	s.db.Get(&attempts, `SELECT coalesce(sum(attempts), 0) FROM mails`) //nolint:errcheck // a figure for the log
	t.Logf("SMTP down %s: %d mails queued meanwhile, all sent once %s after its return (%d send attempts in all); lost 0, duplicated 0",
		outage, want, recovered.Round(time.Millisecond), attempts)
}

// TestFault_DGFiPOutage stops the DGFiP stand-in after a payer paid (the
// notification lost), then makes it slow. While it is down, the payer's
// return says the payment is in progress, "Tester l'accès au portail
// TIPI" and "Accès à l'écran de paiement" say DGFiP does not answer, and
// the other pages are untouched; after its return the payment settles by
// itself and payments start again. A slow DGFiP slows payments only.
func TestFault_DGFiPOutage(t *testing.T) {
	t.Parallel()
	outage, latency := 3*time.Second, 2*time.Second
	if faultSoak() {
		outage, latency = 30*time.Second, 8*time.Second
	}
	s := newFaultStack(t, "panne-dgfip", 5)
	payer, other := s.family(3), s.family(4)
	payerInv, otherInv := s.fc.families[3].invoices[0], s.fc.families[4].invoices[0]
	s.sim.SetNotify(dgfipsim.NotifyOptions{Lose: true})
	idOp := s.startPayment(payer, payerInv)
	if err := s.sim.Complete(idOp, "P"); err != nil {
		t.Fatal(err)
	}
	load := startFaultLoad(t, "before", faultStandardProbes(s, 3)...)
	load.waitRequests(3, 60*time.Second)

	load.setPhase("outage")
	s.sim.stop()
	down := time.Now()
	st, body, err := payer.do(http.MethodGet, "/paiement/retour?idop="+url.QueryEscape(idOp), nil)
	if err != nil || st != http.StatusOK || !strings.Contains(body, "Paiement en cours") {
		t.Errorf("the payer's return while DGFiP is down: %d %v\n%s", st, err, faultExcerpt(body))
	}
	testPage := fmt.Sprintf("/factures/%d/tipi/test", otherInv)
	st, body, err = other.do(http.MethodGet, testPage, nil)
	if err != nil || st != http.StatusOK || !strings.Contains(body, "ne répond pas pour le moment") {
		t.Errorf("Tester l'accès au portail TIPI while DGFiP is down: %d %v\n%s", st, err, faultExcerpt(body))
	}
	_, page, _ := other.do(http.MethodGet, fmt.Sprintf("/factures/%d/tipi", otherInv), nil)
	m := csrfRe.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no payment form:\n%s", faultExcerpt(page))
	}
	st, body, err = other.do(http.MethodPost, fmt.Sprintf("/factures/%d/paiement", otherInv), url.Values{"csrf_token": {m[1]}})
	if err != nil || st != http.StatusServiceUnavailable || !strings.Contains(body, "ne répond pas pour le moment") {
		t.Errorf("Accès à l'écran de paiement while DGFiP is down: %d %v\n%s", st, err, faultExcerpt(body))
	}
	for time.Since(down) < outage {
		time.Sleep(100 * time.Millisecond) // the outage lasts as long as the scenario says
	}
	load.waitRequests(3, 60*time.Second)

	s.sim.start(t)
	load.setPhase("recovered")
	settled := faultEventually(t, 2*time.Minute, "the payment settled after DGFiP's return", func() (bool, string) {
		got := s.invoiceStatus(payerInv)
		return got == billing.Paid, string(got)
	})
	available := faultEventually(t, 30*time.Second, "Tester l'accès au portail TIPI saying DGFiP answers", func() (bool, string) {
		_, body, err := other.do(http.MethodGet, testPage, nil)
		return err == nil && strings.Contains(body, "MAIRIE DE PANNEVILLE"), faultExcerpt(body)
	})

	// a slow DGFiP: payments take longer, nothing else does
	load.setPhase("slow")
	s.sim.SetLatency(latency)
	began := time.Now()
	s.startPayment(other, otherInv)
	if took := time.Since(began); took < latency {
		t.Errorf("a payment started in %s with DGFiP answering in %s", took, latency)
	}
	s.sim.SetLatency(0)
	load.waitRequests(3, 60*time.Second)
	load.finish()

	load.expect("before", true)
	load.expect("outage", true)
	load.expect("recovered", true)
	load.expect("slow", true)
	for _, ph := range []string{"before", "outage", "recovered", "slow"} {
		tl := load.tally(ph)
		t.Logf("DGFiP %s: %d requests, %d ok, %d unavailable, %d failed", ph, tl.requests, tl.ok, tl.unavailable, tl.failed)
	}
	t.Logf("DGFiP down %s: the payment paid during the outage settled %s after its return, the access test said available after %s; "+
		"with %s of latency payments started, other pages unaffected; lost 0", outage, settled.Round(time.Millisecond),
		available.Round(time.Millisecond), latency)
}
