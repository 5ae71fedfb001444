package portal

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/migrations/dbtest"
	"github.com/regie/regie/payments"
	"github.com/regie/regie/portal/apikey"
	"github.com/regie/regie/portal/staff"
	"github.com/regie/regie/tenant"
)

// apiClient calls the API of one commune with one key.
type apiClient struct {
	b   *browser
	key string
}

func (a apiClient) call(method, path, body string, header ...string) (*http.Response, map[string]any) {
	a.b.t.Helper()
	var r *strings.Reader
	if body != "" {
		r = strings.NewReader(body)
	} else {
		r = strings.NewReader("")
	}
	req, _ := http.NewRequest(method, a.b.url(path), r)
	if a.key != "" {
		req.Header.Set("Authorization", "Bearer "+a.key)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, raw := a.b.do(req)
	var out map[string]any
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		a.b.t.Fatalf("%s %s: not JSON (%d): %s", method, path, res.StatusCode, raw)
	}
	return res, out
}

// wantProblem checks an RFC 9457 answer: status, content type, French
// detail and code.
func wantProblem(t *testing.T, res *http.Response, p map[string]any, status int, code string) {
	t.Helper()
	if res.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d: %v", res.Request.Method, res.Request.URL.Path, res.StatusCode, status, p)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Errorf("content type %q, want application/problem+json", ct)
	}
	if p["code"] != code || p["status"] != float64(status) || p["title"] == "" || p["type"] != "about:blank" {
		t.Errorf("problem %v, want code %s and status %d", p, code, status)
	}
	if d, _ := p["detail"].(string); d == "" {
		t.Errorf("problem without a detail: %v", p)
	}
}

func newAPIKey(t *testing.T, tn tenant.Tenant, name string) (apikey.Key, string) {
	t.Helper()
	var (
		k      apikey.Key
		secret string
	)
	err := tenant.WithTx(context.Background(), dbtest.DB(t), tn.ID, func(tx *sqlx.Tx) error {
		var err error
		k, secret, err = apikey.Create(context.Background(), tx, tn.ID, name, "test")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return k, secret
}

func TestAPIAuth(t *testing.T) {
	e := sharedEnv(t)
	tn := importCommune(t, "api-auth")
	other := importCommune(t, "api-other")
	k, key := newAPIKey(t, tn, "logiciel")
	_, otherKey := newAPIKey(t, other, "logiciel")
	b := e.browser(t, tn)

	for _, tc := range []struct {
		name, key, code string
	}{
		{"missing", "", "cle_manquante"},
		{"malformed", "n'importe quoi", "cle_invalide"},
		{"wrong secret", key[:len(key)-4] + "aaaa", "cle_invalide"},
		{"other commune's key", otherKey, "cle_invalide"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, p := apiClient{b, tc.key}.call(http.MethodGet, "/api/v1/factures", "")
			wantProblem(t, res, p, http.StatusUnauthorized, tc.code)
			if res.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}

	res, p := apiClient{b, key}.call(http.MethodGet, "/api/v1/factures", "")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("good key: %d %v", res.StatusCode, p)
	}

	// the other commune's key works on its own commune
	res, p = apiClient{b.on(other), otherKey}.call(http.MethodGet, "/api/v1/factures", "")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("key on its own commune: %d %v", res.StatusCode, p)
	}

	// past the key's rate: 429 with Retry-After. The test's own limit
	// refills slowly, so that a loaded machine cannot refill it between
	// the requests (tests of this package do not run in parallel).
	saved := e.srv.limits
	defer func() { e.srv.limits = saved }()
	e.srv.limits.apiRequestsByKey = limit{"t-api-key-" + tn.Slug, 3, time.Hour}
	for range 3 {
		if res, p := (apiClient{b, key}).call(http.MethodGet, "/api/v1/factures", ""); res.StatusCode != http.StatusOK {
			t.Fatalf("within the rate: %d %v", res.StatusCode, p)
		}
	}
	res, p = apiClient{b, key}.call(http.MethodGet, "/api/v1/factures", "")
	wantProblem(t, res, p, http.StatusTooManyRequests, "trop_de_requetes")
	if res.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}

	// revoked through the back office: refused at once
	admin := staffLogin(t, e, tn, newMember(t, e, tn, staff.Admin, true))
	res2, body := admin.post(fmt.Sprintf("/gestion/api/%d/revoquer", k.ID), url.Values{})
	expect(t, res2, body, http.StatusSeeOther, "/gestion/api")
	res, p = apiClient{b, key}.call(http.MethodGet, "/api/v1/factures", "")
	wantProblem(t, res, p, http.StatusUnauthorized, "cle_invalide")

	// unknown API routes and suspended communes answer in problem+json too
	_, key2 := newAPIKey(t, tn, "second")
	res, p = apiClient{b, key2}.call(http.MethodGet, "/api/v1/nulle-part", "")
	wantProblem(t, res, p, http.StatusNotFound, "introuvable")
	if err := tenant.NewStore(dbtest.DB(t)).SetStatus(context.Background(), tn.ID, tenant.StatusSuspended); err != nil {
		t.Fatal(err)
	}
	e.srv.resolver.Invalidate(tn.ID)
	res, p = apiClient{b, key2}.call(http.MethodGet, "/api/v1/factures", "")
	wantProblem(t, res, p, http.StatusServiceUnavailable, "commune_suspendue")
}

// Keys are created and revoked by administrators only, shown once, stored
// hashed, and audited.
func TestAPIKeysPage(t *testing.T) {
	e := sharedEnv(t)
	tn := importCommune(t, "api-keys")
	admin := staffLogin(t, e, tn, newMember(t, e, tn, staff.Admin, true))

	res, body := admin.post("/gestion/api", url.Values{"name": {""}})
	expect(t, res, body, http.StatusUnprocessableEntity, "")
	if !strings.Contains(body, "Donnez un nom à la clé") {
		t.Errorf("empty name: no French error\n%s", body)
	}
	res, body = admin.post("/gestion/api", url.Values{"name": {"Logiciel Enfance"}})
	expect(t, res, body, http.StatusOK, "")
	secret := regexp.MustCompile(`regie_[a-z2-7]{8}_[a-z2-7]{52}`).FindString(body)
	if secret == "" {
		t.Fatalf("new key not shown\n%s", body)
	}
	var hashes int
	if err := dbtest.DB(t).Get(&hashes, `SELECT count(*) FROM api_keys WHERE tenant_id = $1 AND key_hash = sha256($2::bytea)`, tn.ID, secret); err != nil || hashes != 1 {
		t.Fatalf("stored hash: %d %v", hashes, err)
	}
	var leaks int
	if err := dbtest.DB(t).Get(&leaks, `SELECT count(*) FROM api_keys k WHERE position($1 in k::text) > 0`, secret[len(secret)-20:]); err != nil || leaks != 0 {
		t.Fatalf("secret stored in clear: %d %v", leaks, err)
	}
	_, body = admin.get("/gestion/api")
	if strings.Contains(body, secret) || !strings.Contains(body, "Logiciel Enfance") {
		t.Errorf("the key page shows the secret again, or not the key")
	}
	if n := importAudited(t, tn, "apikey.create"); n != 1 {
		t.Errorf("apikey.create audited %d times", n)
	}

	for _, role := range []staff.Role{staff.Agent, staff.Reader} {
		b := staffLogin(t, e, tn, newMember(t, e, tn, role, false))
		res, body := b.get("/gestion/api")
		expect(t, res, body, http.StatusForbidden, "")
		res, body = b.post("/gestion/api", url.Values{"name": {"pirate"}})
		expect(t, res, body, http.StatusForbidden, "")
	}
	if n := importCount(t, tn, `SELECT count(*) FROM api_keys WHERE tenant_id = $1`); n != 1 {
		t.Errorf("%d keys, want 1", n)
	}

	// another commune's key id is not found here
	other := importCommune(t, "api-keys-other")
	ok, _ := newAPIKey(t, other, "autre")
	res, body = admin.post(fmt.Sprintf("/gestion/api/%d/revoquer", ok.ID), url.Values{})
	expect(t, res, body, http.StatusNotFound, "")
}

const apiLines = `{"lignes": [
	{"famille": "F1", "nom": "Martin", "email": ["martin@example.fr"], "adresse": "1 rue", "code_postal": "84000", "ville": "Avignon",
	 "serie": "RS", "periode": "2026-10", "libelle": "Repas", "quantite": 12, "prix_unitaire": "3,50", "echeance": "2026-11-15"},
	{"famille": "F1", "nom": "Martin", "email": "martin@example.fr", "adresse": "1 rue", "code_postal": "84000", "ville": "Avignon",
	 "serie": "RS", "periode": "2026-10", "libelle": "Garderie", "quantite": "4", "prix_unitaire": 2.5, "echeance": "15/11/2026"},
	{"famille": "F2", "nom": "Durand", "email": "", "adresse": "", "code_postal": "", "ville": "",
	 "serie": "RS", "periode": "2026-10", "libelle": "Repas", "quantite": 10, "prix_unitaire": "3.50", "echeance": "2026-11-15"}
]}`

func TestAPIInvoices(t *testing.T) {
	e := sharedEnv(t)
	tn := importCommune(t, "api-inv")
	_, key := newAPIKey(t, tn, "logiciel")
	a := apiClient{e.browser(t, tn), key}

	t.Run("validation errors", func(t *testing.T) {
		res, p := a.call(http.MethodPost, "/api/v1/factures", `{"lignes": [{"famille": "F1", "serie": "ZZ", "periode": "octobre", "quantite": -1, "prix_unitaire": "abc", "echeance": "2026-11-15", "couleur": "bleu"}]}`)
		wantProblem(t, res, p, http.StatusUnprocessableEntity, "donnees_invalides")
		errs, _ := p["erreurs"].([]any)
		var fields []string
		for _, e := range errs {
			m := e.(map[string]any)
			if m["ligne"] != float64(1) || m["message"] == "" {
				t.Errorf("error without line or message: %v", m)
			}
			fields = append(fields, m["champ"].(string))
		}
		for _, f := range []string{"couleur", "nom", "serie", "periode", "quantite", "prix_unitaire", "libelle"} {
			if !slices.Contains(fields, f) {
				t.Errorf("no error on %s: %v", f, p)
			}
		}
		for body, code := range map[string]string{
			`{"lignes": []}`:                      "donnees_invalides",
			`{"lignes": [{"famille": {"x": 1}}]}`: "donnees_invalides",
			`{"lignes": "x"}`:                     "json_invalide",
			`{"autre": 1}`:                        "json_invalide",
			`{"lignes": [] } {}`:                  "json_invalide",
			`pas du json`:                         "json_invalide",
			``:                                    "json_invalide",
		} {
			res, p := a.call(http.MethodPost, "/api/v1/factures", body)
			st := http.StatusBadRequest
			if code == "donnees_invalides" {
				st = http.StatusUnprocessableEntity
			}
			wantProblem(t, res, p, st, code)
		}
		if n := importCount(t, tn, `SELECT count(*) FROM invoices WHERE tenant_id = $1`); n != 0 {
			t.Errorf("%d invoices saved from invalid requests", n)
		}
	})

	var batch int64
	t.Run("idempotent creation", func(t *testing.T) {
		res, p := a.call(http.MethodPost, "/api/v1/factures", apiLines, "Idempotency-Key", "envoi-1")
		if res.StatusCode != http.StatusCreated || p["factures_nouvelles"] != float64(2) || p["total_centimes"] != float64(12*350+4*250+10*350) {
			t.Fatalf("create: %d %v", res.StatusCode, p)
		}
		batch = int64(p["lot"].(float64))
		// the same request again, even concurrently: the first answer, nothing more
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				res2, p2 := a.call(http.MethodPost, "/api/v1/factures", apiLines, "Idempotency-Key", "envoi-1")
				if res2.StatusCode != http.StatusCreated || res2.Header.Get("Idempotent-Replayed") != "true" || p2["lot"] != p["lot"] {
					t.Errorf("replay: %d %v %v", res2.StatusCode, res2.Header, p2)
				}
			})
		}
		wg.Wait()
		if n := importCount(t, tn, `SELECT count(*) FROM import_batches WHERE tenant_id = $1`); n != 1 {
			t.Errorf("%d batches, want 1", n)
		}
		// the key with another request is refused
		res, p = a.call(http.MethodPost, "/api/v1/factures", strings.Replace(apiLines, "Durand", "Dupont", 1), "Idempotency-Key", "envoi-1")
		wantProblem(t, res, p, http.StatusUnprocessableEntity, "idempotency_key_reutilisee")
		// without a key, the identical lines change nothing
		res, p = a.call(http.MethodPost, "/api/v1/factures", apiLines)
		if res.StatusCode != http.StatusOK || p["lot"] != nil || p["factures_inchangees"] != float64(2) {
			t.Fatalf("identical lines: %d %v", res.StatusCode, p)
		}
		// a key of another commune is another key
		other := importCommune(t, "api-inv-other")
		_, okey := newAPIKey(t, other, "logiciel")
		res, p = apiClient{a.b.on(other), okey}.call(http.MethodPost, "/api/v1/factures", apiLines, "Idempotency-Key", "envoi-1")
		if res.StatusCode != http.StatusCreated || res.Header.Get("Idempotent-Replayed") != "" {
			t.Fatalf("same key, other commune: %d %v", res.StatusCode, p)
		}
	})

	t.Run("list and publish", func(t *testing.T) {
		res, p := a.call(http.MethodGet, fmt.Sprintf("/api/v1/factures?lot=%d&statut=brouillon", batch), "")
		if fs, _ := p["factures"].([]any); res.StatusCode != http.StatusOK || len(fs) != 2 || fs[0].(map[string]any)["reference"] != nil {
			t.Fatalf("drafts: %d %v", res.StatusCode, p)
		}
		res, p = a.call(http.MethodPost, fmt.Sprintf("/api/v1/lots/%d/publication", batch), "")
		if res.StatusCode != http.StatusOK || p["factures_publiees"] != float64(2) {
			t.Fatalf("publish: %d %v", res.StatusCode, p)
		}
		res, p = a.call(http.MethodPost, fmt.Sprintf("/api/v1/lots/%d/publication", batch), "")
		wantProblem(t, res, p, http.StatusConflict, "lot_deja_traite")
		res, p = a.call(http.MethodPost, "/api/v1/lots/999999999/publication", "")
		wantProblem(t, res, p, http.StatusNotFound, "introuvable")
		if n := importAudited(t, tn, "batch.publish"); n != 1 {
			t.Errorf("publication audited %d times", n)
		}

		res, p = a.call(http.MethodGet, "/api/v1/factures?statut=publiee&limite=1", "")
		fs := p["factures"].([]any)
		if res.StatusCode != http.StatusOK || len(fs) != 1 || p["suivant"] == nil {
			t.Fatalf("page 1: %d %v", res.StatusCode, p)
		}
		f := fs[0].(map[string]any)
		if ref, _ := f["reference"].(string); !strings.HasPrefix(ref, "2026-RS-00-800151") || f["famille"] != "F1" || f["total_centimes"] != float64(12*350+4*250) || f["statut"] != "publiee" {
			t.Errorf("invoice: %v", f)
		}
		res, p = a.call(http.MethodGet, "/api/v1/factures?statut=publiee&limite=1&apres="+p["suivant"].(string), "")
		if fs := p["factures"].([]any); len(fs) != 1 || p["suivant"] != nil || fs[0].(map[string]any)["famille"] != "F2" {
			t.Fatalf("page 2: %d %v", res.StatusCode, p)
		}
		for _, q := range []string{"statut=ouverte", "limite=0", "limite=abc", "apres=-1"} {
			res, p := a.call(http.MethodGet, "/api/v1/factures?"+q, "")
			wantProblem(t, res, p, http.StatusBadRequest, "parametre_invalide")
		}
	})

	t.Run("families", func(t *testing.T) {
		res, p := a.call(http.MethodPut, "/api/v1/familles/F9", `{"nom": "Petit", "emails": ["Petit@Example.fr"], "adresse": "2 place", "code_postal": "84000", "ville": "Avignon"}`)
		if res.StatusCode != http.StatusOK || p["famille"] != "F9" || p["emails"].([]any)[0] != "petit@example.fr" {
			t.Fatalf("put family: %d %v", res.StatusCode, p)
		}
		res, p = a.call(http.MethodPut, "/api/v1/familles/F9", `{"nom": "Petit-Grand", "emails": [], "adresse": "", "code_postal": "", "ville": ""}`)
		if res.StatusCode != http.StatusOK || p["nom"] != "Petit-Grand" || len(p["emails"].([]any)) != 0 {
			t.Fatalf("update family: %d %v", res.StatusCode, p)
		}
		res, p = a.call(http.MethodPut, "/api/v1/familles/F9", `{"nom": "", "emails": ["pas une adresse"], "adresse": "", "code_postal": "", "ville": ""}`)
		wantProblem(t, res, p, http.StatusUnprocessableEntity, "donnees_invalides")
		res, p = a.call(http.MethodPut, "/api/v1/familles/F9", `{"nom": 3}`)
		wantProblem(t, res, p, http.StatusBadRequest, "json_invalide")
	})
}

// Following the cursor sees every payment once, while payments are being
// recorded concurrently, some in transactions that commit late.
func TestAPIPaymentsCursor(t *testing.T) {
	e := sharedEnv(t)
	tn := importCommune(t, "api-pay")
	_, key := newAPIKey(t, tn, "logiciel")
	a := apiClient{e.browser(t, tn), key}
	const n = 40
	var rows []string
	for i := range n {
		rows = append(rows, fmt.Sprintf("F%d;Famille %d;;;;;RS;2026-10;Repas;1;%d,00;15/11/2026", i, i, 10+i))
	}
	batch := publishCSV(t, e, tn, rows...)
	var ids []int64
	if err := dbtest.DB(t).Select(&ids, `SELECT id FROM invoices WHERE tenant_id = $1 AND batch_id = $2 ORDER BY id`, tn.ID, batch); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pay := func(id int64, hold time.Duration) {
		err := tenant.WithTx(ctx, dbtest.DB(t), tn.ID, func(tx *sqlx.Tx) error {
			inv, err := billing.InvoiceByID(ctx, tx, tn.ID, id)
			if err != nil {
				return err
			}
			if _, err := payments.RecordCounterPayment(ctx, tx, tn.ID, id, inv.TotalCents, "cash", time.Now(), ""); err != nil {
				return err
			}
			time.Sleep(hold) // a transaction that commits late
			return nil
		})
		if err != nil {
			t.Error(err)
		}
	}

	seen := map[float64]int{}
	cursor := ""
	poll := func() {
		for {
			res, p := a.call(http.MethodGet, "/api/v1/paiements?limite=7&curseur="+url.QueryEscape(cursor), "")
			if res.StatusCode != http.StatusOK {
				t.Fatalf("payments: %d %v", res.StatusCode, p)
			}
			for _, x := range p["paiements"].([]any) {
				seen[x.(map[string]any)["facture"].(float64)]++
			}
			cursor = p["curseur"].(string)
			if p["fin"] == true {
				return
			}
		}
	}
	var wg sync.WaitGroup
	for i, id := range ids {
		hold := time.Duration(0)
		if i%5 == 0 {
			hold = 300 * time.Millisecond
		}
		wg.Go(func() { pay(id, hold) })
		if i%8 == 0 {
			poll()
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	wg.Wait()
	for len(seen) < n && time.Now().Before(deadline) {
		poll()
		time.Sleep(50 * time.Millisecond)
	}
	poll()
	for _, id := range ids {
		if seen[float64(id)] != 1 {
			t.Errorf("invoice %d: payment seen %d times", id, seen[float64(id)])
		}
	}
	res, p := a.call(http.MethodGet, "/api/v1/paiements?curseur=abc", "")
	wantProblem(t, res, p, http.StatusBadRequest, "parametre_invalide")
}

// The OpenAPI document describes exactly the API's routes.
func TestOpenAPIMatchesRouter(t *testing.T) {
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Servers []struct{ URL string }    `json:"servers"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") || len(doc.Servers) != 1 {
		t.Fatalf("not an OpenAPI 3 document with one server: %+v", doc)
	}
	documented := map[string]bool{}
	param := regexp.MustCompile(`\{([a-z_]+)\}`)
	for p, ops := range doc.Paths {
		for m := range ops {
			if m == "parameters" {
				continue
			}
			documented[strings.ToUpper(m)+" "+doc.Servers[0].URL+param.ReplaceAllString(p, ":$1")] = true
		}
	}
	e := sharedEnv(t)
	routed := map[string]bool{}
	for _, r := range e.srv.commune.(*gin.Engine).Routes() {
		if strings.HasPrefix(r.Path, "/api/v1/") && r.Path != "/api/v1/openapi.json" {
			routed[r.Method+" "+r.Path] = true
		}
	}
	for r := range documented {
		if !routed[r] {
			t.Errorf("documented but not routed: %s", r)
		}
	}
	for r := range routed {
		if !documented[r] {
			t.Errorf("routed but not documented: %s", r)
		}
	}
	if len(routed) == 0 {
		t.Fatal("no API route found")
	}

	b := e.browser(t, importCommune(t, "api-doc"))
	r2, body := b.get("/api/v1/openapi.json")
	if r2.StatusCode != http.StatusOK || body != string(openAPIDoc) {
		t.Errorf("openapi.json served %d", r2.StatusCode)
	}
}
