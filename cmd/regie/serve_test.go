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
	// a process that only serves pages opens fewer connections (webConns)
	if got, want := a.db.Stats().MaxOpenConnections, min(40, 8*runtime.GOMAXPROCS(0)); got != want {
		t.Errorf("a web-only process may open %d connections, want %d", got, want)
	}
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
