package operator

import (
	"context"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/tenant"
)

// CommuneRow is a commune's state at a glance, for the console.
type CommuneRow struct {
	ID             tenant.ID       `db:"id"`
	Slug           string          `db:"slug"`
	Name           string          `db:"name"`
	Numcli         string          `db:"numcli"`
	Protocol       tenant.Protocol `db:"protocol"`
	Mode           tenant.Mode     `db:"mode"`
	Status         tenant.Status   `db:"status"`
	LastImport     *time.Time      `db:"last_import"`
	InvoicesMonth  int             `db:"invoices_month"`
	PaymentsMonth  int             `db:"payments_month"`
	FailedJobs     int             `db:"failed_jobs"`
	DGFiPOK        *bool           `db:"dgfip_ok"`
	DGFiPError     *string         `db:"dgfip_error"`
	DGFiPCheckedAt *time.Time      `db:"dgfip_checked_at"`
	LastStaffLogin *time.Time      `db:"last_staff_login"`
}

// CommuneOverview lists communes whose name or slug contains query (all
// when empty), those still in test mode first, then by slug, a page of
// limit from offset, with the figures of the month starting at monthStart.
// Owner-level on purpose: an operator-wide read, a few index lookups per
// listed commune.
func CommuneOverview(ctx context.Context, db *sqlx.DB, query string, monthStart time.Time, limit, offset int) ([]CommuneRow, error) {
	const q = `
	WITH page AS (
		SELECT id, slug, name, numcli, protocol, mode, status FROM tenants
		WHERE $1 = '' OR search_name LIKE '%' || $1 || '%' OR slug LIKE '%' || $1 || '%'
		ORDER BY mode = 'test' DESC, slug LIMIT $3 OFFSET $4),
	failed AS (
		SELECT (args->>'tenant_id')::bigint AS tenant_id, count(*) AS n FROM river_job
		WHERE state = 'discarded' AND args ? 'tenant_id' GROUP BY 1)
	SELECT p.id, p.slug, p.name, p.numcli, p.protocol, p.mode, p.status,
		(SELECT max(created_at) FROM import_batches b WHERE b.tenant_id = p.id) AS last_import,
		(SELECT count(*) FROM invoices i WHERE i.tenant_id = p.id AND i.published_at >= $2) AS invoices_month,
		(SELECT count(*) FROM payments y WHERE y.tenant_id = p.id AND y.paid_at >= $2 AND NOT y.test) AS payments_month,
		coalesce(f.n, 0) AS failed_jobs,
		d.ok AS dgfip_ok, d.error AS dgfip_error, d.checked_at AS dgfip_checked_at,
		(SELECT max(last_login_at) FROM staff s WHERE s.tenant_id = p.id) AS last_staff_login
	FROM page p LEFT JOIN failed f ON f.tenant_id = p.id LEFT JOIN dgfip_checks d ON d.numcli = p.numcli
	ORDER BY p.mode = 'test' DESC, p.slug`
	var rows []CommuneRow
	err := db.SelectContext(ctx, &rows, q, tenant.FoldName(query), monthStart, limit, offset)
	return rows, err
}

// CommuneTrail returns the operators' actions about a commune, newest
// first.
func CommuneTrail(ctx context.Context, db *sqlx.DB, commune tenant.ID, limit int) ([]Entry, error) {
	var es []Entry
	err := db.SelectContext(ctx, &es, `SELECT id, at, operator_email, action, commune_id, target, before::text AS before, after::text AS after
		FROM operator_audit WHERE commune_id = $1 ORDER BY id DESC LIMIT $2`, commune, limit)
	return es, err
}
