package account

import (
	"context"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/regie/regie/tenant"
)

// ForEmails returns the accounts of the (normalised) addresses that have
// one, by address: the accounts that see a family, for the back office.
func ForEmails(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, emails []string) ([]Account, error) {
	if len(emails) == 0 {
		return nil, nil
	}
	const sel = `SELECT ` + columns + ` FROM family_accounts WHERE tenant_id = $1 AND email = ANY($2) ORDER BY email`
	var as []Account
	err := sqlx.SelectContext(ctx, q, &as, sel, tid, pq.StringArray(emails))
	return as, err
}

// Disable stops an account from logging in (its sessions are the caller's
// to end) and returns it as it now is; changed is false when it was
// already disabled. Activating the address again enables it with a new
// password. It returns ErrNotFound.
func Disable(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, id int64, now time.Time) (a Account, changed bool, err error) {
	const upd = `UPDATE family_accounts SET disabled_at = $3 WHERE tenant_id = $1 AND id = $2 AND disabled_at IS NULL
		RETURNING ` + columns
	err = sqlx.GetContext(ctx, q, &a, upd, tid, id, now)
	if err == nil {
		return a, true, nil
	}
	if err = mapErr(err); !errors.Is(err, ErrNotFound) {
		return a, false, err
	}
	a, err = ByID(ctx, q, tid, id)
	return a, false, err
}
