package portal

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"

	"github.com/regie/regie/migrations/dbtest"
	"github.com/regie/regie/portal/mail"
	"github.com/regie/regie/portal/staff"
)

// scrape reads /metrics straight from 127.0.0.1 (no proxy header).
func scrape(t *testing.T, e *env, header ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.ts.URL+"/metrics", nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestMetrics(t *testing.T) {
	e := sharedEnv(t)
	tn := importCommune(t, "metrics")
	publishCSV(t, e, tn, "M1;Famille M;;;;;RS;2026-10;Repas;1;12,00;15/11/2026")
	agent := staffLogin(t, e, tn, newMember(t, e, tn, staff.Agent, false))
	var ref string
	if err := dbtest.DB(t).Get(&ref, `SELECT i.reference FROM invoices i JOIN families f ON f.tenant_id = i.tenant_id AND f.id = i.family_id
		WHERE i.tenant_id = $1 AND f.ref = 'M1'`, tn.ID); err != nil {
		t.Fatal(err)
	}
	res, body := agent.post(fmt.Sprintf("/gestion/factures/%d/paiement", invoiceID(t, tn, ref)), url.Values{"date": {time.Now().Format("02/01/2006")}, "moyen": {"cash"}})
	expect(t, res, body, http.StatusSeeOther, "")
	if _, err := e.pay.PayFiP.ClientDetails(context.Background(), "001964"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.pay.PayFiP.ClientDetails(context.Background(), "999999"); err == nil {
		t.Fatal("unknown numcli accepted by the stand-in")
	}

	// a job waiting for its time, so that the queue is not empty
	if _, err := e.jobs.Insert(context.Background(), mail.SendArgs{TenantID: tn.ID, MailIDs: []int64{1}}, &river.InsertOpts{ScheduledAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	status, text := scrape(t, e)
	if status != http.StatusOK {
		t.Fatalf("/metrics from loopback: %d", status)
	}
	for _, want := range []string{
		`regie_http_requests_total{method="POST",route="/gestion/factures/:id/paiement",site="commune",status="303"}`,
		`regie_http_request_duration_seconds_bucket{route="/gestion/factures/:id/paiement",site="commune"`,
		`regie_payments_total{channel="counter",outcome="paid",test="false"}`,
		`regie_dgfip_call_duration_seconds_count{operation="recupererDetailClient",result="ok"}`,
		`regie_dgfip_call_duration_seconds_count{operation="recupererDetailClient",result="fault"}`,
		`regie_dgfip_faults_total{code=`,
		`regie_jobs{kind="mail.send",state="scheduled"}`,
		`go_goroutines`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// through a proxy (X-Forwarded-For), or from another machine: refused
	res, body = agent.get("/metrics")
	expect(t, res, body, http.StatusForbidden, "")

	// with a token, only requests that bear it
	h := MetricsHandler("jeton-secret", prometheus.DefaultGatherer)
	for hdr, want := range map[string]int{"": 403, "Bearer autre": 403, "jeton-secret": 403, "Bearer jeton-secret": 200} {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		req.RemoteAddr = "10.1.2.3:4567"
		if hdr != "" {
			req.Header.Set("Authorization", hdr)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("Authorization %q: %d, want %d", hdr, rec.Code, want)
		}
	}
}
