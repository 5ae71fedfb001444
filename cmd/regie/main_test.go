package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/regie/regie/migrations"
	"github.com/regie/regie/migrations/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// runCmd runs the binary's run with env and returns stdout and stderr.
func runCmd(t *testing.T, env map[string]string, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, envOf(env), &out, &errb)
	return out.String(), errb.String(), err
}

func TestRun_Usage(t *testing.T) {
	_, _, err := runCmd(t, nil)
	var u usageError
	if !errors.As(err, &u) {
		t.Fatalf("no command: %v, want a usage error", err)
	}
	if _, _, err := runCmd(t, nil, "frobnicate"); !errors.As(err, &u) || !strings.Contains(err.Error(), "frobnicate") {
		t.Fatalf("unknown command: %v", err)
	}
	if _, _, err := runCmd(t, nil, "serve", "extra"); !errors.As(err, &u) {
		t.Fatalf("serve with an argument: %v", err)
	}
	if _, _, err := runCmd(t, nil, "serve"); err == nil || !strings.Contains(err.Error(), "REGIE_BASE_URL is required") {
		t.Fatalf("serve without config: %v", err)
	}
}

func TestTenantCommands(t *testing.T) {
	env := map[string]string{"REGIE_DATABASE_URL": dbtest.URL(t)}
	out, _, err := runCmd(t, env, "tenant", "create", "--slug", "cli-commune", "--name", "Mairie de Cliville", "--numcli", "004242", "--protocol", "tipi")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "http://cli-commune.localhost:8080") || !strings.Contains(out, "tipi in test mode") {
		t.Fatalf("create printed %q", out)
	}
	if _, _, err := runCmd(t, env, "tenant", "create", "--slug", "cli-commune", "--name", "X", "--numcli", "004242"); err == nil {
		t.Fatal("duplicate slug accepted")
	}
	if _, _, err := runCmd(t, env, "tenant", "create", "--slug", "cli-two", "--name", "X", "--numcli", "4242"); err == nil || !strings.Contains(err.Error(), "6 chiffres") {
		t.Fatalf("bad numcli: %v", err)
	}
	_, stderr, err := runCmd(t, env, "tenant", "suspend", "--slug", "cli-commune")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "within 30 seconds") {
		t.Errorf("suspend without Redis should say when servers notice: %q", stderr)
	}
	out, _, err = runCmd(t, env, "tenant", "list")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "cli-commune") || !strings.Contains(out, "suspended") {
		t.Fatalf("list printed %q", out)
	}
	env["REGIE_REDIS_URL"] = dbtest.RedisURL(t)
	if _, stderr, err := runCmd(t, env, "tenant", "resume", "--slug", "cli-commune"); err != nil || stderr != "" {
		t.Fatalf("resume: %v %q", err, stderr)
	}
	if _, _, err := runCmd(t, env, "tenant", "resume", "--slug", "nowhere"); err == nil {
		t.Fatal("resume of an unknown commune succeeded")
	}
}

func TestServe_RefusesOlderSchema(t *testing.T) {
	u := dbtest.NewDatabase(t)
	db, err := openDB(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`DELETE FROM goose_db_version WHERE version_id = (SELECT max(version_id) FROM goose_db_version)`); err != nil {
		t.Fatal(err)
	}
	env := validServerEnv()
	env["REGIE_DATABASE_URL"] = u
	env["REGIE_REDIS_URL"] = dbtest.RedisURL(t)
	env["REGIE_LISTEN"] = "127.0.0.1:0"
	_, _, err = runCmd(t, env, "serve")
	if !errors.Is(err, migrations.ErrPending) || !strings.Contains(err.Error(), "regie migrate") {
		t.Fatalf("serve on an older schema: %v", err)
	}
}

func TestMigrate(t *testing.T) {
	u := dbtest.NewEmptyDatabase(t)
	env := map[string]string{"REGIE_DATABASE_URL": u}
	for i := range 2 { // the second run finds nothing to do
		if _, _, err := runCmd(t, env, "migrate"); err != nil {
			t.Fatalf("run %d: %v", i+1, err)
		}
	}
	db, err := openDB(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := migrations.Check(context.Background(), db.DB); err != nil {
		t.Fatalf("after migrate: %v", err)
	}
	if _, _, err := runCmd(t, nil, "migrate"); err == nil || !strings.Contains(err.Error(), "REGIE_DATABASE_URL is required") {
		t.Fatalf("migrate without database: %v", err)
	}
}
