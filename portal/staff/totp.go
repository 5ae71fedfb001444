package staff

import (
	"context"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/portal/mfa"
	"github.com/regie/regie/tenant"
)

// EnableTOTP stores a confirmed (sealed) secret and new recovery codes,
// and returns the codes in clear, to be shown once.
func EnableTOTP(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, id int64, sealed string) ([]string, error) {
	codes, hashes, err := mfa.NewRecoveryCodes()
	if err != nil {
		return nil, err
	}
	res, err := q.ExecContext(ctx, `UPDATE staff SET totp_secret = $3, totp_enabled = true, recovery_codes = $4
		WHERE tenant_id = $1 AND id = $2`, tid, id, sealed, hashes)
	return codes, expectOne(res, err)
}

// ResetTOTP removes a member's second factor: they enrol again at their next
// login (mandatory for administrators).
func ResetTOTP(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, id int64) error {
	res, err := q.ExecContext(ctx, `UPDATE staff SET totp_secret = '', totp_enabled = false, recovery_codes = '{}'
		WHERE tenant_id = $1 AND id = $2`, tid, id)
	return expectOne(res, err)
}

// UseRecoveryCode spends one recovery code of a member, and reports
// whether it was valid.
func UseRecoveryCode(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, id int64, code string) (bool, error) {
	h := mfa.HashCode(code)
	res, err := q.ExecContext(ctx, `UPDATE staff SET recovery_codes = array_remove(recovery_codes, $3)
		WHERE tenant_id = $1 AND id = $2 AND $3 = ANY(recovery_codes)`, tid, id, h)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}
