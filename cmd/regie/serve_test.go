package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/regie/regie/migrations/dbtest"
	"github.com/regie/regie/tenant"
	"github.com/regie/regie/tenant/tenanttest"
)

// TestServe_BootsAndShutsDown boots the wired product on a free port, asks a
// commune's page through its host name, and stops it as SIGTERM would.
func TestServe_BootsAndShutsDown(t *testing.T) {
	c := tenanttest.MustCreate(t, dbtest.DB(t), "boot", func(t *tenant.Tenant) { t.Name = "Mairie de Bootville" })
	cfg, err := loadConfig(envOf(testServerEnv(t)), needServer)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := newApp(ctx, cfg, io.Discard, appOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.serveHTTP(ctx, ln) }()

	port := ln.Addr().(*net.TCPAddr).Port
	client := &http.Client{Transport: &http.Transport{DialContext: tenant.DialLocalhost}, Timeout: 5 * time.Second}
	res, err := client.Get("http://" + c.Slug + ".localhost:" + strconv.Itoa(port) + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), "Mairie de Bootville") {
		t.Fatalf("GET /: %d %s", res.StatusCode, body)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("shutdown: %v", err)
		}
	case <-time.After(25 * time.Second):
		t.Fatal("server did not stop")
	}
}

// TestNewApp_Connections: a process that works jobs may open maxConns
// connections to PostgreSQL; one that only serves pages, webConns: fewer on
// a machine of fewer than 5 cores.
func TestNewApp_Connections(t *testing.T) {
	cfg, err := loadConfig(envOf(testServerEnv(t)), needServer)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOMAXPROCS(0) < 5 && webConns() >= maxConns {
		t.Errorf("%d cores: a web-only process may open %d connections, as many as one that works jobs", runtime.GOMAXPROCS(0), webConns())
	}
	for _, work := range []bool{false, true} {
		a, err := newApp(context.Background(), cfg, io.Discard, appOptions{work: work})
		if err != nil {
			t.Fatal(err)
		}
		want := maxConns
		if !work {
			want = webConns()
		}
		if got := a.db.Stats().MaxOpenConnections; got != want {
			t.Errorf("work %v: %d connections at most, want %d", work, got, want)
		}
		a.close()
	}
}

// testServerEnv is the environment of a server on the package's test
// database and Redis, with a folder document store of the test's own.
func testServerEnv(t *testing.T) map[string]string {
	env := validServerEnv()
	env["REGIE_BASE_URL"] = "http://localhost:8080"
	env["REGIE_DATABASE_URL"] = dbtest.URL(t)
	env["REGIE_REDIS_URL"] = dbtest.RedisURL(t)
	env["REGIE_STORAGE_URL"] = "file://" + t.TempDir()
	return env
}

// startApp wires the product from env, lets prepare adjust it (nil for
// none), and serves it on a free port of 127.0.0.1 until the test ends.
// It returns the app and the address it listens on.
func startApp(t *testing.T, env map[string]string, prepare func(*app)) (*app, string) {
	t.Helper()
	cfg, err := loadConfig(envOf(env), needServer)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := newApp(ctx, cfg, io.Discard, appOptions{})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if prepare != nil {
		prepare(a)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		a.close()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.serveHTTP(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-done
		a.close()
	})
	return a, ln.Addr().String()
}
