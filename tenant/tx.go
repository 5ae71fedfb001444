package tenant

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/tenant/pgdb"
)

// WithTx runs fn in a transaction bound to commune tid: it switches to the
// regie_app role and sets app.tenant_id, both transaction-local, so the
// row-level security policies apply even when the connection logs in as the
// schema owner or a superuser, and nothing leaks to the next user of a pooled
// connection. It commits when fn returns nil and rolls back otherwise
// (returning fn's error).
func WithTx(ctx context.Context, db *sqlx.DB, tid ID, fn func(tx *sqlx.Tx) error) (err error) {
	if tid <= 0 {
		return fmt.Errorf("tenant: WithTx without a commune")
	}
	enter := &pgdb.Begin{SQL: enterSQL(tid)}
	tx, err := db.BeginTxx(pgdb.WithBegin(ctx, enter), nil)
	if err != nil {
		return fmt.Errorf("tenant: begin in commune %d: %w", tid, err)
	}
	defer func() {
		if p := recover(); p != nil {
			tx.Rollback() //nolint:errcheck // re-panicking
			panic(p)
		}
		if err != nil {
			tx.Rollback() //nolint:errcheck // the first error matters
		}
	}()
	if !enter.Sent {
		if err = Enter(ctx, tx, tid); err != nil {
			return err
		}
	}
	if err = fn(tx); err != nil {
		return err
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("tenant: commit: %w", err)
	}
	return nil
}

// Enter binds the rest of an open transaction to commune tid, as WithTx
// does at its start: owner-level work that must then write a commune's rows
// in the same transaction (an operator's action and the commune's audit
// entry) calls it after its own statements.
func Enter(ctx context.Context, tx *sqlx.Tx, tid ID) error {
	if tid <= 0 {
		return fmt.Errorf("tenant: no commune to enter")
	}
	if _, err := tx.ExecContext(ctx, enterSQL(tid)); err != nil {
		return fmt.Errorf("tenant: enter commune %d: %w", tid, err)
	}
	return nil
}

// enterSQL sets the role and the commune of the rest of a transaction, both
// in one statement (SET LOCAL ROLE is the GUC "role"). Literal SQL, the
// commune's id a number: WithTx sends it with the BEGIN (pgdb.WithBegin),
// in the same round trip.
func enterSQL(tid ID) string {
	return "SELECT set_config('role', 'regie_app', true), set_config('app.tenant_id', '" + strconv.FormatInt(int64(tid), 10) + "', true)"
}

// Read runs fn, which only reads, bound to commune tid as WithTx binds its
// transactions, giving it a querier whose every statement runs in a
// read-only transaction of its own sent with the commune's settings in one
// round trip (pgdb.WithRead): for the families' most requested pages, whose
// statements are marked pgdb.Prepared. Where a connection cannot read so (a
// pooler in transaction mode, pgdb.ErrReadUnavailable), or on a pool not
// opened by pgdb.Open, fn runs again in WithTx: it must only read, and set
// its results anew each time.
func Read(ctx context.Context, db *sqlx.DB, tid ID, fn func(q sqlx.QueryerContext) error) error {
	if tid <= 0 {
		return fmt.Errorf("tenant: Read without a commune")
	}
	inTx := func(tx *sqlx.Tx) error { return fn(tx) }
	if !pgdb.Opened(db.DB) {
		return WithTx(ctx, db, tid, inTx)
	}
	r := reader{db: db, read: &pgdb.Read{Enter: "SET LOCAL ROLE regie_app; SET LOCAL app.tenant_id = '" + strconv.FormatInt(int64(tid), 10) + "'"}}
	err := fn(r)
	if errors.Is(err, pgdb.ErrReadUnavailable) {
		return WithTx(ctx, db, tid, inTx)
	}
	return err
}

// reader is Read's querier: the pool, each statement with pgdb.WithRead.
type reader struct {
	db   *sqlx.DB
	read *pgdb.Read
}

func (r reader) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return r.db.QueryContext(pgdb.WithRead(ctx, r.read), query, args...)
}

func (r reader) QueryxContext(ctx context.Context, query string, args ...any) (*sqlx.Rows, error) {
	return r.db.QueryxContext(pgdb.WithRead(ctx, r.read), query, args...)
}

func (r reader) QueryRowxContext(ctx context.Context, query string, args ...any) *sqlx.Row {
	return r.db.QueryRowxContext(pgdb.WithRead(ctx, r.read), query, args...)
}
