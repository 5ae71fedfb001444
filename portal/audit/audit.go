// Package audit writes and reads the audit log: every change staff,
// operators or API clients make to a commune, who made it, when, and the
// values before and after. Entries are written in the transaction of the
// change; the application role may insert and read them, never change
// them.
package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/tenant"
)

// Actor is who made a change.
type Actor struct {
	Kind  string // staff, operator, system, api
	ID    int64
	Email string
}

// Entry is one change.
type Entry struct {
	Action     string // "invoice.cancel", "staff.invite"…
	TargetType string // "invoice", "staff"…
	TargetID   string
	Before     any // nil when nothing was there
	After      any
}

// Record writes an entry in the change's transaction.
func Record(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, who Actor, e Entry) error {
	before, err := asJSON(e.Before)
	if err != nil {
		return err
	}
	after, err := asJSON(e.After)
	if err != nil {
		return err
	}
	var actorID *int64
	if who.ID != 0 {
		actorID = &who.ID
	}
	const ins = `INSERT INTO audit_log (tenant_id, actor_kind, actor_id, actor_email, action, target_type, target_id, before, after)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`
	if _, err := q.ExecContext(ctx, ins, tid, who.Kind, actorID, who.Email, e.Action, e.TargetType, e.TargetID, before, after); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

func asJSON(v any) (*string, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	s := string(b)
	return &s, nil
}

// Row is an entry as read back.
type Row struct {
	ID         int64     `db:"id"`
	At         time.Time `db:"at"`
	ActorKind  string    `db:"actor_kind"`
	ActorEmail string    `db:"actor_email"`
	Action     string    `db:"action"`
	TargetType string    `db:"target_type"`
	TargetID   string    `db:"target_id"`
	Before     *string   `db:"before"`
	After      *string   `db:"after"`
}

// List returns the commune's entries, newest first, older than the entry
// id before (0: from the newest), at most limit.
func List(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, before int64, limit int) ([]Row, error) {
	const sel = `SELECT id, at, actor_kind, actor_email, action, target_type, target_id, before::text AS before, after::text AS after
		FROM audit_log WHERE tenant_id = $1 AND ($2::bigint = 0 OR id < $2) ORDER BY id DESC LIMIT $3`
	var rows []Row
	err := sqlx.SelectContext(ctx, q, &rows, sel, tid, before, limit)
	return rows, err
}
