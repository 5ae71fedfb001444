package payments_test

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/regie/regie/payments"
	"github.com/regie/regie/payments/payfip"
	"github.com/regie/regie/tenant"
)

type dgfipCheck struct {
	OK    bool   `db:"ok"`
	Label string `db:"label"`
	Error string `db:"error"`
}

func checkOf(t *testing.T, e *env, numcli string) dgfipCheck {
	t.Helper()
	var c dgfipCheck
	if err := e.db.Get(&c, `SELECT ok, label, error FROM dgfip_checks WHERE numcli = $1`, numcli); err != nil {
		t.Fatalf("check of %s: %v", numcli, err)
	}
	return c
}

// The background check records, per client number, whether DGFiP knows
// it, and records DGFiP being down as a failure of every number rather
// than failing the job.
func TestDGFiPCheck(t *testing.T) {
	e := sharedEnv(t)
	known := e.commune(t, "check-known")
	unknown := e.commune(t, "check-unknown", func(tn *tenant.Tenant) { tn.Numcli = "999999" })

	w := &payments.DGFiPCheckWorker{S: e.svc}
	if err := w.Work(context.Background(), nil); err != nil {
		t.Fatalf("check: %v", err)
	}
	if c := checkOf(t, e, known.Numcli); !c.OK || c.Label == "" || c.Error != "" {
		t.Errorf("known numcli: %+v, want reachable with its label", c)
	}
	if c := checkOf(t, e, unknown.Numcli); c.OK || c.Error == "" {
		t.Errorf("unknown numcli: %+v, want refused with a reason", c)
	}

	down := httptest.NewServer(nil)
	down.Close()
	svc := *e.svc
	svc.PayFiP = payfip.New(down.URL, nil)
	if err := (&payments.DGFiPCheckWorker{S: &svc}).Work(context.Background(), nil); err != nil {
		t.Fatalf("check with DGFiP down: %v", err)
	}
	if c := checkOf(t, e, known.Numcli); c.OK || c.Error == "" {
		t.Errorf("DGFiP down: %+v, want unreachable with a reason", c)
	}
}
