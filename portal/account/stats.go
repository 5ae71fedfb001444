package account

import (
	"context"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/tenant"
)

// Activation counts how far a commune's families use the portal.
type Activation struct {
	// Families is the number of families of the commune (each came with
	// an imported invoice).
	Families int64 `db:"families"`
	// Activated is how many of them list at least one address whose
	// account is active.
	Activated int64 `db:"activated"`
}

// ActivationOf returns the commune's activation counts, in one query that
// reads families, addresses and accounts but no invoice: it stays fast
// however many invoices the commune has.
func ActivationOf(ctx context.Context, q sqlx.ExtContext, tid tenant.ID) (Activation, error) {
	const sel = `SELECT (SELECT count(*) FROM families WHERE tenant_id = $1) AS families,
		(SELECT count(DISTINCT e.family_id)
			FROM family_emails e
			JOIN family_accounts a ON a.tenant_id = e.tenant_id AND a.email = e.email
			WHERE e.tenant_id = $1 AND a.tenant_id = $1 AND a.disabled_at IS NULL) AS activated`
	var a Activation
	err := sqlx.GetContext(ctx, q, &a, sel, tid)
	return a, err
}
