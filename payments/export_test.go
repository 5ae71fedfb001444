package payments

import (
	"context"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/tenant"
)

// FailWithoutOperation settles a as failed for want of an operation, as
// look does for an attempt DGFiP never gave one, and says whether it did.
func FailWithoutOperation(ctx context.Context, s *Service, a Attempt) (settledNow bool, err error) {
	err = tenant.WithTx(ctx, s.DB, a.TenantID, func(tx *sqlx.Tx) error {
		st, err := settle(ctx, tx, s.Jobs, a, outcome{status: Failed}, s.now())
		settledNow = st.attempt != nil
		return err
	})
	return settledNow, err
}
