package bench

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/payments"
	"github.com/regie/regie/tenant"
)

// recorder is a sqlx.ExtContext that only records the statement a store
// function sends: the pgbench script runs the page's own SQL, not a copy
// that could drift from it.
type recorder struct{ query string }

var errRecorded = errors.New("bench: statement recorded")

func (r *recorder) DriverName() string                                         { return "postgres" }
func (r *recorder) Rebind(q string) string                                     { return q }
func (r *recorder) BindNamed(q string, _ any) (string, []any, error)           { return q, nil, nil }
func (r *recorder) QueryRowxContext(context.Context, string, ...any) *sqlx.Row { return nil }
func (r *recorder) QueryContext(_ context.Context, q string, _ ...any) (*sql.Rows, error) {
	r.query = q
	return nil, errRecorded
}
func (r *recorder) QueryxContext(_ context.Context, q string, _ ...any) (*sqlx.Rows, error) {
	r.query = q
	return nil, errRecorded
}
func (r *recorder) ExecContext(_ context.Context, q string, _ ...any) (sql.Result, error) {
	r.query = q
	return nil, errRecorded
}

// PageQuery is the SELECT of "Mes factures" (billing.AccountInvoices).
func PageQuery() (string, error) {
	var r recorder
	if _, err := billing.AccountInvoices(context.Background(), &r, tenant.ID(1), "x@example.fr", time.Time{}); !errors.Is(err, errRecorded) {
		return "", fmt.Errorf("bench: recording the page's query: %v", err)
	}
	return r.query, nil
}

// PgbenchScript is the transaction of "Mes factures" as pgbench runs it:
// the commune and family drawn as PickUsers draws them, then what
// tenant.WithTx and the page send: BEGIN, the role and commune settings
// (tenant.Enter's statement), the page's SELECT, COMMIT. The address is
// built in SQL from the family's number ('f' || k || '@bench.example.fr'),
// and the start of the payer's window from now(): the differences from the
// page, which sends them as parameters.
func PgbenchScript(shape Shape, firstTenant int64) (string, error) {
	q, err := PageQuery()
	if err != nil {
		return "", err
	}
	since := fmt.Sprintf("(now() - interval '%d seconds')", int(payments.PayerWindow.Seconds()))
	q = strings.NewReplacer("$1", ":tid", "$2", "('f' || :k::text || '@bench.example.fr')", "$3", since).Replace(strings.Join(strings.Fields(q), " "))
	return fmt.Sprintf(`\set r random(1, %d)
\set k random(1, greatest(1, %d / :r))
\set tid %d + :r - 1
BEGIN;
SELECT set_config('role', 'regie_app', true), set_config('app.tenant_id', :tid::text, true);
%s;
COMMIT;
`, shape.Communes, shape.A, firstTenant, q), nil
}

// Pgbench runs the script with clients connections for seconds and
// returns the transactions per second and pgbench's command line.
func Pgbench(ctx context.Context, dir, dbURL, script string, clients, seconds int) (float64, string, error) {
	path := filepath.Join(dir, "factures.pgbench")
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		return 0, "", err
	}
	args := []string{"-n", "-M", "prepared", "-c", strconv.Itoa(clients), "-j", "2", "-T", strconv.Itoa(seconds), "-f", path, dbURL}
	out, err := exec.CommandContext(ctx, "pgbench", args...).CombinedOutput()
	cmd := "pgbench " + strings.Join(args[:len(args)-1], " ") + " $DB"
	if err != nil {
		return 0, cmd, fmt.Errorf("pgbench: %w: %s", err, out)
	}
	m := regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`).FindSubmatch(out)
	if m == nil {
		return 0, cmd, fmt.Errorf("pgbench: no tps in %s", out)
	}
	if f := regexp.MustCompile(`number of failed transactions: ([1-9][0-9]*)`).FindSubmatch(out); f != nil {
		return 0, cmd, fmt.Errorf("pgbench: %s failed transactions: %s", f[1], out)
	}
	tps, err := strconv.ParseFloat(string(m[1]), 64)
	return tps, cmd, err
}
