package tenant_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/migrations/dbtest"
	"github.com/regie/regie/tenant"
	"github.com/regie/regie/tenant/pgdb"
	"github.com/regie/regie/tenant/tenanttest"
)

// TestWithTx_RowLevelSecurity is the proof that the policies, not only the
// application's WHERE clauses, keep communes apart.
func TestWithTx_RowLevelSecurity(t *testing.T) {
	db := dbtest.DB(t)
	ctx := context.Background()
	a := tenanttest.MustCreate(t, db, "rls-a")
	b := tenanttest.MustCreate(t, db, "rls-b")
	s := tenant.NewStore(db)
	for _, x := range []tenant.Tenant{a, b} {
		if err := s.AddDomain(ctx, x.ID, x.Slug+".example", "localhost"); err != nil {
			t.Fatal(err)
		}
	}

	// A probe table of the same shape and policy as every tenant-owned
	// table, since regie_app may not write the tables of this issue.
	mustExec(t, db, `CREATE TABLE IF NOT EXISTS rls_probe (tenant_id bigint NOT NULL REFERENCES tenants (id), note text NOT NULL, PRIMARY KEY (tenant_id, note))`)
	mustExec(t, db, `ALTER TABLE rls_probe ENABLE ROW LEVEL SECURITY`)
	mustExec(t, db, `DROP POLICY IF EXISTS tenant_isolation ON rls_probe`)
	mustExec(t, db, `CREATE POLICY tenant_isolation ON rls_probe
		USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::bigint)
		WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::bigint)`)
	mustExec(t, db, `GRANT SELECT, INSERT, UPDATE, DELETE ON rls_probe TO regie_app`)
	mustExec(t, db, `INSERT INTO rls_probe VALUES ($1, 'a'), ($2, 'b')`, a.ID, b.ID)

	t.Run("UnscopedSelectSeesOnlyOwnRows", func(t *testing.T) {
		err := tenant.WithTx(ctx, db, a.ID, func(tx *sqlx.Tx) error {
			for _, table := range []string{"tenant_domains", "rls_probe"} {
				var ids []int64
				if err := tx.SelectContext(ctx, &ids, `SELECT tenant_id FROM `+table); err != nil {
					return err
				}
				if len(ids) == 0 {
					t.Errorf("%s: A sees none of its own rows", table)
				}
				for _, id := range ids {
					if id != int64(a.ID) {
						t.Errorf("%s: A's transaction saw a row of commune %d", table, id)
					}
				}
			}
			var slugs []string
			if err := tx.SelectContext(ctx, &slugs, `SELECT slug FROM tenants`); err != nil {
				return err
			}
			if len(slugs) != 1 || slugs[0] != a.Slug {
				t.Errorf("tenants visible to A: %v, want only %s", slugs, a.Slug)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	t.Run("InsertOfOtherCommuneFails", func(t *testing.T) {
		err := tenant.WithTx(ctx, db, a.ID, func(tx *sqlx.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO rls_probe VALUES ($1, 'planted')`, b.ID)
			return err
		})
		if err == nil {
			t.Fatal("A's transaction inserted a row for B")
		}
		var n int
		db.GetContext(ctx, &n, `SELECT count(*) FROM rls_probe WHERE note = 'planted'`)
		if n != 0 {
			t.Fatalf("planted rows: %d", n)
		}
	})

	t.Run("UpdateOfOtherCommuneTouchesNothing", func(t *testing.T) {
		err := tenant.WithTx(ctx, db, a.ID, func(tx *sqlx.Tx) error {
			res, err := tx.ExecContext(ctx, `UPDATE rls_probe SET note = 'stolen' WHERE tenant_id = $1`, b.ID)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 0 {
				t.Errorf("A updated %d rows of B", n)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	t.Run("NoCommuneSeesNothingOnPooledConnection", func(t *testing.T) {
		one, err := sqlx.Open("postgres", dbtest.URL(t))
		if err != nil {
			t.Fatal(err)
		}
		defer one.Close()
		one.SetMaxOpenConns(1) // the same connection serves B, then nobody
		var pid1, pid2 int
		err = tenant.WithTx(ctx, one, b.ID, func(tx *sqlx.Tx) error {
			var n int
			if err := tx.GetContext(ctx, &n, `SELECT count(*) FROM rls_probe`); err != nil || n == 0 {
				t.Errorf("B sees %d rows (%v), want its own", n, err)
			}
			return tx.GetContext(ctx, &pid1, `SELECT pg_backend_pid()`)
		})
		if err != nil {
			t.Fatal(err)
		}
		tx, err := one.BeginTxx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		mustExecTx(t, tx, `SET LOCAL ROLE regie_app`)
		tx.GetContext(ctx, &pid2, `SELECT pg_backend_pid()`)
		if pid1 != pid2 {
			t.Fatalf("not the same pooled connection: %d then %d", pid1, pid2)
		}
		for _, table := range []string{"rls_probe", "tenant_domains", "tenants"} {
			var n int
			if err := tx.GetContext(ctx, &n, `SELECT count(*) FROM `+table); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Errorf("%s: regie_app without a commune sees %d rows", table, n)
			}
		}
	})

	t.Run("RoleIsTransactionLocal", func(t *testing.T) {
		one, _ := sqlx.Open("postgres", dbtest.URL(t))
		defer one.Close()
		one.SetMaxOpenConns(1)
		if err := tenant.WithTx(ctx, one, a.ID, func(tx *sqlx.Tx) error { return nil }); err != nil {
			t.Fatal(err)
		}
		var role, tid string
		if err := one.GetContext(ctx, &role, `SELECT current_user`); err != nil {
			t.Fatal(err)
		}
		if err := one.GetContext(ctx, &tid, `SELECT coalesce(current_setting('app.tenant_id', true), '')`); err != nil {
			t.Fatal(err)
		}
		if role == "regie_app" || tid != "" {
			t.Fatalf("after the transaction: role %q, app.tenant_id %q", role, tid)
		}
	})

	t.Run("ReadSeesOnlyOwnRows", func(t *testing.T) {
		one, err := pgdb.Open(dbtest.URL(t))
		if err != nil {
			t.Fatal(err)
		}
		defer one.Close()
		one.SetMaxOpenConns(1) // the same connection serves A's read, then nobody
		var notes []string
		err = tenant.Read(ctx, one, a.ID, func(q sqlx.QueryerContext) error {
			return sqlx.SelectContext(ctx, q, &notes, pgdb.Prepared+`SELECT note FROM rls_probe WHERE tenant_id IN ($1, $2) ORDER BY note`, a.ID, b.ID)
		})
		if err != nil || len(notes) != 1 || notes[0] != "a" {
			t.Fatalf("A's read of both communes: %q, %v; want A's row only", notes, err)
		}
		var role, tid string
		if err := one.GetContext(ctx, &role, `SELECT current_user`); err != nil {
			t.Fatal(err)
		}
		if err := one.GetContext(ctx, &tid, `SELECT coalesce(current_setting('app.tenant_id', true), '')`); err != nil {
			t.Fatal(err)
		}
		if role == "regie_app" || tid != "" {
			t.Fatalf("after the read: role %q, app.tenant_id %q", role, tid)
		}
	})

	t.Run("RollbackOnError", func(t *testing.T) {
		boom := errors.New("boom")
		err := tenant.WithTx(ctx, db, a.ID, func(tx *sqlx.Tx) error {
			mustExecTx(t, tx, `INSERT INTO rls_probe VALUES ($1, 'rolled back')`, a.ID)
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v", err)
		}
		var n int
		db.GetContext(ctx, &n, `SELECT count(*) FROM rls_probe WHERE note = 'rolled back'`)
		if n != 0 {
			t.Fatal("the failed transaction was committed")
		}
	})
}

// TestSchema_TenantOwnedTables checks the layout rules of DESIGN.md "Data" on
// every table of the schema, so a new table cannot forget them.
func TestSchema_TenantOwnedTables(t *testing.T) {
	db := dbtest.DB(t)
	var tables []string
	err := db.Select(&tables, `SELECT c.table_name FROM information_schema.columns c
		JOIN information_schema.tables t USING (table_schema, table_name)
		WHERE c.table_schema = 'public' AND c.column_name = 'tenant_id' AND t.table_type = 'BASE TABLE'
		  AND c.table_name <> 'rls_probe' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) == 0 {
		t.Fatal("no tenant-owned table found")
	}
	const expr = `(tenant_id = (NULLIF(current_setting('app.tenant_id'::text, true), ''::text))::bigint)`
	for _, table := range tables {
		var rls bool
		db.Get(&rls, `SELECT relrowsecurity FROM pg_class WHERE oid = $1::regclass`, table)
		if !rls {
			t.Errorf("%s: row-level security is not enabled", table)
		}
		var pol []struct {
			Qual  string `db:"qual"`
			Check string `db:"with_check"`
		}
		db.Select(&pol, `SELECT coalesce(qual, '') AS qual, coalesce(with_check, '') AS with_check FROM pg_policies WHERE tablename = $1`, table)
		if len(pol) != 1 || pol[0].Qual != expr || pol[0].Check != expr {
			t.Errorf("%s: policies %+v, want one with USING and WITH CHECK %s", table, pol, expr)
		}
		var firstKey string
		db.Get(&firstKey, `SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
			WHERE i.indrelid = $1::regclass AND i.indisprimary`, table)
		if firstKey != "tenant_id" {
			t.Errorf("%s: primary key starts with %q, want tenant_id", table, firstKey)
		}
		var fks []struct {
			Name string `db:"conname"`
			Def  string `db:"def"`
		}
		db.Select(&fks, `SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint
			WHERE conrelid = $1::regclass AND contype = 'f'
			  AND confrelid <> 'tenants'::regclass`, table)
		for _, fk := range fks {
			if !containsTenantID(fk.Def) {
				t.Errorf("%s: foreign key %s does not include tenant_id: %s", table, fk.Name, fk.Def)
			}
		}
	}
}

// containsTenantID reports whether a foreign key's definition, such as
// FOREIGN KEY (tenant_id, family_id) REFERENCES families(tenant_id, id),
// includes tenant_id on both sides.
func containsTenantID(def string) bool {
	local, remote, ok := strings.Cut(def, "REFERENCES")
	return ok && strings.Contains(local, "tenant_id") && strings.Contains(remote, "tenant_id")
}

func mustExec(t *testing.T, db *sqlx.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func mustExecTx(t *testing.T, tx *sqlx.Tx, q string, args ...any) {
	t.Helper()
	if _, err := tx.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// pools returns the platform's pool (tenant/pgdb) and a plain lib/pq pool
// on the same database.
func pools(tb testing.TB) map[string]*sqlx.DB {
	tb.Helper()
	plain, err := sqlx.Open("postgres", dbtest.URL(tb))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { plain.Close() })
	return map[string]*sqlx.DB{"pgdb": dbtest.DB(tb), "lib-pq": plain}
}

// WithTx enters the commune on any pool: with the BEGIN on the platform's
// own (pgdb), by a statement of its own on another.
func TestWithTx_EntersOnAnyPool(t *testing.T) {
	ctx := context.Background()
	a := tenanttest.MustCreate(t, dbtest.DB(t), "enter")
	for name, db := range pools(t) {
		err := tenant.WithTx(ctx, db, a.ID, func(tx *sqlx.Tx) error {
			var role, tid string
			if err := tx.QueryRowxContext(ctx, `SELECT current_user, current_setting('app.tenant_id')`).Scan(&role, &tid); err != nil {
				return err
			}
			if role != "regie_app" || tid != strconv.FormatInt(int64(a.ID), 10) {
				t.Errorf("%s: role %s, commune %s; want regie_app, %d", name, role, tid, a.ID)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

// Read reads in the commune on any pool, and on a connection that cannot
// read in one round trip (the server lost the read's statement, as behind
// pgbouncer in transaction mode) it reads in a transaction instead.
func TestRead_Fallback(t *testing.T) {
	ctx := context.Background()
	a := tenanttest.MustCreate(t, dbtest.DB(t), "read")
	const sel = pgdb.Prepared + `SELECT current_user || ' ' || current_setting('app.tenant_id') || ' ' || $1::text`
	want := "regie_app " + strconv.FormatInt(int64(a.ID), 10) + " x"
	one, err := pgdb.Open(dbtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	one.SetMaxOpenConns(1)
	dbs := pools(t)
	dbs["pgdb, one connection"] = one
	read := func(db *sqlx.DB) (string, error) {
		var got string
		err := tenant.Read(ctx, db, a.ID, func(q sqlx.QueryerContext) error {
			got = ""
			return sqlx.GetContext(ctx, q, &got, sel, "x")
		})
		return got, err
	}
	for name, db := range dbs {
		if got, err := read(db); err != nil || got != want {
			t.Errorf("%s: read %q, %v; want %q", name, got, err, want)
		}
	}
	one.MustExec(`DEALLOCATE ALL`)
	for i := range 2 {
		if got, err := read(one); err != nil || got != want {
			t.Errorf("read %d after DEALLOCATE ALL: %q, %v; want %q", i+1, got, err, want)
		}
	}
	var n int
	if err := one.Get(&n, `SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'regie_read_%'`); err != nil || n != 0 {
		t.Errorf("%d statements prepared for reads (%v): the connection should read in transactions now", n, err)
	}
}

// BenchmarkWithTx: a transaction of one small statement in a commune, on
// the platform's pool (the commune's settings sent with the BEGIN) and on a
// plain lib/pq pool (sent by a statement of their own).
func BenchmarkWithTx(b *testing.B) {
	ctx := context.Background()
	a := tenanttest.MustCreate(b, dbtest.DB(b), "bench-tx")
	for name, db := range pools(b) {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				err := tenant.WithTx(ctx, db, a.ID, func(tx *sqlx.Tx) error {
					var n int
					return tx.GetContext(ctx, &n, `SELECT 1`)
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRead: one small statement in a commune, by Read and in WithTx.
func BenchmarkRead(b *testing.B) {
	ctx := context.Background()
	db := dbtest.DB(b)
	a := tenanttest.MustCreate(b, db, "bench-read")
	const sel = pgdb.Prepared + `SELECT $1::int`
	for name, read := range map[string]func() error{
		"Read": func() error {
			return tenant.Read(ctx, db, a.ID, func(q sqlx.QueryerContext) error {
				var n int
				return sqlx.GetContext(ctx, q, &n, sel, 1)
			})
		},
		"WithTx": func() error {
			return tenant.WithTx(ctx, db, a.ID, func(tx *sqlx.Tx) error {
				var n int
				return tx.GetContext(ctx, &n, sel, 1)
			})
		},
	} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if err := read(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
