// Package migrations holds the forward-only SQL schema of Régie, embedded in the
// binary, and the functions that apply and check it.
//
// The schema has two parts applied in order: River's own job tables (through
// rivermigrate, so they always match the River version we link) and our SQL
// files under sql/ (through goose). Our files come second because they grant
// the regie_app role the River privileges that tenant transactions need to
// insert jobs.
package migrations

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/rivermigrate"
)

//go:embed sql/*.sql
var files embed.FS

// ErrPending is returned by Check when the database schema is older than the
// migrations compiled into this binary.
var ErrPending = errors.New("the database schema is older than this binary: run `regie migrate`")

// lockKey serialises concurrent migrators (several pods starting at once)
// with a session advisory lock.
const lockKey = 7_391_204_551

// Apply brings the schema up to date: River's tables first, then ours. It is
// idempotent and safe to run from several processes at once.
func Apply(ctx context.Context, db *sql.DB, log *slog.Logger) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrations: connect: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, lockKey); err != nil {
		return fmt.Errorf("migrations: lock: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, lockKey) //nolint:errcheck // the lock also ends with the session

	rm, err := riverMigrator(db, log)
	if err != nil {
		return err
	}
	res, err := rm.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return fmt.Errorf("migrations: river: %w", err)
	}
	for _, v := range res.Versions {
		log.Info("applied river migration", "version", v.Version, "name", v.Name)
	}

	p, err := provider(db, log)
	if err != nil {
		return err
	}
	applied, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	for _, r := range applied {
		log.Info("applied migration", "version", r.Source.Version, "file", r.Source.Path, "duration", r.Duration)
	}
	return nil
}

// Check returns ErrPending (wrapped with what is missing) when either part of
// the schema lacks a migration of this binary.
func Check(ctx context.Context, db *sql.DB) error {
	rm, err := riverMigrator(db, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	vr, err := rm.Validate(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrations: check river: %w", err)
	}
	if !vr.OK {
		return fmt.Errorf("%w (river: %v)", ErrPending, vr.Messages)
	}
	p, err := provider(db, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	pending, err := p.HasPending(ctx)
	if err != nil {
		return fmt.Errorf("migrations: check: %w", err)
	}
	if pending {
		current, _ := p.GetDBVersion(ctx)
		srcs := p.ListSources()
		return fmt.Errorf("%w (schema version %d, binary expects %d)", ErrPending, current, srcs[len(srcs)-1].Version)
	}
	return nil
}

// Fingerprint identifies the schema this binary builds (embedded SQL and the
// River migration line); tests use it to name their migrated template.
func Fingerprint() (string, error) {
	rm, err := rivermigrate.New(riverdatabasesql.New(nil), nil)
	if err != nil {
		return "", err
	}
	all := rm.AllVersions()
	h := sha256.New()
	fmt.Fprintf(h, "river %d\n", all[len(all)-1].Version)
	err = fs.WalkDir(files, "sql", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %d\n", path, len(b))
		h.Write(b)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:16], err
}

func sub() fs.FS {
	s, err := fs.Sub(files, "sql")
	if err != nil {
		panic(err) // the embedded folder always exists
	}
	return s
}

func provider(db *sql.DB, log *slog.Logger) (*goose.Provider, error) {
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub(), goose.WithSlog(log))
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return p, nil
}

func riverMigrator(db *sql.DB, log *slog.Logger) (*rivermigrate.Migrator[*sql.Tx], error) {
	m, err := rivermigrate.New(riverdatabasesql.New(db), &rivermigrate.Config{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("migrations: river: %w", err)
	}
	return m, nil
}
