package dgfipsim

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestNotification(t *testing.T) {
	t.Run("DefaultFormPOST", func(t *testing.T) {
		e := newEnv(t)
		id := e.create(t, "urlnotif", e.rcv.srv.URL+"/notification?commune=demo")
		e.payByCard(t, id, CardAccepted)
		got := e.rcv.wait(t, 1)[0]
		if got.Method != http.MethodPost || got.Path != "/notification" || got.Query.Get("commune") != "demo" {
			t.Errorf("request %s %s?%s", got.Method, got.Path, got.Query.Encode())
		}
		if ct := got.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
			t.Errorf("Content-Type %q", ct)
		}
		// The operation id only, never the result.
		if len(got.Form) != 1 || got.Form.Get("idOp") != id {
			t.Errorf("form %v, want only idOp=%s", got.Form, id)
		}
	})

	t.Run("LowercaseNameByGET", func(t *testing.T) {
		e := newEnv(t, func(o *Options) { o.Notify = NotifyOptions{Param: "idop", Method: "GET"} })
		id := e.create(t, "urlnotif", e.rcv.srv.URL+"/notification?commune=demo")
		if err := e.sim.Complete(id, "R"); err != nil {
			t.Fatal(err)
		}
		got := e.rcv.wait(t, 1)[0]
		if got.Method != http.MethodGet || got.Query.Get("idop") != id || got.Query.Get("commune") != "demo" || len(got.Query) != 2 {
			t.Errorf("request %s ?%s", got.Method, got.Query.Encode())
		}
	})

	t.Run("Duplicates", func(t *testing.T) {
		e := newEnv(t, func(o *Options) { o.Notify.Duplicates = 2 })
		id := e.create(t)
		e.sim.Complete(id, "P")
		for _, r := range e.rcv.wait(t, 3) {
			if r.Form.Get("idOp") != id {
				t.Errorf("copy with %v", r.Form)
			}
		}
		e.sim.Close()
		if n := len(e.rcv.all()); n != 3 {
			t.Errorf("%d notifications, want 3", n)
		}
		if s := e.sim.Stats(); s.Notifications != 3 {
			t.Errorf("Stats.Notifications %d", s.Notifications)
		}
	})

	t.Run("Delayed", func(t *testing.T) {
		const delay = 300 * time.Millisecond
		e := newEnv(t)
		e.sim.SetNotify(NotifyOptions{Delay: delay})
		id := e.create(t)
		start := time.Now()
		e.sim.Complete(id, "P")
		if n := len(e.rcv.all()); n != 0 {
			t.Fatalf("%d notifications right after the payment", n)
		}
		got := e.rcv.wait(t, 1)[0]
		if d := got.At.Sub(start); d < delay {
			t.Errorf("arrived after %v, want at least %v", d, delay)
		}
	})

	t.Run("Lost", func(t *testing.T) {
		e := newEnv(t, func(o *Options) { o.Notify.Lose = true })
		id := e.create(t)
		p := e.payByCard(t, id, CardAccepted)
		if p.Status != http.StatusSeeOther {
			t.Fatalf("status %d", p.Status)
		}
		e.sim.Close() // waits for anything in flight
		if n := len(e.rcv.all()); n != 0 {
			t.Errorf("%d notifications, want none", n)
		}
		if s := e.sim.Stats(); s.DeliveriesLost != 1 || s.Notifications != 0 {
			t.Errorf("stats %+v", s)
		}
		// The result is known all the same.
		if f, _ := e.lookup(t, id); f["resultrans"] != "P" {
			t.Errorf("lookup %v", f)
		}
	})

	t.Run("CloseDropsWaitingDeliveries", func(t *testing.T) {
		e := newEnv(t, func(o *Options) { o.Notify.Delay = time.Hour })
		e.sim.Complete(e.create(t), "P")
		done := make(chan struct{})
		go func() { e.sim.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Close waited for an hour-long delay")
		}
		if s := e.sim.Stats(); s.DeliveriesLost != 1 {
			t.Errorf("DeliveriesLost %d", s.DeliveriesLost)
		}
	})

	t.Run("FailureCounted", func(t *testing.T) {
		e := newEnv(t)
		e.rcv.srv.Close()
		e.sim.Complete(e.create(t), "P")
		e.sim.Close()
		if s := e.sim.Stats(); s.DeliveryErrors != 1 || s.Notifications != 1 {
			t.Errorf("stats %+v", s)
		}
	})

	t.Run("LocalhostSubdomain", func(t *testing.T) {
		// Go's resolver does not know paiement.localhost: the default client must.
		e := newEnv(t)
		_, port, _ := net.SplitHostPort(strings.TrimPrefix(e.rcv.srv.URL, "http://"))
		id := e.create(t, "urlnotif", "http://paiement.localhost:"+port+"/notification")
		e.sim.Complete(id, "P")
		got := e.rcv.wait(t, 1)[0]
		if got.Host != "paiement.localhost:"+port || got.Form.Get("idOp") != id {
			t.Errorf("Host %q form %v", got.Host, got.Form)
		}
	})
}

func TestComplete_Errors(t *testing.T) {
	e := newEnv(t)
	id := e.create(t)
	for _, tc := range []struct {
		id, result string
		want       error
	}{
		{"cc0cb210-1cd4-11ea-8cca-0213ad91a103", "P", ErrNotFound},
		{id, "X", ErrResult},
		{id, "", ErrResult},
	} {
		if err := e.sim.Complete(tc.id, tc.result); !errors.Is(err, tc.want) {
			t.Errorf("Complete(%q, %q) = %v, want %v", tc.id, tc.result, err, tc.want)
		}
	}
	if err := e.sim.Complete(id, "A"); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.Complete(id, "V"); err != nil {
		t.Errorf("V after A: %v", err)
	}
	if err := e.sim.Complete(id, "P"); !errors.Is(err, ErrFinished) {
		t.Errorf("P after V: %v, want ErrFinished", err)
	}
	// Complete ignores the page's clock rules.
	late := e.create(t)
	e.clock.Add(2 * time.Hour)
	if err := e.sim.Complete(late, "P"); err != nil {
		t.Errorf("late Complete: %v", err)
	}
}

func TestWithQuery(t *testing.T) {
	for in, want := range map[string]string{
		"https://a.fr/retour":           "https://a.fr/retour?idop=X",
		"https://a.fr/retour?x=1":       "https://a.fr/retour?x=1&idop=X",
		"https://a.fr/retour?":          "https://a.fr/retour?idop=X",
		"https://a.fr/retour?x=1#frag":  "https://a.fr/retour?x=1&idop=X#frag",
		"https://a.fr/r?b=%C3%A9&a=2&c": "https://a.fr/r?b=%C3%A9&a=2&c&idop=X",
	} {
		if got := withQuery(in, "idop=X"); got != want {
			t.Errorf("withQuery(%q) = %q, want %q", in, got, want)
		}
		if _, err := url.Parse(withQuery(in, "idop=X")); err != nil {
			t.Error(err)
		}
	}
}
