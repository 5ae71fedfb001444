package pgdb_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"

	"github.com/regie/regie/migrations/dbtest"
	"github.com/regie/regie/tenant/pgdb"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// oneConn opens a pool of a single connection on an empty database, so that
// every statement runs on the connection whose cache the test inspects.
func oneConn(t *testing.T) *sqlx.DB {
	t.Helper()
	db, err := pgdb.Open(dbtest.NewEmptyDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	return db
}

// prepared lists the connection's named statements.
func prepared(t *testing.T, db *sqlx.DB) []string {
	t.Helper()
	var out []string
	if err := db.Select(&out, `SELECT statement FROM pg_prepared_statements ORDER BY prepare_time`); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestStatementPreparedOnce(t *testing.T) {
	db := oneConn(t)
	ctx := context.Background()
	db.MustExec(`CREATE TABLE t (id int PRIMARY KEY, name text)`)
	db.MustExec(`INSERT INTO t VALUES (1, 'un'), (2, 'deux')`)
	for i := range 10 {
		id := 1 + i%2
		var name string
		if err := db.GetContext(ctx, &name, pgdb.Prepared+`SELECT name FROM t WHERE id = $1`, id); err != nil {
			t.Fatal(err)
		}
		if want := map[int]string{1: "un", 2: "deux"}[id]; name != want {
			t.Fatalf("id %d: got %q, want %q", id, name, want)
		}
		if _, err := db.ExecContext(ctx, pgdb.Prepared+`UPDATE t SET name = name WHERE id = $1`, id); err != nil {
			t.Fatal(err)
		}
	}
	// Inside a transaction too; a statement not marked, or without
	// parameters, is not prepared.
	tx := db.MustBegin()
	var n int
	if err := tx.Get(&n, pgdb.Prepared+`SELECT count(*) FROM t WHERE id >= $1`, 1); err != nil || n != 2 {
		t.Fatalf("count: %d, %v", n, err)
	}
	if err := tx.Get(&n, `SELECT count(*) FROM t WHERE id <= $1`, 2); err != nil || n != 2 {
		t.Fatalf("count: %d, %v", n, err)
	}
	if err := tx.Get(&n, pgdb.Prepared+`SELECT count(*) FROM t`); err != nil || n != 2 {
		t.Fatalf("count: %d, %v", n, err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	got := prepared(t, db)
	want := []string{pgdb.Prepared + `SELECT name FROM t WHERE id = $1`, pgdb.Prepared + `UPDATE t SET name = name WHERE id = $1`,
		pgdb.Prepared + `SELECT count(*) FROM t WHERE id >= $1`}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("prepared statements:\n got %q\nwant %q", got, want)
	}
}

func TestStatementsBounded(t *testing.T) {
	db := oneConn(t)
	for i := range 200 {
		var n int
		if err := db.Get(&n, fmt.Sprintf(pgdb.Prepared+`SELECT $1::int + %d`, i), 1); err != nil || n != 1+i {
			t.Fatalf("statement %d: %d, %v", i, n, err)
		}
	}
	// pg_prepared_statements' own query has no parameters: not counted.
	if got := prepared(t, db); len(got) != 128 || got[127] != pgdb.Prepared+`SELECT $1::int + 199` {
		t.Fatalf("%d statements kept, the newest %q; want the 128 most recent", len(got), got[len(got)-1])
	}
}

// A migration that changes what a cached statement returns fails that
// statement once (PostgreSQL refuses the cached plan), then it is prepared
// again, and the old one is closed before the connection is reused.
func TestStatementAfterSchemaChange(t *testing.T) {
	db := oneConn(t)
	db.MustExec(`CREATE TABLE t (id int PRIMARY KEY)`)
	db.MustExec(`INSERT INTO t VALUES (1)`)
	const q = pgdb.Prepared + `SELECT * FROM t WHERE id = $1`
	if _, err := db.Exec(q, 1); err != nil {
		t.Fatal(err)
	}
	db.MustExec(`ALTER TABLE t ADD COLUMN name text DEFAULT 'un'`)
	tx := db.MustBegin()
	var pqErr *pq.Error
	_, err := tx.Queryx(q, 1)
	if !errors.As(err, &pqErr) || pqErr.Code != "0A000" {
		t.Fatalf("first run after the change: %v, want PostgreSQL's 0A000", err)
	}
	tx.Rollback()
	var row struct {
		ID   int
		Name string
	}
	if err := db.Get(&row, q, 1); err != nil || row.Name != "un" {
		t.Fatalf("second run: %+v, %v", row, err)
	}
	if got := prepared(t, db); len(got) != 1 {
		t.Fatalf("prepared statements %q, want the new one only", got)
	}
}

// A statement the server no longer knows (a pooler that does not keep
// prepared statements, here DEALLOCATE ALL) fails once, then is prepared
// again.
func TestStatementGoneFromServer(t *testing.T) {
	db := oneConn(t)
	const q = pgdb.Prepared + `SELECT $1::int + 1`
	var n int
	if err := db.Get(&n, q, 1); err != nil || n != 2 {
		t.Fatalf("first run: %d, %v", n, err)
	}
	db.MustExec(`DEALLOCATE ALL`)
	var pqErr *pq.Error
	if err := db.Get(&n, q, 1); !errors.As(err, &pqErr) || pqErr.Code != "26000" {
		t.Fatalf("run after DEALLOCATE ALL: %v, want PostgreSQL's 26000", err)
	}
	if err := db.Get(&n, q, 2); err != nil || n != 3 {
		t.Fatalf("next run: %d, %v", n, err)
	}
	if got := prepared(t, db); len(got) != 1 {
		t.Fatalf("prepared statements %q, want the new one only", got)
	}
}

type probeArgs struct{}

func (probeArgs) Kind() string { return "pgdb.probe" }

// River's insert, which every settlement and publication runs, is kept
// prepared too: a River upgrade that renames it fails here rather than
// silently planning it again on every call.
func TestRiverInsertPrepared(t *testing.T) {
	db, err := pgdb.Open(dbtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	jobs, err := river.NewClient(riverdatabasesql.New(db.DB), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := jobs.Insert(context.Background(), probeArgs{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := db.Get(&n, `SELECT count(*) FROM river_job WHERE kind = 'pgdb.probe'`); err != nil || n != 3 {
		t.Fatalf("%d jobs, %v; want 3", n, err)
	}
	got := prepared(t, db)
	if len(got) != 1 || !strings.HasPrefix(got[0], "-- name: JobInsertFastMany") {
		t.Fatalf("prepared statements %q, want River's insert only", got)
	}
}

// A statement given with WithBegin goes with the BEGIN and is part of the
// transaction; one that fails leaves no transaction behind; other options
// leave the statement to the caller.
func TestWithBegin(t *testing.T) {
	db := oneConn(t)
	ctx := context.Background()
	b := &pgdb.Begin{SQL: `SELECT set_config('app.probe', 'oui', true)`}
	tx, err := db.BeginTxx(pgdb.WithBegin(ctx, b), nil)
	if err != nil || !b.Sent {
		t.Fatalf("begin: %v, sent %v", err, b.Sent)
	}
	var v string
	if err := tx.Get(&v, `SELECT current_setting('app.probe')`); err != nil || v != "oui" {
		t.Fatalf("inside: %q, %v", v, err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := db.Get(&v, `SELECT coalesce(current_setting('app.probe', true), '')`); err != nil || v != "" {
		t.Fatalf("after the commit: %q, %v; want the setting gone with its transaction", v, err)
	}

	bad := &pgdb.Begin{SQL: `SELECT 1/0`}
	if _, err := db.BeginTxx(pgdb.WithBegin(ctx, bad), nil); err == nil || bad.Sent {
		t.Fatalf("a failing statement: %v, sent %v; want the error", err, bad.Sent)
	}
	var inTx bool
	if err := db.Get(&inTx, `SELECT now() <> statement_timestamp()`); err != nil || inTx {
		t.Fatalf("the connection after the failure: in a transaction %v, %v", inTx, err)
	}

	ro := &pgdb.Begin{SQL: `SELECT set_config('app.probe', 'oui', true)`}
	tx, err = db.BeginTxx(pgdb.WithBegin(ctx, ro), &sql.TxOptions{ReadOnly: true})
	if err != nil || ro.Sent {
		t.Fatalf("read-only begin: %v, sent %v; want it left to the caller", err, ro.Sent)
	}
	tx.Rollback()
}

// Transactions begun with WithBegin and without, on the same connection,
// with contexts that can be cancelled: lib/pq must not end the later ones
// with what it kept of an earlier one (the second WithBegin transaction
// after another one panicked: "attempt to set nil err").
func TestWithBeginAfterOtherTransactions(t *testing.T) {
	db := oneConn(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range 9 {
		var opts *sql.TxOptions
		txCtx := pgdb.WithBegin(ctx, &pgdb.Begin{SQL: `SELECT 1`})
		if i%3 == 0 {
			opts = &sql.TxOptions{ReadOnly: true} // begun by lib/pq
		}
		tx, err := db.BeginTxx(txCtx, opts)
		if err != nil {
			t.Fatalf("transaction %d: %v", i, err)
		}
		if _, err := tx.Exec(`SELECT 1`); err != nil {
			t.Fatalf("transaction %d: %v", i, err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatalf("transaction %d: %v", i, err)
		}
	}
}

// A read runs its statement with its settings, in a read-only transaction
// that ends with it, and sends its arguments intact whatever they hold.
func TestRead(t *testing.T) {
	db := oneConn(t)
	ctx := pgdb.WithRead(context.Background(), &pgdb.Read{Enter: "SET LOCAL app.probe = 'on'"})
	const q = pgdb.Prepared + `SELECT current_setting('app.probe', true) AS setting, current_setting('transaction_read_only') AS read_only,
		$1::text AS s, $2::bigint AS n, $3::timestamptz AS at, $4::bool AS b, $5::text IS NULL AS null`
	at := time.Date(2026, 11, 26, 9, 30, 15, 123456000, time.FixedZone("", 3600))
	for _, s := range []string{"f1@bench.example.fr", "O'Brien \\ 'x'", "'); DROP TABLE t; --", "é\\'", ""} {
		var got struct {
			Setting, ReadOnly, S string
			N                    int64
			At                   time.Time
			B, Null              bool
		}
		err := db.QueryRowxContext(ctx, q, s, int64(-42), at, true, nil).Scan(&got.Setting, &got.ReadOnly, &got.S, &got.N, &got.At, &got.B, &got.Null)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if got.Setting != "on" || got.ReadOnly != "on" || got.S != s || got.N != -42 || !got.At.Equal(at) || !got.B || !got.Null {
			t.Errorf("%q: read %+v", s, got)
		}
	}
	// an offset with seconds (Paris's mean time, until 1911)
	old := time.Date(1900, 1, 1, 12, 0, 0, 0, time.FixedZone("PMT", 9*60+21))
	var back time.Time
	if err := db.QueryRowxContext(ctx, pgdb.Prepared+`SELECT $1::timestamptz`, old).Scan(&back); err != nil || !back.Equal(old) {
		t.Errorf("%v sent, %v read back (%v)", old, back, err)
	}
	var setting, readOnly string
	if err := db.QueryRowx(`SELECT current_setting('app.probe', true), current_setting('transaction_read_only')`).Scan(&setting, &readOnly); err != nil {
		t.Fatal(err)
	}
	if setting != "" || readOnly != "off" {
		t.Errorf("after the reads the connection has app.probe %q, read only %s; want the settings ended", setting, readOnly)
	}
	if got := prepared(t, db); len(got) != 2 {
		t.Errorf("prepared statements %q, want each of the two reads' once", got)
	}
}

// A read writes nothing, and what it cannot send as a read it refuses
// rather than sending without its settings.
func TestRead_Refused(t *testing.T) {
	db := oneConn(t)
	db.MustExec(`CREATE TABLE t (id int PRIMARY KEY, name text)`)
	db.MustExec(`INSERT INTO t VALUES (1, 'un')`)
	ctx := pgdb.WithRead(context.Background(), &pgdb.Read{Enter: "SET LOCAL app.probe = 'on'"})
	var pqErr *pq.Error
	_, err := db.QueryContext(ctx, pgdb.Prepared+`UPDATE t SET name = 'deux' WHERE id = $1 RETURNING name`, 1)
	if !errors.As(err, &pqErr) || pqErr.Code != "25006" {
		t.Errorf("UPDATE in a read: %v, want PostgreSQL's 25006 (read-only transaction)", err)
	}
	for name, run := range map[string]func() error{
		"exec": func() error {
			_, err := db.ExecContext(ctx, pgdb.Prepared+`UPDATE t SET name = 'deux' WHERE id = $1`, 1)
			return err
		},
		"not prepared": func() error { _, err := db.QueryContext(ctx, `SELECT name FROM t WHERE id = $1`, 1); return err },
		"no argument":  func() error { _, err := db.QueryContext(ctx, pgdb.Prepared+`SELECT name FROM t`); return err },
		"bytes": func() error {
			_, err := db.QueryContext(ctx, pgdb.Prepared+`SELECT $1::bytea`, []byte("x"))
			return err
		},
		"NUL": func() error { _, err := db.QueryContext(ctx, pgdb.Prepared+`SELECT $1::text`, "a\x00b"); return err },
	} {
		if err := run(); err == nil || !strings.HasPrefix(err.Error(), "pgdb: ") {
			t.Errorf("%s: %v, want pgdb's refusal", name, err)
		}
	}
	var name string
	if err := db.Get(&name, `SELECT name FROM t WHERE id = 1`); err != nil || name != "un" {
		t.Errorf("after the refusals: %q, %v", name, err)
	}
}

// A read that fails leaves its connection idle and usable, its settings
// gone.
func TestRead_Error(t *testing.T) {
	db := oneConn(t)
	ctx := pgdb.WithRead(context.Background(), &pgdb.Read{Enter: "SET LOCAL app.probe = 'on'"})
	var n int
	var pqErr *pq.Error
	if err := db.GetContext(ctx, &n, pgdb.Prepared+`SELECT 1 / $1::int`, 0); !errors.As(err, &pqErr) || pqErr.Code != "22012" {
		t.Fatalf("division by zero: %v", err)
	}
	var setting string
	if err := db.Get(&setting, `SELECT current_setting('app.probe', true)`); err != nil || setting != "" {
		t.Fatalf("after the failed read: %q, %v", setting, err)
	}
	if err := db.GetContext(ctx, &n, pgdb.Prepared+`SELECT 1 / $1::int`, 1); err != nil || n != 1 {
		t.Fatalf("next read: %d, %v", n, err)
	}
}

// A read's statement whose plan a migration invalidated is prepared again
// and the read answers, with the new columns; the old statement is gone.
func TestRead_StatementChanged(t *testing.T) {
	db := oneConn(t)
	ctx := pgdb.WithRead(context.Background(), &pgdb.Read{Enter: "SET LOCAL app.probe = 'on'"})
	db.MustExec(`CREATE TABLE t (id int PRIMARY KEY)`)
	db.MustExec(`INSERT INTO t VALUES (1)`)
	const q = pgdb.Prepared + `SELECT * FROM t WHERE id = $1`
	var id int
	if err := db.GetContext(ctx, &id, q, 1); err != nil {
		t.Fatal(err)
	}
	db.MustExec(`ALTER TABLE t ADD COLUMN name text DEFAULT 'un'`)
	var row struct {
		ID   int
		Name string
	}
	if err := db.GetContext(ctx, &row, q, 1); err != nil || row.ID != 1 || row.Name != "un" {
		t.Fatalf("first read after the change: %+v, %v; want the row with its new column", row, err)
	}
	got := prepared(t, db)
	if len(got) != 1 || !strings.Contains(got[0], "SELECT * FROM t") {
		t.Fatalf("prepared statements %q, want the read's, once", got)
	}
	if err := db.GetContext(ctx, &row, q, 1); err != nil || row.Name != "un" {
		t.Fatalf("second read: %+v, %v", row, err)
	}
}

// A read's statement that the server lost (a DEALLOCATE ALL here; a pooler
// in transaction mode in production) makes the connection refuse reads, the
// first time with PostgreSQL's error, then without a round trip.
func TestRead_StatementLost(t *testing.T) {
	db := oneConn(t)
	ctx := pgdb.WithRead(context.Background(), &pgdb.Read{Enter: "SET LOCAL app.probe = 'on'"})
	const q = pgdb.Prepared + `SELECT $1::int + 1`
	var n int
	if err := db.GetContext(ctx, &n, q, 1); err != nil || n != 2 {
		t.Fatalf("first read: %d, %v", n, err)
	}
	db.MustExec(`DEALLOCATE ALL`)
	var pqErr *pq.Error
	if err := db.GetContext(ctx, &n, q, 1); !errors.Is(err, pgdb.ErrReadUnavailable) || !errors.As(err, &pqErr) || pqErr.Code != "26000" {
		t.Fatalf("read after DEALLOCATE ALL: %v, want ErrReadUnavailable with PostgreSQL's 26000", err)
	}
	if err := db.GetContext(ctx, &n, q, 1); !errors.Is(err, pgdb.ErrReadUnavailable) || errors.As(err, &pqErr) {
		t.Fatalf("next read: %v, want ErrReadUnavailable without a round trip", err)
	}
	if err := db.Get(&n, q, 2); err != nil || n != 3 {
		t.Fatalf("the connection's other statements: %d, %v", n, err)
	}
}

// A read's statement that the server holds already under its name (a
// PREPARE whose answer a cancelled context lost) is used as it is.
func TestRead_StatementThere(t *testing.T) {
	db := oneConn(t)
	ctx := pgdb.WithRead(context.Background(), &pgdb.Read{Enter: "SET LOCAL app.probe = 'on'"})
	const q = pgdb.Prepared + `SELECT $1::int + 1`
	h := sha256.Sum256([]byte(q))
	db.MustExec(`PREPARE regie_read_` + hex.EncodeToString(h[:8]) + ` AS ` + q)
	var n int
	if err := db.GetContext(ctx, &n, q, 1); err != nil || n != 2 {
		t.Fatalf("read: %d, %v", n, err)
	}
}

func TestOpened(t *testing.T) {
	plain, err := sqlx.Open("postgres", dbtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if db := oneConn(t); !pgdb.Opened(db.DB) || pgdb.Opened(plain.DB) {
		t.Errorf("Opened: pgdb.Open's pool %v, lib/pq's %v", pgdb.Opened(db.DB), pgdb.Opened(plain.DB))
	}
}
