package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestStartCluster covers the fresh-machine path of the demo: no server on
// 127.0.0.1:5432, so it starts its own cluster from the installed binaries.
func TestStartCluster(t *testing.T) {
	if _, err := postgresBinDir(); err != nil {
		t.Fatalf("the PostgreSQL server binaries must be installed for the demo: %v", err)
	}
	parent := t.TempDir()
	os.Chmod(parent, 0o755) // the postgres user must reach the folder when we are root
	os.Chmod(filepath.Dir(parent), 0o755)
	dir := filepath.Join(parent, "pg")
	url, stop, err := startCluster(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if !reachable(context.Background(), url) {
		t.Fatalf("started cluster at %s does not answer", url)
	}
	dbURL, err := recreateDatabase(context.Background(), url, "regie_demo")
	if err != nil {
		t.Fatal(err)
	}
	if !reachable(context.Background(), dbURL) {
		t.Fatalf("demo database %s does not answer", dbURL)
	}
	stop()
	if reachable(context.Background(), url) {
		t.Fatal("cluster still answers after stop")
	}
}
