package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/portal/mail/catcher"
)

// faultCluster is a throwaway PostgreSQL cluster a test may restart.
type faultCluster struct {
	t    *testing.T
	bin  string
	dir  string
	port int
	run  []string // runuser -u postgres -- when root (initdb refuses root)
}

// faultPostgres initialises and starts a cluster of the test's own from
// the installed binaries, as deploy/local/lib.sh's start_cluster does.
func faultPostgres(t *testing.T) *faultCluster {
	t.Helper()
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(dirs) == 0 {
		t.Fatal("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (deploy/local/test-env.sh installs them)")
	}
	sort.Strings(dirs)
	c := &faultCluster{t: t, bin: filepath.Dir(dirs[len(dirs)-1]), port: faultFreePort(t)}
	dir, err := os.MkdirTemp("", "regie-fault-pg-")
	if err != nil {
		t.Fatal(err)
	}
	c.dir = dir
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root without a postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		c.run = []string{"runuser", "-u", "postgres", "--"}
	}
	c.cmd("initdb", "-D", dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8")
	c.start()
	t.Cleanup(func() {
		c.cmd("pg_ctl", "-D", c.dir, "-m", "immediate", "-w", "stop")
		os.RemoveAll(c.dir)
	})
	return c
}

func (c *faultCluster) cmd(name string, args ...string) {
	c.t.Helper()
	argv := append(append(append([]string(nil), c.run...), filepath.Join(c.bin, name)), args...)
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		c.t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
}

func (c *faultCluster) options() string {
	return fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", c.port, c.dir)
}

func (c *faultCluster) start() {
	c.t.Helper()
	c.cmd("pg_ctl", "-D", c.dir, "-l", filepath.Join(c.dir, "server.log"), "-w", "-o", c.options(), "start")
}

// restart stops the server as an operator would (fast: sessions are cut,
// transactions in flight roll back) and starts it again.
func (c *faultCluster) restart() {
	c.t.Helper()
	c.cmd("pg_ctl", "-D", c.dir, "-l", filepath.Join(c.dir, "server.log"), "-m", "fast", "-w", "-o", c.options(), "restart")
}

func (c *faultCluster) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// TestFault_PostgresRestart restarts PostgreSQL under a light load of
// families, staff and the API, and while reset mails are being queued:
// while it is down, answers are the French "service momentanément
// indisponible" (never a 500 or a cut connection); within seconds of its
// return everything answers again, and every mail asked for before,
// during and after is sent once.
func TestFault_PostgresRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cl := faultPostgres(t)
	mig := exec.Command(faultBinary(t), "migrate")
	mig.Env = []string{"PATH=" + os.Getenv("PATH"), "REGIE_DATABASE_URL=" + cl.url()}
	if out, err := mig.CombinedOutput(); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	db, err := openDB(ctx, cl.url())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := &faultStack{t: t, secret: "fault-secret-fault-secret-fault-secret-42", dbURL: cl.url(), db: db}
	s.redis = faultRedisServer(t)
	if s.box, err = catcher.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.box.Close)
	s.sim = faultStartSim(t, "001964")
	s.fc = faultSeed(t, db, s.secret, "panne-pg", 4)
	addr := freeLocalAddr(t)
	s.port = addr[strings.LastIndex(addr, ":")+1:]
	s.env = append(faultServerEnv("http://localhost:"+s.port, s.dbURL, s.redis.redisURL(), "file://"+t.TempDir(),
		s.box.URL(), s.sim.url(), s.secret), "REGIE_LISTEN="+addr)
	s.serve = faultRegie(t, "serve", addr, s.env, "serve")

	load := startFaultLoad(t, "before", faultStandardProbes(s, 3)...)
	load.waitRequests(5, 60*time.Second)
	// a family asks for reset links all along: each request is a job and a
	// mail
	asker := newFaultClient(s.communeURL())
	fam := s.fc.families[3]
	var asked int
	ask := func() bool {
		st, body, err := asker.submit("/mot-de-passe-oublie", "/mot-de-passe-oublie", map[string][]string{"email": {fam.email}})
		if err == nil && (st == http.StatusSeeOther || st == http.StatusOK) && !faultUnavailablePage(st, body) {
			asked++
			return true
		}
		return false
	}
	for range 2 {
		if !ask() {
			t.Fatal("reset request refused before the restart")
		}
	}

	load.setPhase("restart")
	restartStart := time.Now()
	if faultSoak() {
		// a longer outage: stopped for 20 s, a reset asked meanwhile
		cl.cmd("pg_ctl", "-D", cl.dir, "-m", "fast", "-w", "stop")
		time.Sleep(10 * time.Second) // the outage itself
		if ask() {
			t.Error("a reset request was accepted while PostgreSQL was stopped")
		}
		time.Sleep(10 * time.Second) // the outage itself
		cl.start()
	} else {
		cl.restart()
	}
	restarted := time.Now()
	load.markRestored("recovery")
	worst := load.waitRecovered(30 * time.Second)
	load.setPhase("after")
	load.waitRequests(5, 60*time.Second)
	for range 2 {
		if !ask() {
			t.Error("reset request refused after the restart")
		}
	}
	load.finish()

	load.expect("before", true)
	load.expect("restart", false)
	load.expect("recovery", false)
	load.expect("after", true)
	if worst > 10*time.Second {
		t.Errorf("the last probe answered normally %s after PostgreSQL returned, want within seconds", worst)
	}
	// every mail once: the jobs went on after the restart
	resets := func() int {
		n := 0
		for _, m := range s.box.To(fam.email) {
			if strings.HasPrefix(m.Subject, "Nouveau mot de passe") {
				n++
			}
		}
		return n
	}
	faultEventually(t, 60*time.Second, "every reset mail sent", func() (bool, string) {
		return resets() >= asked, fmt.Sprintf("%d of %d", resets(), asked)
	})
	faultEventually(t, 10*time.Second, "no job left to work", func() (bool, string) {
		var n int
		err := db.Get(&n, `SELECT count(*) FROM river_job WHERE state NOT IN ('completed', 'cancelled', 'discarded', 'scheduled')`)
		return err == nil && n == 0, fmt.Sprintf("%d jobs, %v", n, err)
	})
	if n := resets(); n != asked {
		t.Errorf("%d reset mails for %d requests", n, asked)
	}
	if got := s.invoiceStatus(s.fc.families[0].invoices[0]); got != billing.Published {
		t.Errorf("invoice status after the restart: %s", got)
	}
	for _, ph := range []string{"before", "restart", "recovery", "after"} {
		tl := load.tally(ph)
		t.Logf("PostgreSQL %s: %d requests, %d ok, %d unavailable, %d failed (%s)", ph, tl.requests, tl.ok, tl.unavailable, tl.failed, load.report(ph))
	}
	t.Logf("PostgreSQL restart took %s; every probe answered normally within %s of its return; %d reset mails sent once each",
		restarted.Sub(restartStart).Round(time.Millisecond), worst.Round(time.Millisecond), asked)
}
