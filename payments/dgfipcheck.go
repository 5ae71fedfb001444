package payments

import (
	"cmp"
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"
	"golang.org/x/sync/errgroup"

	"github.com/regie/regie/payments/payfip"
	"github.com/regie/regie/tenant"
)

// DGFiPCheckArgs is the periodic job that asks DGFiP about every commune's
// client number, so the operators' console can tell at a glance which
// communes DGFiP would refuse.
type DGFiPCheckArgs struct{}

// Kind names the job in River.
func (DGFiPCheckArgs) Kind() string { return "payments.dgfip_check" }

// DGFiPCheckWorker works DGFiPCheckArgs.
type DGFiPCheckWorker struct {
	river.WorkerDefaults[DGFiPCheckArgs]
	S *Service
}

// dgfipCheckParallel bounds the calls to DGFiP in flight at once.
const dgfipCheckParallel = 4

// Work checks the client number of every commune not closed, a few at a
// time, each with its own timeout, and stores each answer in dgfip_checks.
// One number failing does not stop the others; the job itself fails only
// when the database does.
func (w *DGFiPCheckWorker) Work(ctx context.Context, _ *river.Job[DGFiPCheckArgs]) error {
	// Owner-level on purpose: a platform-wide check, not a commune's data.
	var numclis []string
	if err := w.S.DB.SelectContext(ctx, &numclis,
		`SELECT DISTINCT numcli FROM tenants WHERE status <> 'closed' ORDER BY numcli`); err != nil {
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(dgfipCheckParallel)
	for _, n := range numclis {
		g.Go(func() error { return w.check(ctx, n) })
	}
	return g.Wait()
}

func (w *DGFiPCheckWorker) check(ctx context.Context, numcli string) error {
	callCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	info, err := w.S.PayFiP.ClientDetails(callCtx, numcli)
	cancel()
	var label, reason string
	if err == nil {
		label = cmp.Or(info.Label2, info.Label1)
	} else {
		reason = err.Error()
		var f *payfip.Fault
		if errors.As(err, &f) {
			reason = f.French()
		}
		tenant.Logger(ctx, w.S.Log).Warn("DGFiP check failed", "numcli", numcli, "err", err)
	}
	_, dbErr := w.S.DB.ExecContext(ctx, `INSERT INTO dgfip_checks (numcli, ok, label, error, checked_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (numcli) DO UPDATE SET ok = $2, label = $3, error = $4, checked_at = $5`,
		numcli, err == nil, label, reason, w.S.now())
	return dbErr
}
