// Package pgdb opens the platform's PostgreSQL pools: lib/pq, with each
// connection keeping the statements marked Prepared as prepared statements,
// beginning a transaction with its first statement in the same round trip
// when the context carries one (WithBegin), and running a read with the
// settings it needs in one round trip (WithRead).
//
// lib/pq sends a statement with parameters as an unnamed statement: two round
// trips, and PostgreSQL parses and plans it again every time. For the
// families' pages that planning is most of the database's work (pgbench on
// the "Mes factures" transaction: 2,980 tps prepared, 1,196 tps unprepared, on
// 2 cores). A statement whose text starts with Prepared is prepared once per
// connection, under a name, and then executed in one round trip; after five
// executions PostgreSQL keeps a generic plan when it costs no more than the
// custom ones.
//
// Only mark statements whose best plan does not depend on their values:
// lookups by a key (an id, an address, an operation). A generic plan
// estimates with an average commune, and communes range from ten families to
// a hundred thousand: a commune-wide list or search must stay unmarked, so
// that PostgreSQL plans it with its values every time (a search of the
// largest seeded commune took 2.1 s with the generic plan, 36 ms with its
// own).
//
// River's own statements are left unmarked (it reads jobs with queries
// whose plan depends on the queue), but for its insert, an INSERT from
// arrays, which every settlement and publication runs (the settlement
// benchmark: 798-1,026/s with it planned on every call, 1,270-1,353/s
// prepared).
//
// Behind pgbouncer in transaction mode, named statements need pgbouncer 1.21
// or later with max_prepared_statements set (deploy/README.md); a statement
// the server no longer knows is prepared again on its next use.
//
// lib/pq refuses a statement sent while another's rows are still being
// read; its prepared statements do not check, and such a statement would
// break the connection instead. Read rows to the end (or close them) first,
// as every caller here does.
package pgdb

import (
	"container/list"
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Prepared starts the text of a statement that connections keep prepared
// (see the package's documentation for which).
const Prepared = "/* prepared */ "

// riverInsert starts the text of River's statement that inserts jobs: the
// one River statement every settlement and publication runs, an INSERT whose
// plan does not depend on its values.
const riverInsert = "-- name: JobInsertFastMany :many"

// keep says whether connections keep query prepared.
func keep(query string) bool {
	return strings.HasPrefix(query, Prepared) || strings.HasPrefix(query, riverInsert)
}

// Begin is a statement to send with the BEGIN of a transaction, in the same
// round trip (see WithBegin).
type Begin struct {
	SQL  string // literal SQL, without parameters: it goes as a simple query
	Sent bool   // set once the BEGIN carried it
}

type beginKey struct{}

// WithBegin makes the transaction begun with the returned context (default
// options) send b.SQL with its BEGIN: a round trip less for every
// transaction that starts with the same statement (a commune's settings).
// A pool not opened by Open, or other options, begin as usual and leave
// b.Sent false: the caller then sends b.SQL itself.
func WithBegin(ctx context.Context, b *Begin) context.Context {
	return context.WithValue(ctx, beginKey{}, b)
}

// Read is the literal SQL a read runs before its statement (see WithRead).
type Read struct {
	Enter string // statements without rows (SET LOCAL ...), without parameters
}

type readKey struct{}

// WithRead makes each statement queried with the returned context on a pool
// opened by Open run as one simple query: "SET TRANSACTION READ ONLY;
// <r.Enter>; EXECUTE <statement>(<arguments as literals>)". PostgreSQL runs
// the statements of a simple query in one implicit transaction, so the
// settings of r.Enter hold for the statement and end with it, an error rolls
// it all back, and the whole read costs one round trip instead of three
// (BEGIN and the settings, the statement, COMMIT). On 2 cores: 89-102 µs a
// read against 263-295 µs in a transaction (tenant's BenchmarkRead), and
// "Mes factures" at the maximum load went from 1,817-2,084 to 2,296-2,432
// pages a second (A/B pairs).
//
// The statement must be marked Prepared. Each connection prepares it once
// with PREPARE (a statement prepared by lib/pq has no name one can EXECUTE),
// under a name made from its text. Its arguments are written as quoted
// literals, which PostgreSQL converts to the parameters' types as it
// converts lib/pq's text values: strings (pq.QuoteLiteral), integers,
// booleans, times and NULL. Anything else queried with the context is
// refused: an Exec, a statement not marked Prepared or without arguments, an
// argument of another type. So a read never runs without its settings, on a
// pool opened by Open (Opened). Query with it on the pool, never in a
// transaction: there the settings would hold for the rest of the
// transaction.
//
// A statement whose result a migration changed (0A000) is prepared anew
// and the read sent once more.
//
// A statement the server does not know although the connection prepared it
// means a pooler in transaction mode between them (pgbouncer keeps
// lib/pq's statements, not those of PREPARE), or a DEALLOCATE ALL: the read
// fails with ErrReadUnavailable, and so does every later read on the
// connection, without a round trip. The caller then reads in a transaction
// (tenant.Read does).
func WithRead(ctx context.Context, r *Read) context.Context {
	return context.WithValue(ctx, readKey{}, r)
}

// ErrReadUnavailable says that the connection cannot read as WithRead says:
// read in a transaction instead.
var ErrReadUnavailable = errors.New("pgdb: this connection cannot read in one round trip")

// Opened says whether db was opened by Open: whether it honours WithRead.
func Opened(db *sql.DB) bool {
	_, ok := db.Driver().(pgDriver)
	return ok
}

// pgDriver is lib/pq's driver, marked as the one of a pool opened by Open.
type pgDriver struct{ driver.Driver }

// perConn bounds the statements a connection keeps prepared (the least
// recently used is closed first).
const perConn = 128

// Open returns a pool to dsn whose connections cache their prepared
// statements. It does not connect.
func Open(dsn string) (*sqlx.DB, error) {
	c, err := pq.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return sqlx.NewDb(sql.OpenDB(connector{c}), "postgres"), nil
}

type connector struct{ pq *pq.Connector }

func (c connector) Connect(ctx context.Context) (driver.Conn, error) {
	cn, err := c.pq.Connect(ctx)
	if err != nil {
		return nil, err
	}
	pc, ok := cn.(pqConn)
	if !ok {
		cn.Close()
		return nil, errors.New("pgdb: lib/pq's connection lacks an interface database/sql uses")
	}
	return &conn{pqConn: pc, stmts: map[string]*list.Element{}, lru: list.New(), named: map[string]string{}}, nil
}

func (c connector) Driver() driver.Driver { return pgDriver{c.pq.Driver()} }

// pqConn is what lib/pq's connection implements and database/sql uses; conn
// passes all of it through but QueryContext and ExecContext.
type pqConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.QueryerContext
	driver.ExecerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
	driver.NamedValueChecker
}

// preparedStmt is what lib/pq's prepared statement implements.
type preparedStmt interface {
	driver.Stmt
	driver.StmtQueryContext
	driver.StmtExecContext
}

type cached struct {
	query string
	stmt  preparedStmt
}

// conn is one connection and its prepared statements. database/sql uses a
// connection from one goroutine at a time, so it needs no lock.
type conn struct {
	pqConn
	stmts map[string]*list.Element // of *cached, in lru
	lru   *list.List               // most recently used first
	stale []preparedStmt           // to close once the connection is idle
	// named holds the statements prepared with PREPARE for reads, by query:
	// statements marked Prepared are constants of the code, a handful.
	named      map[string]string
	staleNames []string // to DEALLOCATE once the connection is idle
	noReads    bool     // the server lost a read's statement (ErrReadUnavailable)
}

func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if r, ok := ctx.Value(readKey{}).(*Read); ok {
		return c.read(ctx, r, query, args)
	}
	if len(args) == 0 || !keep(query) {
		return c.pqConn.QueryContext(ctx, query, args)
	}
	st, err := c.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, args)
	c.check(query, err)
	return rows, err
}

func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if _, ok := ctx.Value(readKey{}).(*Read); ok {
		return nil, errors.New("pgdb: a read (WithRead) runs queries only")
	}
	if len(args) == 0 || !keep(query) {
		return c.pqConn.ExecContext(ctx, query, args)
	}
	st, err := c.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	res, err := st.ExecContext(ctx, args)
	c.check(query, err)
	return res, err
}

// BeginTx begins a transaction, with the statement of WithBegin in the same
// simple query ("BEGIN READ WRITE; …", what lib/pq sends for the default
// options) when the context carries one. lib/pq's connection is its own
// transaction: it follows the server's transaction status and ends it on
// Commit or Rollback.
//
// lib/pq's own BeginTx gets a context that is never cancelled: with another,
// it keeps a function to stop watching it, and calls it at every later
// Commit or Rollback of the connection, those of transactions it did not
// begin too (the second one panicked). Cancelling still works: lib/pq
// watches each statement's context, and database/sql rolls the transaction
// back when its context ends.
func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	b, _ := ctx.Value(beginKey{}).(*Begin)
	tx, ok := c.pqConn.(driver.Tx)
	if b == nil || !ok || opts != (driver.TxOptions{}) {
		return c.pqConn.BeginTx(context.WithoutCancel(ctx), opts)
	}
	if _, err := c.pqConn.ExecContext(ctx, "BEGIN READ WRITE; "+b.SQL, nil); err != nil {
		// the BEGIN may have gone through: end it, or give the connection up
		if _, rerr := c.pqConn.ExecContext(context.Background(), "ROLLBACK", nil); rerr != nil {
			return nil, driver.ErrBadConn
		}
		return nil, err
	}
	b.Sent = true
	return tx, nil
}

// read runs query as WithRead says.
func (c *conn) read(ctx context.Context, r *Read, query string, args []driver.NamedValue) (driver.Rows, error) {
	if len(args) == 0 || !strings.HasPrefix(query, Prepared) {
		return nil, errors.New("pgdb: a read (WithRead) runs statements marked Prepared, with arguments")
	}
	if c.noReads {
		return nil, ErrReadUnavailable
	}
	var sql strings.Builder
	sql.WriteString("SET TRANSACTION READ ONLY; ")
	sql.WriteString(r.Enter)
	sql.WriteString("; EXECUTE ")
	name, ok := c.named[query]
	if !ok {
		h := sha256.Sum256([]byte(query))
		name = "regie_read_" + hex.EncodeToString(h[:8])
	}
	sql.WriteString(name)
	for i, a := range args {
		if i == 0 {
			sql.WriteString("(")
		} else {
			sql.WriteString(", ")
		}
		lit, err := literal(a.Value)
		if err != nil {
			return nil, err
		}
		sql.WriteString(lit)
	}
	sql.WriteString(")")
	if !ok {
		// 42P05: the server has it already, from a PREPARE whose answer was
		// lost (a cancelled context): the name stands for this text
		_, err := c.pqConn.ExecContext(ctx, "PREPARE "+name+" AS "+query, nil)
		var pqErr *pq.Error
		if err != nil && !(errors.As(err, &pqErr) && pqErr.Code == "42P05") {
			return nil, err
		}
		c.named[query] = name
	}
	rows, err := c.pqConn.QueryContext(ctx, sql.String(), nil)
	var pqErr *pq.Error
	if errors.As(err, &pqErr) && pqErr.Code == "0A000" {
		// a migration changed what the statement returns ("cached plan
		// must not change result type"): the read rolled back, the
		// connection is idle, so prepare the statement anew and read again,
		// rather than fail a family's page once per pooled connection
		if _, err := c.pqConn.ExecContext(ctx, "DEALLOCATE "+name+"; PREPARE "+name+" AS "+query, nil); err != nil {
			delete(c.named, query)
			c.staleNames = append(c.staleNames, name)
			return nil, err
		}
		rows, err = c.pqConn.QueryContext(ctx, sql.String(), nil)
	}
	if errors.As(err, &pqErr) {
		// as check says; the failed simple query left the connection idle
		switch pqErr.Code {
		case "0A000":
			delete(c.named, query)
			c.staleNames = append(c.staleNames, name)
		case "26000":
			c.noReads = true
			return nil, fmt.Errorf("%w: %w", ErrReadUnavailable, err)
		}
	}
	return rows, err
}

// literal writes v, an argument as database/sql passes it to lib/pq, as a
// quoted SQL literal.
func literal(v driver.Value) (string, error) {
	switch v := v.(type) {
	case nil:
		return "NULL", nil
	case string:
		if strings.IndexByte(v, 0) >= 0 {
			return "", errors.New("pgdb: a read's argument holds a NUL byte")
		}
		return pq.QuoteLiteral(v), nil
	case int64:
		return "'" + strconv.FormatInt(v, 10) + "'", nil
	case bool:
		return "'" + strconv.FormatBool(v) + "'", nil
	case time.Time:
		if v.Year() < 1 || v.Year() > 9999 {
			return "", fmt.Errorf("pgdb: a read cannot send the time %v", v)
		}
		// in UTC: a zone's offset may hold seconds (Paris before 1911),
		// which this layout would drop
		return "'" + v.UTC().Format("2006-01-02 15:04:05.999999Z07:00") + "'", nil
	}
	return "", fmt.Errorf("pgdb: a read cannot send an argument of type %T", v)
}

// prepared returns the connection's statement for query, preparing it the
// first time; beyond perConn, the least recently used is closed once the
// connection is idle (closing now would cost a round trip).
func (c *conn) prepared(ctx context.Context, query string) (preparedStmt, error) {
	if e, ok := c.stmts[query]; ok {
		c.lru.MoveToFront(e)
		return e.Value.(*cached).stmt, nil
	}
	if c.lru.Len() >= perConn {
		old := c.lru.Remove(c.lru.Back()).(*cached)
		delete(c.stmts, old.query)
		c.stale = append(c.stale, old.stmt)
	}
	ds, err := c.pqConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	st, ok := ds.(preparedStmt)
	if !ok {
		ds.Close()
		return nil, errors.New("pgdb: lib/pq's statement lacks an interface database/sql uses")
	}
	c.stmts[query] = c.lru.PushFront(&cached{query: query, stmt: st})
	return st, nil
}

// check forgets a statement PostgreSQL can no longer run: its plan, when a
// migration changed what it returns ("cached plan must not change result
// type", 0A000), closed when the connection is next idle, outside the
// transaction the error aborted; or the statement itself, gone from the
// server (26000: a pgbouncer without prepared statement support). The next
// use prepares it again.
func (c *conn) check(query string, err error) {
	var pqErr *pq.Error
	if !errors.As(err, &pqErr) || pqErr.Code != "0A000" && pqErr.Code != "26000" {
		return
	}
	e, ok := c.stmts[query]
	if !ok {
		return
	}
	c.lru.Remove(e)
	delete(c.stmts, query)
	if pqErr.Code == "0A000" {
		c.stale = append(c.stale, e.Value.(*cached).stmt)
	}
}

// ResetSession runs before the pool hands the connection out again: it
// closes the statements evicted or forgotten while it was in use.
func (c *conn) ResetSession(ctx context.Context) error {
	for len(c.staleNames) > 0 {
		name := c.staleNames[0]
		c.staleNames = c.staleNames[1:]
		if _, err := c.pqConn.ExecContext(ctx, "DEALLOCATE "+name, nil); err != nil {
			return driver.ErrBadConn
		}
	}
	for len(c.stale) > 0 {
		st := c.stale[0]
		c.stale = c.stale[1:]
		if err := st.Close(); err != nil {
			return driver.ErrBadConn
		}
	}
	return c.pqConn.ResetSession(ctx)
}
