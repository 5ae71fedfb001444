package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/regie/regie/migrations/dbtest"
	"github.com/regie/regie/tenant/tenanttest"
)

// TestServe_SlowClients boots the wired server with short timeouts and
// plays the clients that hold connections open: headers sent a byte at a
// time (slowloris), a body that never ends, a response never read, a
// connection left idle; and headers too large. Each is cut near its limit
// while the server keeps answering others.
func TestServe_SlowClients(t *testing.T) {
	tn := tenanttest.MustCreate(t, dbtest.DB(t), "lent")
	// One route of the test's own streams a response far larger than the
	// kernel's buffers, to a client that never reads it.
	writeFailed := make(chan time.Duration, 1)
	_, addr := startApp(t, testServerEnv(t), func(a *app) {
		a.limits = httpLimits{readHeader: 300 * time.Millisecond, read: time.Second, write: time.Second, idle: 500 * time.Millisecond,
			maxHeaderBytes: defaultHTTPLimits.maxHeaderBytes}
		portal := a.handler
		a.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/_test/flot" {
				portal.ServeHTTP(w, r)
				return
			}
			start := time.Now()
			chunk := make([]byte, 1<<20)
			for range 1024 {
				if _, err := w.Write(chunk); err != nil {
					writeFailed <- time.Since(start)
					return
				}
			}
			writeFailed <- -1
		})
	})
	dial := func(t *testing.T) net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// closedAfter reads until the server closes c (or 10 s pass) and
	// returns how long that took and what was read.
	closedAfter := func(c net.Conn, start time.Time) (time.Duration, string) {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		b, _ := io.ReadAll(c)
		return time.Since(start), string(b)
	}
	within := func(t *testing.T, what string, got, lo, hi time.Duration) {
		t.Helper()
		if got < lo || got > hi {
			t.Fatalf("%s after %s, want between %s and %s", what, got.Round(time.Millisecond), lo, hi)
		}
		t.Logf("%s after %s", what, got.Round(time.Millisecond))
	}

	t.Run("SlowHeaders", func(t *testing.T) {
		c := dial(t)
		start := time.Now()
		go func() {
			fmt.Fprint(c, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
			for i := 0; ; i++ {
				time.Sleep(50 * time.Millisecond)
				if _, err := fmt.Fprintf(c, "X-Lent-%d: a\r\n", i); err != nil {
					return
				}
			}
		}()
		took, got := closedAfter(c, start)
		within(t, "headers sent a line every 50 ms: connection closed", took, 250*time.Millisecond, 2*time.Second)
		if strings.Contains(got, "200 OK") {
			t.Fatalf("the server answered a request whose headers never ended: %q", got)
		}
	})

	t.Run("EndlessBody", func(t *testing.T) {
		c := dial(t)
		start := time.Now()
		// the commune's login form: the CSRF check reads the body
		fmt.Fprint(c, "POST /connexion HTTP/1.1\r\nHost: "+tn.Slug+".localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\nemail=")
		go func() {
			for {
				time.Sleep(50 * time.Millisecond)
				if _, err := c.Write([]byte("a")); err != nil {
					return
				}
			}
		}()
		took, _ := closedAfter(c, start)
		within(t, "a body sent a byte every 50 ms: connection closed", took, 900*time.Millisecond, 3*time.Second)
	})

	t.Run("ResponseNeverRead", func(t *testing.T) {
		c := dial(t)
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetReadBuffer(4 << 10)
		}
		fmt.Fprint(c, "GET /_test/flot HTTP/1.1\r\nHost: localhost\r\n\r\n")
		select {
		case took := <-writeFailed:
			if took < 0 {
				t.Fatal("1 GiB written to a client that reads nothing")
			}
			within(t, "a response never read: the server's write failed", took, 900*time.Millisecond, 3*time.Second)
		case <-time.After(10 * time.Second):
			t.Fatal("the server is still writing to a client that reads nothing")
		}
	})

	t.Run("Idle", func(t *testing.T) {
		c := dial(t)
		fmt.Fprint(c, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
		br := bufio.NewReader(c)
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || res.Close {
			t.Fatalf("healthz: %d, close %v", res.StatusCode, res.Close)
		}
		start := time.Now()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err = br.ReadByte()
		took := time.Since(start)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("an idle kept-alive connection was not closed in 10 s")
		}
		within(t, "kept-alive connection idle: closed", took, 400*time.Millisecond, 2*time.Second)
	})

	t.Run("HugeHeaders", func(t *testing.T) {
		c := dial(t)
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: localhost\r\nCookie: %s\r\n\r\n", strings.Repeat("a", 200<<10))
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("200 KiB of headers: %d, want 431", res.StatusCode)
		}
	})

	t.Run("OthersStillServed", func(t *testing.T) {
		res, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("healthz: %d", res.StatusCode)
		}
	})
}
