package portal

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"maps"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/billing/docstore"
	"github.com/regie/regie/migrations/dbtest"
	"github.com/regie/regie/portal/staff"
	"github.com/regie/regie/tenant"
)

// settingsAuditRows counts a commune's audit rows of an action (owner-level read).
func settingsAuditRows(t *testing.T, tn tenant.Tenant, action string) int {
	t.Helper()
	var n int
	if err := dbtest.DB(t).Get(&n, `SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action = $2`, tn.ID, action); err != nil {
		t.Fatal(err)
	}
	return n
}

// settingsAudited checks that an action wrote exactly want rows so far.
func settingsAudited(t *testing.T, tn tenant.Tenant, action string, want int) {
	t.Helper()
	if n := settingsAuditRows(t, tn, action); n != want {
		t.Fatalf("%d audit rows %q, want %d", n, action, want)
	}
}

func settingsPageHas(t *testing.T, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Fatalf("page lacks %q:\n%s", w, body)
		}
	}
}

func settingsStored(t *testing.T, tn tenant.Tenant) tenant.Tenant {
	t.Helper()
	got, err := tenant.NewStore(dbtest.DB(t)).ByID(context.Background(), tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// postLogo sends the logo form as multipart, the CSRF token in the form
// (or, with headerToken, in the X-CSRF-Token header, as scripts may do).
func (b *browser) postLogo(filename string, data []byte, headerToken bool) (*http.Response, string) {
	b.t.Helper()
	if b.cookie(csrfCookie) == "" {
		b.get("/")
	}
	token := b.e.srv.csrfToken(b.cookie(csrfCookie))
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	if !headerToken {
		w.WriteField("csrf_token", token)
	}
	fw, _ := w.CreateFormFile("logo", filename)
	fw.Write(data)
	w.Close()
	req, _ := http.NewRequest(http.MethodPost, b.url("/gestion/parametres/logo"), &body)
	req.Header.Set("Content-Type", w.FormDataContentType())
	if headerToken {
		req.Header.Set("X-CSRF-Token", token)
	}
	return b.do(req)
}

func logoImage(t *testing.T, w, h int, enc func(*bytes.Buffer, image.Image) error, noise bool) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.NRGBA{R: 0x1f, G: 0x4e, B: 0x8c, A: 0xff}
			if noise {
				c = color.NRGBA{R: uint8(rand.IntN(256)), G: uint8(rand.IntN(256)), B: uint8(rand.IntN(256)), A: 0xff}
			}
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := enc(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func logoPNG(b *bytes.Buffer, img image.Image) error { return png.Encode(b, img) }
func logoJPEG(b *bytes.Buffer, img image.Image) error {
	return jpeg.Encode(b, img, &jpeg.Options{Quality: 80})
}
func logoGIF(b *bytes.Buffer, img image.Image) error { return gif.Encode(b, img, nil) }

func TestStaffSettings_Commune(t *testing.T) {
	e := sharedEnv(t)
	tn := communeWithFamily(t, "param", "Famille X", uniqueAddr(t, "x"))
	b := staffLogin(t, e, tn, newMember(t, e, tn, staff.Admin, false))
	family := e.browser(t, tn)

	res, body := b.get("/gestion/parametres")
	expect(t, res, body, http.StatusOK, "")
	settingsPageHas(t, body, "Paramètres", `value="Mairie de Param"`, `name="accent_color"`, "Mentions légales", "Vérifier auprès de la DGFiP",
		"Je confirme le passage en production", "Nouvelle série", `enctype="multipart/form-data"`)
	// the family pages have the old name in the resolver's cache now
	_, body = family.get("/")
	settingsPageHas(t, body, "Mairie de Param")

	form := url.Values{"name": {"Mairie de Nouvelle-Param"}, "accent_color": {"#7A1F1F"}, "contact_email": {"accueil@param.example.fr"},
		"contact_phone": {"04 90 00 00 00"}, "postal_address": {"1 place de la Mairie"}, "legal_notice": {"Texte des mentions <b>propres</b> à la commune."},
		"privacy_notice": {""}, "accessibility_statement": {""}}

	t.Run("RenamedAtOnce", func(t *testing.T) {
		res, body := b.post("/gestion/parametres", form)
		expect(t, res, body, http.StatusSeeOther, "/gestion/parametres")
		settingsAudited(t, tn, "tenant.settings", 1)
		res, body = family.get("/")
		expect(t, res, body, http.StatusOK, "")
		if !strings.Contains(body, "Mairie de Nouvelle-Param") || !strings.Contains(body, "7a1f1f") || !strings.Contains(body, "accueil@param.example.fr") {
			t.Fatalf("the family page still shows the old commune:\n%s", body)
		}
		_, body = family.get("/mentions-legales")
		settingsPageHas(t, body, "Texte des mentions &lt;b&gt;propres&lt;/b&gt; à la commune.")
		_, body = family.get("/accessibilite")
		settingsPageHas(t, body, "Mairie de Nouvelle-Param s'engage") // empty: the default text
		_, body = b.get("/gestion/parametres")
		settingsPageHas(t, body, "Les informations de la commune sont enregistrées.", `value="#7a1f1f"`)
	})
	t.Run("UnchangedIsNotAudited", func(t *testing.T) {
		res, body := b.post("/gestion/parametres", form)
		expect(t, res, body, http.StatusSeeOther, "/gestion/parametres")
		settingsAudited(t, tn, "tenant.settings", 1)
	})
	t.Run("Rejected", func(t *testing.T) {
		bad := url.Values{"name": {"Mairie de Gardée"}, "accent_color": {"#ffff00"}, "contact_email": {"pas-une-adresse"}}
		res, body := b.post("/gestion/parametres", bad)
		expect(t, res, body, http.StatusUnprocessableEntity, "")
		settingsPageHas(t, body, "Contraste insuffisant", "4,5:1", "Adresse de messagerie attendue", `value="Mairie de Gardée"`, `aria-invalid="true"`)
		if got := settingsStored(t, tn); got.Name != "Mairie de Nouvelle-Param" {
			t.Fatalf("a rejected form renamed the commune to %q", got.Name)
		}
		settingsAudited(t, tn, "tenant.settings", 1)
	})
}

func TestStaffSettings_Logo(t *testing.T) {
	e := sharedEnv(t)
	tn := communeWithFamily(t, "logo", "Famille X", uniqueAddr(t, "x"))
	b := staffLogin(t, e, tn, newMember(t, e, tn, staff.Admin, false))
	family := e.browser(t, tn)
	res, body := family.get("/logo")
	expect(t, res, body, http.StatusNotFound, "")

	small := logoImage(t, 40, 20, logoPNG, false)
	t.Run("PNG", func(t *testing.T) {
		res, body := b.postLogo("blason.png", small, false)
		expect(t, res, body, http.StatusSeeOther, "/gestion/parametres#logo")
		settingsAudited(t, tn, "tenant.logo", 1)
		key := settingsStored(t, tn).LogoKey
		if !strings.HasPrefix(key, "tenants/"+itoa(int64(tn.ID))+"/logo-") || !strings.HasSuffix(key, ".png") {
			t.Fatalf("logo key %q", key)
		}
		_, body = family.get("/")
		settingsPageHas(t, body, `<img class="logo" src="/logo?v=`)
		res, body = family.get("/logo?v=1")
		expect(t, res, body, http.StatusOK, "")
		if ct := res.Header.Get("Content-Type"); ct != "image/png" || body != string(small) {
			t.Fatalf("GET /logo: %s, %d bytes, want the PNG sent (%d bytes)", ct, len(body), len(small))
		}
		if cc := res.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=31536000") {
			t.Fatalf("Cache-Control %q, want a year", cc)
		}
	})
	t.Run("JPEGReplacesIt", func(t *testing.T) {
		old := settingsStored(t, tn).LogoKey
		photo := logoImage(t, 30, 30, logoJPEG, false)
		// a JPEG named .png: the content decides
		res, body := b.postLogo("blason.png", photo, false)
		expect(t, res, body, http.StatusSeeOther, "/gestion/parametres#logo")
		res, body = family.get("/logo?v=2")
		if res.Header.Get("Content-Type") != "image/jpeg" || body != string(photo) {
			t.Fatalf("GET /logo after a JPEG: %s, %d bytes", res.Header.Get("Content-Type"), len(body))
		}
		if _, _, err := e.docs.Get(context.Background(), old); !errors.Is(err, docstore.ErrNotFound) {
			t.Fatalf("the replaced logo is still stored: %v", err)
		}
		settingsAudited(t, tn, "tenant.logo", 2)
	})
	refusals := []struct {
		name, file string
		data       []byte
		header     bool
		status     int
		says       string
	}{
		{"GIF", "blason.gif", logoImage(t, 20, 20, logoGIF, false), false, http.StatusUnprocessableEntity, "n&#39;est pas une image PNG ou JPEG"},
		{"TextNamedPNG", "blason.png", []byte("ceci n'est pas une image\n"), false, http.StatusUnprocessableEntity, "n&#39;est pas une image PNG ou JPEG"},
		{"TruncatedPNG", "blason.png", small[:60], false, http.StatusUnprocessableEntity, "endommagée"},
		{"TooWide", "large.png", logoImage(t, 2001, 10, logoPNG, false), false, http.StatusUnprocessableEntity, "2001 × 10 pixels"},
		{"TooHeavy", "lourd.png", logoImage(t, 600, 600, logoPNG, true), false, http.StatusRequestEntityTooLarge, "500 Ko au plus"},
		{"TooHeavyUnparsed", "lourd.png", logoImage(t, 700, 700, logoPNG, true), true, http.StatusRequestEntityTooLarge, "500 Ko au plus"},
	}
	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) {
			before := settingsStored(t, tn).LogoKey
			res, body := b.postLogo(r.file, r.data, r.header)
			expect(t, res, body, r.status, "")
			if r.status == http.StatusRequestEntityTooLarge {
				// refused before anything reads it: the message, not the form
				settingsPageHas(t, body, r.says, "Envoi trop volumineux")
			} else {
				settingsPageHas(t, body, r.says, `id="logo-error"`)
			}
			if got := settingsStored(t, tn).LogoKey; got != before {
				t.Fatalf("a refused file became the logo: %q", got)
			}
		})
	}
	t.Run("CSRF", func(t *testing.T) {
		var body bytes.Buffer
		w := multipart.NewWriter(&body)
		fw, _ := w.CreateFormFile("logo", "blason.png")
		fw.Write(small)
		w.Close()
		req, _ := http.NewRequest(http.MethodPost, b.url("/gestion/parametres/logo"), &body)
		req.Header.Set("Content-Type", w.FormDataContentType())
		res, page := b.do(req)
		expect(t, res, page, http.StatusForbidden, "")
		settingsPageHas(t, page, "Page expirée")
	})
	t.Run("Remove", func(t *testing.T) {
		res, body := b.post("/gestion/parametres/logo", url.Values{"supprimer": {"1"}})
		expect(t, res, body, http.StatusSeeOther, "/gestion/parametres#logo")
		res, body = family.get("/logo?v=3")
		expect(t, res, body, http.StatusNotFound, "")
		settingsAudited(t, tn, "tenant.logo", 3)
	})
}

func TestStaffSettings_Payment(t *testing.T) {
	e := sharedEnv(t)
	tn := communeWithFamily(t, "paie", "Famille X", uniqueAddr(t, "x"))
	b := staffLogin(t, e, tn, newMember(t, e, tn, staff.Admin, false))

	res, body := b.post("/gestion/parametres/paiement", url.Values{"numcli": {"002741"}, "protocol": {"tipi"}, "mode": {"activation"}})
	expect(t, res, body, http.StatusSeeOther, "/gestion/parametres#paiement")
	if got := settingsStored(t, tn); got.Numcli != "002741" || got.Protocol != tenant.ProtocolTIPI || got.Mode != tenant.ModeActivation {
		t.Fatalf("stored %s %s %s", got.Numcli, got.Protocol, got.Mode)
	}
	settingsAudited(t, tn, "tenant.payment_settings", 1)

	t.Run("ProductionNeedsConfirmation", func(t *testing.T) {
		res, body := b.post("/gestion/parametres/paiement", url.Values{"numcli": {"002741"}, "protocol": {"payfip"}, "mode": {"production"}})
		expect(t, res, body, http.StatusUnprocessableEntity, "")
		settingsPageHas(t, body, "cochez « Je confirme le passage en production »")
		if got := settingsStored(t, tn); got.Mode != tenant.ModeActivation || got.Protocol != tenant.ProtocolTIPI {
			t.Fatalf("an unconfirmed change was saved: %s %s", got.Protocol, got.Mode)
		}
		res, body = b.post("/gestion/parametres/paiement", url.Values{"numcli": {"002741"}, "protocol": {"payfip"}, "mode": {"production"}, "confirm_production": {"1"}})
		expect(t, res, body, http.StatusSeeOther, "/gestion/parametres#paiement")
		if got := settingsStored(t, tn); got.Mode != tenant.ModeProduction {
			t.Fatalf("mode %s after confirmation", got.Mode)
		}
		settingsAudited(t, tn, "tenant.payment_settings", 2)
		// once in production, other changes need no confirmation
		res, body = b.post("/gestion/parametres/paiement", url.Values{"numcli": {"001964"}, "protocol": {"payfip"}, "mode": {"production"}})
		expect(t, res, body, http.StatusSeeOther, "/gestion/parametres#paiement")
	})
	t.Run("BadNumcli", func(t *testing.T) {
		res, body := b.post("/gestion/parametres/paiement", url.Values{"numcli": {"1964"}, "protocol": {"payfip"}, "mode": {"test"}})
		expect(t, res, body, http.StatusUnprocessableEntity, "")
		settingsPageHas(t, body, "6 chiffres", `value="1964"`)
	})
	t.Run("CheckDGFiP", func(t *testing.T) {
		audits := settingsAuditRows(t, tn, "tenant.payment_settings")
		res, body := b.post("/gestion/parametres/verifier-dgfip", url.Values{"numcli": {"001964"}, "protocol": {"payfip"}, "mode": {"test"}})
		expect(t, res, body, http.StatusOK, "")
		settingsPageHas(t, body, "La DGFiP connaît l'identifiant 001964", "MAIRIE DE TEST", "REGIE DE RECETTES")
		res, body = b.post("/gestion/parametres/verifier-dgfip", url.Values{"numcli": {"009999"}})
		expect(t, res, body, http.StatusOK, "")
		settingsPageHas(t, body, "Identifiant collectivité (numcli) inconnu de la DGFiP", `value="009999"`)
		res, body = b.post("/gestion/parametres/verifier-dgfip", url.Values{"numcli": {"99"}})
		expect(t, res, body, http.StatusUnprocessableEntity, "")
		if settingsStored(t, tn).Numcli != "001964" || settingsAuditRows(t, tn, "tenant.payment_settings") != audits {
			t.Fatal("checking a numcli changed the settings")
		}
	})
	t.Run("DGFiPSilent", func(t *testing.T) {
		e.sim.SetLatency(dgfipCheckTimeout + time.Second)
		defer e.sim.SetLatency(0)
		start := time.Now()
		res, body := b.post("/gestion/parametres/verifier-dgfip", url.Values{"numcli": {"001964"}})
		expect(t, res, body, http.StatusOK, "")
		settingsPageHas(t, body, "La DGFiP ne répond pas")
		if d := time.Since(start); d > dgfipCheckTimeout+2*time.Second {
			t.Fatalf("the check waited %v", d)
		}
	})
}

func TestStaffSettings_Series(t *testing.T) {
	e := sharedEnv(t)
	tn := communeWithFamily(t, "serie", "Famille X", uniqueAddr(t, "x"))
	b := staffLogin(t, e, tn, newMember(t, e, tn, staff.Admin, false))
	year := settingsYear()

	res, body := b.post("/gestion/parametres/series", url.Values{"code": {"rs"}, "label": {"Restauration scolaire"},
		"pattern": {"{exer}-RS-00-{numero:7}"}, "numcli": {""}, "next": {"8001516"}})
	expect(t, res, body, http.StatusSeeOther, "/gestion/parametres#series")
	settingsAudited(t, tn, "series.create", 1)
	var rs billing.Series
	err := tenant.WithTx(context.Background(), dbtest.DB(t), tn.ID, func(tx *sqlx.Tx) error {
		var err error
		rs, err = billing.SeriesByCode(context.Background(), tx, tn.ID, "RS")
		return err
	})
	if err != nil || rs.NextNumber != 8001516 || rs.Numcli != nil {
		t.Fatalf("created series: %+v, %v", rs, err)
	}
	_, body = b.get("/gestion/parametres")
	settingsPageHas(t, body, "sa prochaine facture aura la référence "+year+"-RS-00-8001516", "<td data-label=\"Prochaine référence\">"+year+"-RS-00-8001516</td>",
		"celui de la commune (001964)", `action="/gestion/parametres/series/`+itoa(rs.ID)+`"`)

	t.Run("DuplicateCode", func(t *testing.T) {
		res, body := b.post("/gestion/parametres/series", url.Values{"code": {"RS"}, "label": {"Autre"}, "pattern": {"X{numero:6}"}, "next": {"1"}})
		expect(t, res, body, http.StatusUnprocessableEntity, "")
		settingsPageHas(t, body, "Une série porte déjà le code « RS »")
		settingsAudited(t, tn, "series.create", 1)
	})
	t.Run("BadPattern", func(t *testing.T) {
		res, body := b.post("/gestion/parametres/series", url.Values{"code": {"GA"}, "label": {"Garderie"}, "pattern": {"{annee}-{numero}"}, "next": {"deux"}})
		expect(t, res, body, http.StatusUnprocessableEntity, "")
		settingsPageHas(t, body, "Le prochain numéro est un nombre entier positif", `value="{annee}-{numero}"`)
	})
	path := "/gestion/parametres/series/" + itoa(rs.ID)
	t.Run("NextOnlyMovesForward", func(t *testing.T) {
		res, body := b.post(path, url.Values{"label": {"Cantine"}, "pattern": {"{exer}-RS-00-{numero:7}"}, "next": {"8001515"}})
		expect(t, res, body, http.StatusUnprocessableEntity, "")
		settingsPageHas(t, body, "Le prochain numéro ne peut qu&#39;avancer", `value="8001515"`)
		settingsAudited(t, tn, "series.update", 0)
		res, body = b.post(path, url.Values{"label": {"Cantine"}, "pattern": {"{exer}-RS-01-{numero:7}"}, "numcli": {"001965"}, "next": {"8001600"}})
		expect(t, res, body, http.StatusSeeOther, "/gestion/parametres#serie-"+itoa(rs.ID))
		settingsAudited(t, tn, "series.update", 1)
		_, body = b.get("/gestion/parametres")
		settingsPageHas(t, body, year+"-RS-01-8001600", "<td data-label=\"numcli\">001965</td>", "Cantine")
	})
	t.Run("UnknownSeries", func(t *testing.T) {
		for _, p := range []string{"/gestion/parametres/series/999999999", "/gestion/parametres/series/abc"} {
			res, body := b.post(p, url.Values{"label": {"X"}, "pattern": {"X{numero:6}"}, "next": {"1"}})
			expect(t, res, body, http.StatusNotFound, "")
		}
	})
}

func settingsYear() string { return itoa(int64(time.Now().In(tenant.Paris).Year())) }

// TestStaffSettings_Roles is the permission matrix of the settings, team
// and audit pages: agents and readers get the 403 page and change nothing.
func TestStaffSettings_Roles(t *testing.T) {
	e := sharedEnv(t)
	tn := communeWithFamily(t, "droits", "Famille X", uniqueAddr(t, "x"))
	admin := newMember(t, e, tn, staff.Admin, false)
	var rs billing.Series
	err := tenant.WithTx(context.Background(), dbtest.DB(t), tn.ID, func(tx *sqlx.Tx) error {
		var err error
		rs, err = billing.CreateSeries(context.Background(), tx, tn.ID, billing.Series{Code: "RS", Label: "Cantine", Pattern: "RS{numero:6}"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	routes := []struct {
		method, path string
		form         url.Values
	}{
		{"GET", "/gestion/parametres", nil},
		{"POST", "/gestion/parametres", url.Values{"name": {"Piratée"}, "accent_color": {"#000000"}}},
		{"POST", "/gestion/parametres/logo", url.Values{"supprimer": {"1"}}},
		{"POST", "/gestion/parametres/paiement", url.Values{"numcli": {"002741"}, "protocol": {"payfip"}, "mode": {"test"}}},
		{"POST", "/gestion/parametres/verifier-dgfip", url.Values{"numcli": {"001964"}}},
		{"POST", "/gestion/parametres/series", url.Values{"code": {"GA"}, "label": {"Garderie"}, "pattern": {"GA{numero:6}"}, "next": {"1"}}},
		{"POST", "/gestion/parametres/series/" + itoa(rs.ID), url.Values{"label": {"X"}, "pattern": {"RS{numero:6}"}, "next": {"5"}}},
		{"GET", "/gestion/equipe", nil},
		{"POST", "/gestion/equipe", url.Values{"email": {uniqueAddr(t, "intrus")}, "role": {"administrateur"}}},
		{"POST", "/gestion/equipe/" + itoa(admin.ID) + "/role", url.Values{"role": {"lecture"}}},
		{"POST", "/gestion/equipe/" + itoa(admin.ID) + "/totp", url.Values{}},
		{"POST", "/gestion/equipe/" + itoa(admin.ID) + "/retirer", url.Values{}},
		{"GET", "/gestion/journal", nil},
	}
	for _, role := range []staff.Role{staff.Agent, staff.Reader} {
		b := staffLogin(t, e, tn, newMember(t, e, tn, role, false))
		for _, r := range routes {
			t.Run(string(role)+" "+r.method+" "+r.path, func(t *testing.T) {
				var res *http.Response
				var body string
				if r.method == "GET" {
					res, body = b.get(r.path)
				} else {
					res, body = b.post(r.path, maps.Clone(r.form)) // post adds this browser's token
				}
				expect(t, res, body, http.StatusForbidden, "")
				settingsPageHas(t, body, "Accès refusé")
			})
		}
		t.Run(string(role)+" MenuHidesThem", func(t *testing.T) {
			_, body := b.get("/gestion/compte")
			for _, link := range []string{`href="/gestion/parametres"`, `href="/gestion/equipe"`, `href="/gestion/journal"`} {
				if strings.Contains(body, link) {
					t.Errorf("the menu of %s offers %s", role, link)
				}
			}
		})
	}
	var n int
	if err := dbtest.DB(t).Get(&n, `SELECT count(*) FROM audit_log WHERE tenant_id = $1`, tn.ID); err != nil || n != 0 {
		t.Fatalf("%d audit rows after refused actions (%v)", n, err)
	}
	if got := settingsStored(t, tn); got.Name != tn.Name || got.Numcli != tn.Numcli {
		t.Fatalf("refused actions changed the commune: %+v", got)
	}
	// and the administrator may open each page
	ab := staffLogin(t, e, tn, admin)
	for _, p := range []string{"/gestion/parametres", "/gestion/equipe", "/gestion/journal"} {
		res, body := ab.get(p)
		expect(t, res, body, http.StatusOK, "")
	}
}

// TestStaffSettings_OtherCommune: an administrator of B reaches none of
// A's series or staff, by any id.
func TestStaffSettings_OtherCommune(t *testing.T) {
	e := sharedEnv(t)
	a := communeWithFamily(t, "isola", "Famille X", uniqueAddr(t, "x"))
	bt := communeWithFamily(t, "isolb", "Famille Y", uniqueAddr(t, "y"))
	aAdmin := newMember(t, e, a, staff.Admin, false)
	aAgent := newMember(t, e, a, staff.Agent, true)
	var rs billing.Series
	err := tenant.WithTx(context.Background(), dbtest.DB(t), a.ID, func(tx *sqlx.Tx) error {
		var err error
		rs, err = billing.CreateSeries(context.Background(), tx, a.ID, billing.Series{Code: "RS", Label: "Cantine", Pattern: "RS{numero:6}", NextNumber: 10})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	b := staffLogin(t, e, bt, newMember(t, e, bt, staff.Admin, false))
	for _, r := range []struct {
		path string
		form url.Values
	}{
		{"/gestion/parametres/series/" + itoa(rs.ID), url.Values{"label": {"Volée"}, "pattern": {"RS{numero:6}"}, "next": {"50"}}},
		{"/gestion/equipe/" + itoa(aAgent.ID) + "/role", url.Values{"role": {"administrateur"}}},
		{"/gestion/equipe/" + itoa(aAgent.ID) + "/totp", url.Values{}},
		{"/gestion/equipe/" + itoa(aAdmin.ID) + "/retirer", url.Values{}},
	} {
		res, body := b.post(r.path, r.form)
		expect(t, res, body, http.StatusNotFound, "")
	}
	// A's pages on A's host with B's session: the login page, not A's data
	res, body := b.on(a).get("/gestion/parametres")
	expect(t, res, body, http.StatusSeeOther, "/gestion/connexion?next=%2Fgestion%2Fparametres")
	var n int
	dbtest.DB(t).Get(&n, `SELECT count(*) FROM audit_log WHERE tenant_id = $1`, a.ID)
	var next int64
	dbtest.DB(t).Get(&next, `SELECT next_number FROM series WHERE tenant_id = $1 AND id = $2`, a.ID, rs.ID)
	var role string
	var removed bool
	dbtest.DB(t).QueryRow(`SELECT role, removed_at IS NOT NULL FROM staff WHERE tenant_id = $1 AND id = $2`, a.ID, aAdmin.ID).Scan(&role, &removed)
	if n != 0 || next != 10 || role != "administrateur" || removed {
		t.Fatalf("B changed A: %d audit rows, next %d, admin %s removed=%v", n, next, role, removed)
	}
	// B's staff list never shows A's people
	_, body = b.get("/gestion/equipe")
	if strings.Contains(body, "/gestion/equipe/"+itoa(aAdmin.ID)+"/") || strings.Contains(body, "/gestion/equipe/"+itoa(aAgent.ID)+"/") {
		t.Fatal("B's team page shows A's staff")
	}
}
