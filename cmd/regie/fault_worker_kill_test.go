package main

import (
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// faultSlowSMTP is a TCP relay to an SMTP server that waits before each
// connection, so that mail jobs stay in flight long enough for a kill to
// find some running.
type faultSlowSMTP struct {
	ln    net.Listener
	delay time.Duration
	to    string
	wg    sync.WaitGroup
}

func faultStartSlowSMTP(t *testing.T, to string, delay time.Duration) *faultSlowSMTP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultSlowSMTP{ln: ln, delay: delay, to: to}
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Go(func() {
				defer c.Close()
				time.Sleep(p.delay) // a slow mail server, on purpose
				up, err := net.Dial("tcp", p.to)
				if err != nil {
					return
				}
				defer up.Close()
				go io.Copy(up, c) //nolint:errcheck // ends when either side closes
				io.Copy(c, up)    //nolint:errcheck // ends when either side closes
			})
		}
	})
	t.Cleanup(func() { ln.Close() })
	return p
}

func (p *faultSlowSMTP) url() string { return "smtp://" + p.ln.Addr().String() + "?tls=none" }

// TestFault_WorkerKilled kills (-9) the only worker while it sends a
// publication's mails and reset links, then starts another: every job ends
// completed once, every mail is delivered, and none twice unless the kill
// fell between the SMTP server's acceptance and the job's record (the one
// duplicate an at-least-once mail queue cannot rule out; counted, and
// allowed only for mails caught before the kill whose job was running).
func TestFault_WorkerKilled(t *testing.T) {
	t.Parallel()
	mails := 120
	if faultSoak() {
		mails = 600
	}
	dbURL, db, rd, box := faultServices(t)
	slow := faultStartSlowSMTP(t, box.Addr(), 150*time.Millisecond)
	sim := faultStartSim(t, "001964")
	secret := "fault-secret-fault-secret-fault-secret-42"
	faultSeed(t, db, secret, "panne-kill", 2)
	webAddr, w1Addr, w2Addr := freeLocalAddr(t), freeLocalAddr(t), freeLocalAddr(t)
	env := append(faultServerEnv("http://localhost:"+webAddr[strings.LastIndex(webAddr, ":")+1:], dbURL, rd.redisURL(),
		"file://"+t.TempDir(), slow.url(), sim.url(), secret), "REGIE_JOB_RESCUE_AFTER=10s")
	faultRegie(t, "web", webAddr, append(env, "REGIE_LISTEN="+webAddr), "serve", "--web-only")
	w1 := faultRegie(t, "worker-1", w1Addr, env, "worker", "--listen", w1Addr)
	faultEventually(t, 60*time.Second, "the first publication's mails", func() (bool, string) {
		return len(box.Messages()) >= 2, fmt.Sprintf("%d mails", len(box.Messages()))
	})

	// a big publication: one job, then mail jobs of up to 50 families
	second := faultSeed(t, db, secret, "panne-kill-b", mails)
	faultEventually(t, 2*time.Minute, "a part of the mails sent", func() (bool, string) {
		n := len(box.Messages()) - 2
		return n >= mails/5, fmt.Sprintf("%d of %d", n, mails)
	})
	w1.stop(syscall.SIGKILL)
	killedAt := time.Now()
	caught := map[string]bool{}
	for _, m := range box.Messages() {
		caught[strings.Trim(m.MessageID, "<>")] = true
	}
	var running []int64
	if err := db.Select(&running, `SELECT id FROM river_job WHERE state = 'running' ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	var inFlight []int64 // mails whose send job was running at the kill
	if err := db.Select(&inFlight, `SELECT jsonb_array_elements_text(args->'mail_ids')::bigint FROM river_job
		WHERE state = 'running' AND kind = 'mail.send'`); err != nil {
		t.Fatal(err)
	}
	sentBefore := len(caught) - 2

	faultRegie(t, "worker-2", w2Addr, env, "worker", "--listen", w2Addr)
	recovered := faultEventually(t, 3*time.Minute, "every job completed after the new worker started", func() (bool, string) {
		var open, unsent int
		err := db.Get(&open, `SELECT count(*) FROM river_job WHERE state IN ('available', 'running', 'retryable', 'pending')
			AND kind IN ('mail.send', 'billing.invoices_published', 'account.link_request')`)
		if err == nil {
			err = db.Get(&unsent, `SELECT count(*) FROM mails WHERE state <> 'sent'`)
		}
		return err == nil && open == 0 && unsent == 0, fmt.Sprintf("%d jobs open, %d mails unsent (%v)", open, unsent, err)
	})
	time.Sleep(2 * time.Second) // time for a duplicate to show

	var states []struct {
		Kind  string `db:"kind"`
		State string `db:"state"`
		N     int    `db:"n"`
	}
	if err := db.Select(&states, `SELECT kind, state::text AS state, count(*) AS n FROM river_job
		WHERE kind IN ('mail.send', 'billing.invoices_published', 'account.link_request') GROUP BY 1, 2 ORDER BY 1, 2`); err != nil {
		t.Fatal(err)
	}
	for _, s := range states {
		if s.State != "completed" {
			t.Errorf("%d %s jobs ended %s", s.N, s.Kind, s.State)
		}
	}
	var mailIDs []struct {
		Tenant int64 `db:"tenant_id"`
		ID     int64 `db:"id"`
	}
	if err := db.Select(&mailIDs, `SELECT tenant_id, id FROM mails ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	delivered := map[string]int{}
	for _, m := range box.Messages() {
		delivered[strings.Trim(m.MessageID, "<>")]++
	}
	flight := map[int64]bool{}
	for _, id := range inFlight {
		flight[id] = true
	}
	duplicates := 0
	for _, m := range mailIDs {
		id := fmt.Sprintf("mail-%d-%d@regie", m.Tenant, m.ID)
		switch n := delivered[id]; {
		case n == 0:
			t.Errorf("mail %s never delivered", id)
		case n == 2 && flight[m.ID] && caught[id]:
			duplicates++ // accepted by SMTP, then killed before the record
			var st struct {
				State    string `db:"state"`
				Attempts int    `db:"attempts"`
			}
			db.Get(&st, `SELECT state, attempts FROM mails WHERE id = $1`, m.ID) //nolint:errcheck // for the log
			t.Logf("mail %s delivered twice: %+v", id, st)
		case n > 1:
			t.Errorf("mail %s delivered %d times", id, n)
		}
	}
	if len(mailIDs) != mails+2 {
		t.Errorf("%d mails stored, want %d", len(mailIDs), mails+2)
	}
	for _, f := range second.families {
		if len(box.To(f.email)) == 0 {
			t.Errorf("%s got no publication mail", f.email)
		}
	}
	t.Logf("worker killed (-9) after %d of %d mails, %d jobs running (%d mails in flight); a new worker finished everything %s after the kill "+
		"(%s after its start); lost 0; delivered twice %d (sent, then killed before the record)",
		sentBefore, mails, len(running), len(inFlight), time.Since(killedAt).Round(time.Second), recovered.Round(time.Second), duplicates)
}
