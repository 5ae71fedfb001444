package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"time"
)

// localPostgres is the server the demo tries when REGIE_DATABASE_URL is not
// set.
const localPostgres = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable&connect_timeout=3"

// demoPostgres finds a PostgreSQL server for the demo: REGIE_DATABASE_URL,
// else the one on 127.0.0.1:5432, else a throwaway cluster started from the
// installed binaries under dataDir. It returns a URL on a database of that
// server from which the demo database can be created, and a function that
// stops what it started.
func demoPostgres(ctx context.Context, env func(string) string, dataDir string, stderr io.Writer) (string, func(), error) {
	if u := env("REGIE_DATABASE_URL"); u != "" {
		return u, func() {}, nil
	}
	if reachable(ctx, localPostgres) {
		return localPostgres, func() {}, nil
	}
	fmt.Fprintln(stderr, "No PostgreSQL on 127.0.0.1:5432: starting a throwaway cluster in", dataDir)
	return startCluster(dataDir)
}

func reachable(ctx context.Context, dsn string) bool {
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		return false
	}
	defer db.Close()
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	return db.PingContext(pctx) == nil
}

// startCluster initialises (once) and starts a private cluster with trust
// authentication on a free port. initdb refuses to run as root, so as root
// the cluster belongs to the postgres user.
func startCluster(dir string) (string, func(), error) {
	bin, err := postgresBinDir()
	if err != nil {
		return "", nil, err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return "", nil, err
	}
	asRoot := os.Geteuid() == 0
	var pgUser *user.User
	if asRoot {
		if pgUser, err = user.Lookup("postgres"); err != nil {
			return "", nil, errors.New("running as root, PostgreSQL needs the postgres user to own its cluster: apt-get install postgresql")
		}
	}
	// The commands run to completion even when ctx ends: a half-started
	// cluster is worse than a slow Ctrl-C.
	command := func(name string, args ...string) *exec.Cmd {
		path := filepath.Join(bin, name)
		if asRoot {
			return exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
		}
		return exec.Command(path, args...)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", nil, err
	}
	if asRoot {
		uid, _ := strconv.Atoi(pgUser.Uid)
		gid, _ := strconv.Atoi(pgUser.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return "", nil, err
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); err != nil {
		out, err := command("initdb", "-D", dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8").CombinedOutput()
		if err != nil {
			return "", nil, fmt.Errorf("initdb: %v: %s", err, out)
		}
	}
	// A cluster left running by a killed demo is stopped first.
	command("pg_ctl", "-D", dir, "-m", "fast", "-w", "stop").Run() //nolint:errcheck // usually not running
	port, err := freePort(54320)
	if err != nil {
		return "", nil, err
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", port, dir)
	if out, err := command("pg_ctl", "-D", dir, "-l", filepath.Join(dir, "server.log"), "-o", opts, "-w", "start").CombinedOutput(); err != nil {
		return "", nil, fmt.Errorf("pg_ctl start: %v: %s", err, out)
	}
	stop := func() {
		command("pg_ctl", "-D", dir, "-m", "fast", "-w", "stop").Run() //nolint:errcheck // best effort on exit
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port), stop, nil
}

// postgresBinDir finds the newest installed server binaries.
func postgresBinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("no PostgreSQL server found on 127.0.0.1:5432 and none installed: install it (apt-get install postgresql) or set REGIE_DATABASE_URL")
}

func freePort(from int) (int, error) {
	for p := from; p < from+100; p++ {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err == nil {
			ln.Close()
			return p, nil
		}
	}
	return 0, fmt.Errorf("no free port from %d", from)
}

// recreateDatabase drops and creates database name on the server of
// serverURL and returns a URL on it.
func recreateDatabase(ctx context.Context, serverURL, name string) (string, error) {
	db, err := sql.Open("postgres", serverURL)
	if err != nil {
		return "", err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
		return "", fmt.Errorf("drop %s: %w", name, err)
	}
	if _, err := db.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
		return "", fmt.Errorf("create %s: %w", name, err)
	}
	u, err := url.Parse(serverURL)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}
