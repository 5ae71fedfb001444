package portal

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/regie/regie/migrations/dbtest"
	"github.com/regie/regie/tenant/tenanttest"
)

// TestAbuse_OversizedAPIBodies: the billing software's API refuses bodies
// over its limits — 16 MiB for invoices, 1 MiB elsewhere — declared or
// streamed, with an RFC 9457 problem in French, before anything reads them
// whole. (Forms and uploads: TestBodyLimits, TestImportPage and
// TestStaffSettings_Logo.)
func TestAbuse_OversizedAPIBodies(t *testing.T) {
	e := sharedEnv(t)
	tn := tenanttest.MustCreate(t, dbtest.DB(t), "gros-api")
	_, secret := newAPIKey(t, tn, "facturation")
	b := e.browser(t, tn)
	for _, c := range []struct {
		name, method, path string
		size               int
		streamed           bool
		detail             string
	}{
		{"invoices declared", http.MethodPost, "/api/v1/factures", maxAPIBody + 1, false, "Le corps de la requête dépasse 16 Mo : découpez l'envoi."},
		{"invoices streamed", http.MethodPost, "/api/v1/factures", maxAPIBody + 1, true, "Le corps de la requête dépasse 16 Mo."},
		{"family declared", http.MethodPut, "/api/v1/familles/F1", 1<<20 + 1, false, "Ce que vous avez envoyé dépasse la taille permise."},
		{"family streamed", http.MethodPut, "/api/v1/familles/F1", 1<<20 + 1, true, "Le corps de la requête dépasse 1 Mo."},
	} {
		t.Run(c.name, func(t *testing.T) {
			body := `{"familles":[` + strings.Repeat(`{"nom":"x"},`, c.size/12) + `{}]}`
			var r io.Reader = strings.NewReader(body)
			if c.streamed {
				r = io.MultiReader(bytes.NewReader([]byte(body))) // no length: sent chunked
			}
			req, _ := http.NewRequest(c.method, b.url(c.path), r)
			req.Header.Set("Authorization", "Bearer "+secret)
			req.Header.Set("Content-Type", "application/json")
			if c.streamed {
				req.ContentLength = -1
			}
			res, raw := b.do(req)
			var p map[string]any
			if err := json.Unmarshal([]byte(raw), &p); err != nil {
				t.Fatalf("status %d, not JSON: %.200s", res.StatusCode, raw)
			}
			wantProblem(t, res, p, http.StatusRequestEntityTooLarge, "trop_volumineux")
			if d, _ := p["detail"].(string); !strings.Contains(d, c.detail) {
				t.Errorf("detail %q, want %q", d, c.detail)
			}
		})
	}
}
