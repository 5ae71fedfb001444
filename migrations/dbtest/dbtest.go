// Package dbtest gives each test package its own PostgreSQL database, cloned
// from a template migrated once per schema version, and a Redis client.
//
// The servers are those named by REGIE_TEST_DATABASE_URL and
// REGIE_TEST_REDIS_URL, or the ones on 127.0.0.1:5432 and :6379 (`make test`
// starts throwaway servers and sets the variables when those are missing).
//
// A package that uses DB declares
//
//	func TestMain(m *testing.M) { dbtest.Main(m) }
//
// so that its database is dropped when its tests end.
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq" // the PostgreSQL driver
	"github.com/redis/go-redis/v9"

	"github.com/regie/regie/migrations"
	"github.com/regie/regie/tenant/pgdb"
)

const (
	defaultServer = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	defaultRedis  = "redis://127.0.0.1:6379/0"
	prefix        = "regie_t_"
	staleAfter    = 6 * time.Hour
)

var (
	once   sync.Once
	pkgDB  *sqlx.DB
	pkgURL string
	setErr error
)

// Main runs the package's tests, then the after functions (to stop what
// the package shared between its tests), then drops the package database.
func Main(m *testing.M, after ...func()) {
	code := m.Run()
	for _, f := range after {
		f()
	}
	if pkgDB != nil {
		pkgDB.Close()
		if err := dropDatabase(pkgURL); err != nil {
			fmt.Fprintln(os.Stderr, "dbtest:", err)
		}
	}
	os.Exit(code)
}

// ServerURL returns the URL of the PostgreSQL server under test, on its
// maintenance database.
func ServerURL() string {
	if u := os.Getenv("REGIE_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return defaultServer
}

// DB returns the package's migrated database, creating it on first use.
func DB(t testing.TB) *sqlx.DB {
	t.Helper()
	once.Do(func() { pkgDB, pkgURL, setErr = setup() })
	if setErr != nil {
		t.Fatalf("dbtest: %v", setErr)
	}
	return pkgDB
}

// URL returns the connection URL of the package's database (for processes
// started by a test).
func URL(t testing.TB) string {
	DB(t)
	return pkgURL
}

// NewDatabase creates an extra migrated database for one test (for tests that
// need an empty schema, such as a restore) and drops it when the test ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	tmpl, err := template()
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	u, err := clone(tmpl)
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	t.Cleanup(func() {
		if err := dropDatabase(u); err != nil {
			t.Logf("dbtest: %v", err)
		}
	})
	return u
}

// NewEmptyDatabase creates an unmigrated database for one test (to test
// migrations themselves) and drops it when the test ends.
func NewEmptyDatabase(t testing.TB) string {
	t.Helper()
	u, err := clone("template0")
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	t.Cleanup(func() {
		if err := dropDatabase(u); err != nil {
			t.Logf("dbtest: %v", err)
		}
	})
	return u
}

// Redis returns a client on the Redis under test. Packages use distinct
// logical databases chosen from their name, since they run in parallel.
func Redis(t testing.TB) *redis.Client {
	t.Helper()
	raw := os.Getenv("REGIE_TEST_REDIS_URL")
	if raw == "" {
		raw = defaultRedis
	}
	opt, err := redis.ParseURL(raw)
	if err != nil {
		t.Fatalf("dbtest: REGIE_TEST_REDIS_URL: %v", err)
	}
	h := fnv.New32a()
	h.Write([]byte(packageName()))
	opt.DB = 1 + int(h.Sum32()%15)
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("dbtest: redis at %s: %v", raw, err)
	}
	return c
}

// RedisURL returns the URL of the logical Redis database Redis uses.
func RedisURL(t testing.TB) string {
	c := Redis(t)
	o := c.Options()
	return fmt.Sprintf("redis://%s/%d", o.Addr, o.DB)
}

func setup() (*sqlx.DB, string, error) {
	tmpl, err := template()
	if err != nil {
		return nil, "", err
	}
	u, err := clone(tmpl)
	if err != nil {
		return nil, "", err
	}
	db, err := pgdb.Open(u)
	if err != nil {
		return nil, "", err
	}
	db.SetMaxOpenConns(20)
	db.SetMaxIdleConns(20) // the default, 2, would reconnect under any concurrency
	if err := scatterIDs(db); err != nil {
		return nil, "", err
	}
	return db, u, nil
}

// scatterIDs starts every identity column of the fresh database at a random
// point, so that ids differ from one run to the next: Redis keys that carry
// a commune id (sessions, rate limits) then never meet those of an earlier
// run, and no test can lean on small ids.
func scatterIDs(db *sqlx.DB) error {
	var cols []struct {
		Table  string `db:"table_name"`
		Column string `db:"column_name"`
	}
	err := db.Select(&cols, `SELECT table_name, column_name FROM information_schema.columns
		WHERE table_schema = 'public' AND is_identity = 'YES' AND data_type = 'bigint' AND table_name NOT LIKE 'river%'`)
	if err != nil {
		return err
	}
	b := make([]byte, 4)
	rand.Read(b)
	start := 1_000_000 + int64(binary.BigEndian.Uint32(b))
	for _, c := range cols {
		if _, err := db.Exec(fmt.Sprintf(`ALTER TABLE %q ALTER COLUMN %q RESTART WITH %d`, c.Table, c.Column, start)); err != nil {
			return err
		}
	}
	return nil
}

// template returns the name of the migrated template database of this
// schema, building it under an advisory lock if no package did yet.
func template() (string, error) {
	fp, err := migrations.Fingerprint()
	if err != nil {
		return "", err
	}
	name := "regie_tmpl_" + fp
	ctx := context.Background()
	admin, err := sql.Open("postgres", ServerURL())
	if err != nil {
		return "", err
	}
	defer admin.Close()
	conn, err := admin.Conn(ctx)
	if err != nil {
		return "", fmt.Errorf("connect to %s: %w", redact(ServerURL()), err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(4242001)`); err != nil {
		return "", fmt.Errorf("connect to %s: %w", redact(ServerURL()), err)
	}
	defer conn.ExecContext(ctx, `SELECT pg_advisory_unlock(4242001)`) //nolint:errcheck

	var exists bool
	if err := conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		return name, nil
	}
	dropStale(ctx, conn, name)
	build := name + "_build"
	if _, err := conn.ExecContext(ctx, `DROP DATABASE IF EXISTS `+build+` WITH (FORCE)`); err != nil {
		return "", err
	}
	if _, err := conn.ExecContext(ctx, `CREATE DATABASE `+build); err != nil {
		return "", err
	}
	bdb, err := sql.Open("postgres", withDatabase(ServerURL(), build))
	if err != nil {
		return "", err
	}
	err = migrations.Apply(ctx, bdb, slog.New(slog.DiscardHandler))
	bdb.Close()
	if err != nil {
		return "", fmt.Errorf("migrate template: %w", err)
	}
	if _, err := conn.ExecContext(ctx, `ALTER DATABASE `+build+` RENAME TO `+name); err != nil {
		return "", err
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`COMMENT ON DATABASE %s IS '%d'`, name, time.Now().Unix())); err != nil {
		return "", err
	}
	return name, nil
}

// dropStale removes older templates and package databases left by test runs
// that were killed before they could clean up.
func dropStale(ctx context.Context, conn *sql.Conn, keep string) {
	// templates carry their build time as a comment; package databases in
	// their name
	rows, err := conn.QueryContext(ctx, `SELECT datname, coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database
		WHERE datname LIKE 'regie\_tmpl\_%' OR datname LIKE 'regie\_t\_%'`)
	if err != nil {
		return
	}
	type db struct{ name, built string }
	var dbs []db
	for rows.Next() {
		var d db
		if rows.Scan(&d.name, &d.built) == nil {
			dbs = append(dbs, d)
		}
	}
	rows.Close()
	for _, d := range dbs {
		when := d.built
		if strings.HasPrefix(d.name, prefix) {
			when, _, _ = strings.Cut(strings.TrimPrefix(d.name, prefix), "_")
		}
		// a schema being changed builds templates often; another run may
		// still clone an older one, so only old ones go
		if d.name == keep || !stale(when) {
			continue
		}
		conn.ExecContext(ctx, `DROP DATABASE IF EXISTS `+d.name+` WITH (FORCE)`) //nolint:errcheck // best effort
	}
}

// stale reports whether a unix time (as text) is older than staleAfter;
// unreadable ones are.
func stale(unix string) bool {
	n, err := strconv.ParseInt(unix, 10, 64)
	return err != nil || time.Since(time.Unix(n, 0)) > staleAfter
}

func clone(tmpl string) (string, error) {
	b := make([]byte, 4)
	rand.Read(b)
	name := fmt.Sprintf("%s%d_%s_%s", prefix, time.Now().Unix(), sanitize(packageName()), hex.EncodeToString(b))
	admin, err := sql.Open("postgres", ServerURL())
	if err != nil {
		return "", err
	}
	defer admin.Close()
	// Several packages clone at once; the server refuses a clone while
	// another session is connected to the template, which only happens for
	// an instant, so retry briefly.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err = admin.Exec(`CREATE DATABASE ` + name + ` TEMPLATE ` + tmpl)
		if err == nil || time.Now().After(deadline) || !strings.Contains(err.Error(), "being accessed by other users") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return "", fmt.Errorf("create %s: %w", name, err)
	}
	return withDatabase(ServerURL(), name), nil
}

func dropDatabase(u string) error {
	pu, err := url.Parse(u)
	if err != nil {
		return err
	}
	name := strings.TrimPrefix(pu.Path, "/")
	admin, err := sql.Open("postgres", ServerURL())
	if err != nil {
		return err
	}
	defer admin.Close()
	_, err = admin.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`)
	return err
}

func withDatabase(server, name string) string {
	u, err := url.Parse(server)
	if err != nil {
		panic(err)
	}
	u.Path = "/" + name
	return u.String()
}

func redact(u string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	return pu.Redacted()
}

func packageName() string {
	return strings.TrimSuffix(filepath.Base(os.Args[0]), ".test")
}

func sanitize(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	if b.Len() > 20 {
		return b.String()[:20]
	}
	return b.String()
}
