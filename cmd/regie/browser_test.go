package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/jmoiron/sqlx"
	"github.com/pquerna/otp/totp"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/tenant"
)

const (
	martin       = "famille.martin@example.fr"
	durand       = "claire.durand@example.fr"
	guideInvoice = "2015-RS-00-8001516"
	cardOK       = "4242 4242 4242 4242"
	cardRefused  = "4000 0000 0000 0002"
)

// activate does steps 2 to 8 of the guide: "Activer mon compte", the
// address, the link of the mail, the password, "Enregistrer".
func activate(t *testing.T, b *browser, d *demoSite, email, password string) {
	t.Helper()
	b.do("activer mon compte", submitWith(byText("Activer mon compte")))
	b.see("activer mon compte", "Mon adresse", "Activation")
	b.do("adresse saisie", chromedp.SendKeys(chromedp.ID("email"), email), submitWith(byText("Activation")))
	b.see("demande envoyée", "courriel")
	link := d.mailLink(t, email, "Activez votre compte", "/activation/", 1)
	b.do("lien du courriel", navigate(link))
	b.see("lien du courriel", "Mon mot de passe", "Enregistrer")
	b.do("mot de passe choisi",
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.SendKeys(chromedp.ID("password_confirm"), password),
		submitWith(byText("Enregistrer")))
}

// login fills the login form and sends it.
func login(b *browser, email, password string, remember bool) {
	actions := []chromedp.Action[chromedp.Void]{
		// the page after an activation or a reset has the address already
		chromedp.Evaluate[chromedp.Void](`document.getElementById('email').value = ''`),
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), password),
	}
	if remember {
		actions = append(actions, chromedp.Click(chromedp.ID("remember")))
	}
	b.do("connexion", append(actions, submitWith(byText("Connexion")))...)
}

// toPayment goes from an invoice page to the stand-in's first page,
// through the TIPI page and its access test.
func toPayment(t *testing.T, b *browser, reference, amount string) {
	t.Helper()
	b.do("TIPI", submitWith(byText("Payer en ligne (TIPI)")))
	b.see("TIPI", "Identifiant collectivité", "001964", "Montant de la facture", amount, "Référence de la facture", reference)
	b.do("tester l'accès", submitWith(byText("Tester l'accès au portail TIPI")))
	b.see("tester l'accès", "Le paiement en ligne est disponible")
	b.do("retour au paiement", submitWith(byText("Continuer vers le paiement")))
	b.do("écran de paiement", submitWith(byText("Accès à l'écran de paiement TIPI")))
	b.see("écran de paiement", "Carte bancaire")
}

// payOnStandIn chooses a card on the stand-in, types its number and
// validates, then comes back to the portal.
func payOnStandIn(b *browser, card string) {
	year := strconv.Itoa(time.Now().Year() + 2)
	b.do("choisir une carte", chromedp.Click(chromedp.ID("moyen-carte")), submitWith(byText("Continuer")))
	b.do("numéro de carte",
		chromedp.SendKeys(chromedp.ID("numero"), card),
		chromedp.SetValue(chromedp.ID("mois"), "12"),
		chromedp.SetValue(chromedp.ID("annee"), year),
		chromedp.SendKeys(chromedp.ID("cryptogramme"), "123"),
		submitWith(byText("Valider")))
	backToPortal(b)
}

// backToPortal follows the stand-in's link back to the commune when its
// result page shows one (PayFiP sends the browser back by itself).
func backToPortal(b *browser) {
	if strings.Contains(b.text(), "Retour au site de la collectivité") {
		b.do("retour au portail", submitWith(byText("Retour au site de la collectivité")))
	}
}

// openInvoice clicks an invoice of "Mes factures".
func openInvoice(b *browser, reference string) {
	b.do("mes factures", submitWith(byText("Mes factures")))
	b.see("mes factures", reference)
	b.do("facture "+reference, submitWith(byText(reference)))
	b.see("facture "+reference, "Facture "+reference)
}

func invoiceStatus(t *testing.T, d *demoSite, slug, reference string) billing.InvoiceStatus {
	t.Helper()
	ctx := context.Background()
	tn, err := d.app.tenants.BySlug(ctx, slug)
	if err != nil {
		t.Fatal(err)
	}
	var inv billing.Invoice
	err = tenant.WithTx(ctx, d.db, tn.ID, func(tx *sqlx.Tx) error {
		var err error
		inv, err = billing.InvoiceByReference(ctx, tx, tn.ID, reference)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return inv.Status
}

// runGuide walks the families' guide from the login page to the paid
// invoice and its receipt, on a window of width×height.
func runGuide(t *testing.T, width, height int, check func(b *browser, step string)) {
	d := startDemo(t)
	b := openBrowser(t, "", width, height)
	b.do("page de connexion", navigate(d.url("demo", "/")))
	b.see("page de connexion", "Le portail des factures", "Mon adresse", "Mon mot de passe", "Se souvenir de moi", "Connexion", "Activer mon compte")
	check(b, "page de connexion")
	activate(t, b, d, martin, "mot-de-passe-martin")
	check(b, "compte activé")
	login(b, martin, "mot-de-passe-martin", false)
	b.see("connecté", "Mes factures", guideInvoice)
	check(b, "mes factures")
	openInvoice(b, guideInvoice)
	check(b, "facture")
	toPayment(t, b, guideInvoice, billing.FormatEuros(3750))
	check(b, "écran de paiement")
	payOnStandIn(b, cardOK)
	b.see("résultat", "Paiement accepté", guideInvoice)
	check(b, "résultat")
	b.do("la facture", submitWith(byText("Voir la facture")))
	b.see("la facture", "Payée")
	if st := invoiceStatus(t, d, "demo", guideInvoice); st != billing.Paid {
		t.Fatalf("invoice %s is %s in the database, want paid", guideInvoice, st)
	}
	d.mailLink(t, martin, "Paiement reçu : facture "+guideInvoice, "http", 1)
}

// TestBrowserGuide is the guide the town hall gives its families, on a
// desktop window.
func TestBrowserGuide(t *testing.T) {
	runGuide(t, 1280, 900, func(*browser, string) {})
}

// TestBrowserGuidePhone is the same guide on a 375×667 phone: nothing
// overflows sideways and every control is within reach.
func TestBrowserGuidePhone(t *testing.T) {
	runGuide(t, 375, 667, func(b *browser, step string) {
		t.Helper()
		res := eval[struct {
			ScrollWidth int      `json:"scrollWidth"`
			Width       int      `json:"width"`
			Outside     []string `json:"outside"`
		}](b, `(() => {
			const w = document.documentElement.clientWidth;
			const outside = [...document.querySelectorAll('a, button, input, select, textarea, label')]
				.filter(e => e.offsetParent !== null)
				// skip links wait off-screen until focused: hidden by design
				.filter(e => { const r = e.getBoundingClientRect(); return r.right > 0 && (r.left < -1 || r.right > w + 1); })
				.map(e => e.outerHTML.slice(0, 80));
			return {scrollWidth: document.documentElement.scrollWidth, width: w, outside};
		})()`)
		if res.ScrollWidth > res.Width {
			b.shot(step + " overflow")
			t.Errorf("%s: the page is %d px wide on a %d px screen", step, res.ScrollWidth, res.Width)
		}
		if len(res.Outside) > 0 {
			t.Errorf("%s: controls out of the screen: %v", step, res.Outside)
		}
	})
}

// TestBrowserPaths walks the other paths of a family: a refused card, a
// payment cancelled on DGFiP's page and retried at once, the link of a
// "facture disponible" mail opened while logged out, "Se souvenir de
// moi" across a browser restart, and a forgotten password.
func TestBrowserPaths(t *testing.T) {
	d := startDemo(t)
	b := openBrowser(t, "", 1280, 900)
	b.do("page de connexion", navigate(d.url("demo", "/")))
	activate(t, b, d, durand, "mot-de-passe-durand")
	login(b, durand, "mot-de-passe-durand", false)
	due := dueInvoice(t, d, durand)

	t.Run("refused card", func(t *testing.T) {
		b.t = t
		b.do("facture", navigate(d.url("demo", "/factures")))
		openInvoice(b, due.reference)
		toPayment(t, b, due.reference, due.amount)
		payOnStandIn(b, cardRefused)
		b.see("refusé", "refusé")
		if st := invoiceStatus(t, d, "demo", due.reference); st != billing.Published {
			t.Fatalf("after a refused card the invoice is %s, want published (unpaid)", st)
		}
	})

	t.Run("cancelled then paid", func(t *testing.T) {
		b.t = t
		b.do("facture", navigate(d.url("demo", "/factures")))
		openInvoice(b, due.reference)
		toPayment(t, b, due.reference, due.amount)
		b.do("annuler", submitWith(byText("Annuler")))
		backToPortal(b)
		b.see("annulé", "Réessayer")
		b.do("réessayer", submitWith(byText("Réessayer")))
		b.do("écran de paiement", submitWith(byText("Accès à l'écran de paiement TIPI")))
		payOnStandIn(b, cardOK)
		b.see("payé", "Paiement accepté", due.reference)
		if st := invoiceStatus(t, d, "demo", due.reference); st != billing.Paid {
			t.Fatalf("after the retry the invoice is %s, want paid", st)
		}
	})

	t.Run("mail link while logged out", func(t *testing.T) {
		b.t = t
		b.do("déconnexion", submitWith(byText("Déconnexion")))
		before := d.mailsTo(durand, "disponible")
		ref := publishForDurand(t, d)
		link := d.mailLink(t, durand, "disponible", "/factures/", before+1)
		b.do("lien de la facture", navigate(link))
		b.see("connexion demandée", "Mon adresse", "Mon mot de passe")
		login(b, durand, "mot-de-passe-durand", false)
		b.see("la facture du courriel", "Facture "+ref)
	})

	t.Run("remember me", func(t *testing.T) {
		for _, remember := range []bool{true, false} {
			profile := t.TempDir()
			c := openBrowser(t, profile, 1280, 900)
			c.do("connexion", navigate(d.url("demo", "/")))
			login(c, durand, "mot-de-passe-durand", remember)
			c.see("connecté", "Mes factures")
			c.close()
			c = openBrowser(t, profile, 1280, 900)
			c.do("après redémarrage", navigate(d.url("demo", "/factures")))
			text := c.text()
			if kept := strings.Contains(text, "Mes factures") && !strings.Contains(text, "Mon mot de passe"); kept != remember {
				t.Errorf("Se souvenir de moi = %v: after a restart still logged in = %v\n%s", remember, kept, text)
			}
			c.close()
		}
	})

	t.Run("forgotten password", func(t *testing.T) {
		c := openBrowser(t, "", 1280, 900)
		c.do("page de connexion", navigate(d.url("demo", "/")))
		c.do("mot de passe oublié", submitWith(byText("Mot de passe oublié")))
		c.do("adresse", chromedp.SendKeys(chromedp.ID("email"), durand), submitWith(chromedp.CSS(`form button[type=submit]`)))
		link := d.mailLink(t, durand, "Nouveau mot de passe", "/mot-de-passe/", 1)
		c.do("lien du courriel", navigate(link))
		c.do("nouveau mot de passe",
			chromedp.SendKeys(chromedp.ID("password"), "nouveau-mot-de-passe"),
			chromedp.SendKeys(chromedp.ID("password_confirm"), "nouveau-mot-de-passe"),
			submitWith(byText("Enregistrer")))
		login(c, durand, "nouveau-mot-de-passe", false)
		c.see("connecté avec le nouveau mot de passe", "Mes factures")
	})
}

type dueRef struct{ reference, amount string }

// dueInvoice is a published, unpaid invoice of the family of addr.
func dueInvoice(t *testing.T, d *demoSite, addr string) dueRef {
	t.Helper()
	var row struct {
		Reference string `db:"reference"`
		Total     int64  `db:"total_cents"`
	}
	err := d.db.Get(&row, `SELECT i.reference, i.total_cents FROM invoices i
		JOIN family_emails e ON e.tenant_id = i.tenant_id AND e.family_id = i.family_id
		WHERE e.email = $1 AND i.status = 'published' ORDER BY i.id LIMIT 1`, addr)
	if err != nil {
		t.Fatalf("a due invoice of %s: %v", addr, err)
	}
	return dueRef{row.Reference, billing.FormatEuros(row.Total)}
}

// publishForDurand imports and publishes a new invoice for the Durand
// family, as the town hall would, and returns its reference.
func publishForDurand(t *testing.T, d *demoSite) string {
	t.Helper()
	ctx := context.Background()
	tn, err := d.app.tenants.BySlug(ctx, "demo")
	if err != nil {
		t.Fatal(err)
	}
	csv := "famille;nom;email;adresse;code_postal;ville;serie;periode;libelle;quantite;prix_unitaire;echeance\n" +
		fmt.Sprintf("F0002;Famille Durand;claire.durand@example.fr, paul.durand@example.fr;3 chemin du Moulin;84000;Démonstration;RS;12/2026;Repas;12;2,50;15/01/%d\n", time.Now().Year()+1)
	res, _, err := importFile(ctx, d.db, d.app.jobs, tn, strings.NewReader(csv), "decembre.csv", importOptions{publish: true})
	if err != nil {
		t.Fatalf("import: %v %v", err, res.Errors)
	}
	var ref string
	if err := d.db.Get(&ref, `SELECT reference FROM invoices WHERE tenant_id = $1 AND batch_id = $2`, tn.ID, res.BatchID); err != nil {
		t.Fatal(err)
	}
	return ref
}

// axeSource is axe-core, which `make test` fetches with npm.
func axeSource(t *testing.T) string {
	t.Helper()
	p := os.Getenv("REGIE_TEST_AXE")
	if p == "" {
		p = filepath.Join("..", "..", ".data", "npm", "node_modules", "axe-core", "axe.min.js")
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("axe-core not found (make test installs it with npm): %v", err)
	}
	return string(b)
}

// pageCheck is what every page must pass, whatever it shows.
type pageCheck struct {
	Lang       string   `json:"lang"`
	Title      string   `json:"title"`
	Unlabelled []string `json:"unlabelled"`
	Violations []string `json:"violations"`
}

// checkPage runs axe-core on the page (serious and critical violations only)
// and checks its language, its title and that every field has a label.
func checkPage(t *testing.T, b *browser, axe, name string, titles map[string]string) {
	t.Helper()
	res := inspect(b, axe)
	b.shot("audit " + name)
	if res.Lang != "fr" {
		t.Errorf("%s: lang %q, want fr", name, res.Lang)
	}
	if res.Title == "" {
		t.Errorf("%s: no title", name)
	} else if other, dup := titles[res.Title]; dup && other != name {
		t.Errorf("%s and %s have the same title %q", name, other, res.Title)
	}
	titles[res.Title] = name
	for _, u := range res.Unlabelled {
		t.Errorf("%s: field without a label: %s", name, u)
	}
	for _, v := range res.Violations {
		t.Errorf("%s: axe: %s", name, v)
	}
}

// inspect runs axe-core on the page and looks at its language, title and
// fields.
func inspect(b *browser, axe string) pageCheck {
	b.t.Helper()
	if !eval[bool](b, `typeof axe !== 'undefined'`) {
		eval[chromedp.Void](b, axe)
	}
	return eval[pageCheck](b, `(async () => {
		const r = await axe.run(document, {resultTypes: ['violations']});
		const unlabelled = [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
			.filter(e => e.labels.length === 0 && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby'))
			.map(e => e.outerHTML.slice(0, 100));
		return {
			lang: document.documentElement.lang,
			title: document.title,
			unlabelled,
			violations: r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
				.map(v => v.impact + ' ' + v.id + ': ' + v.help + ' — ' + v.nodes.map(n => n.target.join(' ')).join(', ')),
		};
	})()`)
}

// TestBrowserAccessibility runs axe-core on every family page, of both
// demo communes (each with its own colour), and on the main staff pages.
func TestBrowserAccessibility(t *testing.T) {
	d := startDemo(t)
	axe := axeSource(t)
	b := openBrowser(t, "", 1280, 900)
	// the checks see what they look for: a page with faults has faults
	b.do("page fautive", navigate(`data:text/html,<title>x</title><p style="color:%23777;background:%23888">texte</p><input>`))
	if bad := inspect(b, axe); len(bad.Violations) == 0 || len(bad.Unlabelled) != 1 || bad.Lang != "" {
		t.Fatalf("the checks miss the faults of a faulty page: %+v", bad)
	}
	for _, slug := range []string{"demo", "villes-sur-auzon"} {
		titles := map[string]string{}
		visit := func(name, u string) {
			t.Helper()
			b.do(slug+" "+name, navigate(u))
			checkPage(t, b, axe, slug+" "+name, titles)
		}
		visit("connexion", d.url(slug, "/"))
		visit("activation", d.url(slug, "/activation"))
		visit("mot de passe oublié", d.url(slug, "/mot-de-passe-oublie"))
		visit("mentions légales", d.url(slug, "/mentions-legales"))
		visit("données personnelles", d.url(slug, "/donnees-personnelles"))
		visit("accessibilité", d.url(slug, "/accessibilite"))
		visit("page introuvable", d.url(slug, "/nulle-part"))
		if slug != "demo" {
			continue
		}
		// the activation link's page, then the pages of a logged-in family
		b.do("activation demandée", navigate(d.url(slug, "/activation")),
			chromedp.SendKeys(chromedp.ID("email"), martin), submitWith(byText("Activation")))
		visit("choix du mot de passe", d.mailLink(t, martin, "Activez votre compte", "/activation/", 1))
		b.do("mot de passe choisi",
			chromedp.SendKeys(chromedp.ID("password"), "mot-de-passe-martin"),
			chromedp.SendKeys(chromedp.ID("password_confirm"), "mot-de-passe-martin"),
			submitWith(byText("Enregistrer")))
		login(b, martin, "mot-de-passe-martin", false)
		checkPage(t, b, axe, "mes factures", titles)
		openInvoice(b, guideInvoice)
		checkPage(t, b, axe, "facture", titles)
		b.do("TIPI", submitWith(byText("Payer en ligne (TIPI)")))
		checkPage(t, b, axe, "TIPI", titles)
		b.do("test TIPI", submitWith(byText("Tester l'accès au portail TIPI")))
		checkPage(t, b, axe, "test TIPI", titles)
		b.do("retour au paiement", submitWith(byText("Continuer vers le paiement")),
			submitWith(byText("Accès à l'écran de paiement TIPI")))
		payOnStandIn(b, cardOK)
		checkPage(t, b, axe, "résultat du paiement", titles)
		visit("mon compte", d.url(slug, "/compte"))
	}
	// the main staff pages, as the demo's administrator
	titles := map[string]string{}
	b.do("gestion", navigate(d.url("demo", "/gestion/connexion")))
	checkPage(t, b, axe, "gestion connexion", titles)
	b.do("gestion identifiants",
		chromedp.SendKeys(chromedp.ID("email"), "admin@demo.example.fr"),
		chromedp.SendKeys(chromedp.ID("password"), demoAdminPassword),
		submitWith(byText("Connexion")))
	checkPage(t, b, axe, "gestion code", titles)
	code, err := totp.GenerateCode(demoTOTPSecret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b.do("gestion code saisi", chromedp.SendKeys(chromedp.ID("code"), code), submitWith(byText("Valider")))
	for _, p := range []struct{ name, path string }{
		{"tableau de bord", "/gestion/"}, {"import", "/gestion/import"}, {"familles", "/gestion/familles"},
		{"factures", "/gestion/factures"}, {"paiements", "/gestion/paiements"}, {"paramètres", "/gestion/parametres"},
		{"équipe", "/gestion/equipe"}, {"journal d'audit", "/gestion/journal"}, {"API", "/gestion/api"},
	} {
		b.do("gestion "+p.name, navigate(d.url("demo", p.path)))
		checkPage(t, b, axe, "gestion "+p.name, titles)
	}
	b.do("gestion une famille", navigate(d.url("demo", "/gestion/familles")), submitWith(byText("Famille Martin")))
	checkPage(t, b, axe, "gestion famille", titles)
	b.do("gestion une facture", navigate(d.url("demo", "/gestion/factures")), submitWith(byText(guideInvoice)))
	checkPage(t, b, axe, "gestion facture", titles)
}

// focused describes the element that has the keyboard focus.
type focused struct {
	ID      string `json:"id"`
	Text    string `json:"text"`
	Visible bool   `json:"visible"` // a focus indicator is drawn
}

// tabTo presses Tab until the focus is on the element whose id or text is
// target, checking on our pages that every element reached shows where
// the focus is.
func tabTo(t *testing.T, b *browser, target string, ours bool) {
	t.Helper()
	for range 60 {
		b.do("tab", chromedp.KeyEvent("\t"))
		f := eval[focused](b, `(() => {
			const e = document.activeElement, s = getComputedStyle(e);
			return {id: e.id, text: (e.innerText || e.value || '').trim(),
				visible: (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== 'none'};
		})()`)
		if ours && !f.Visible && f.ID+f.Text != "" {
			t.Errorf("no visible focus on %q %q at %s", f.ID, f.Text, b.location())
		}
		if f.ID == target || f.Text == target {
			return
		}
	}
	b.shot("focus not found")
	t.Fatalf("Tab never reached %q on %s", target, b.location())
}

// press sends a key to the focused element and waits for the page it
// loads.
func press(b *browser, name, key string) {
	b.do(name, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.KeyEvent(key))(ctx, t)
		return err
	}))
}

// TestBrowserKeyboard logs in and pays with the keyboard alone, checking
// that the focus is always visible on the portal's pages.
func TestBrowserKeyboard(t *testing.T) {
	d := startDemo(t)
	b := openBrowser(t, "", 1280, 900)
	b.do("page de connexion", navigate(d.url("demo", "/")))
	activate(t, b, d, martin, "mot-de-passe-martin")
	b.do("page de connexion", navigate(d.url("demo", "/")))
	tabTo(t, b, "email", true)
	b.do("adresse", chromedp.KeyEvent(martin))
	tabTo(t, b, "password", true)
	b.do("mot de passe", chromedp.KeyEvent("mot-de-passe-martin"))
	tabTo(t, b, "Connexion", true)
	press(b, "connexion", "\r")
	b.see("connecté", "Mes factures", guideInvoice)
	tabTo(t, b, guideInvoice, true)
	press(b, "facture", "\r")
	tabTo(t, b, "Payer en ligne (TIPI)", true)
	press(b, "TIPI", "\r")
	tabTo(t, b, "Accès à l'écran de paiement TIPI", true)
	press(b, "écran de paiement", "\r")
	// DGFiP's pages (the stand-in's), with the keyboard too
	tabTo(t, b, "moyen-carte", false)
	b.do("carte choisie", chromedp.KeyEvent(" "))
	tabTo(t, b, "Continuer", false)
	press(b, "continuer", "\r")
	tabTo(t, b, "numero", false)
	b.do("numéro", chromedp.KeyEvent(cardOK))
	b.do("expiration", chromedp.SetValue(chromedp.ID("mois"), "12"),
		chromedp.SetValue(chromedp.ID("annee"), strconv.Itoa(time.Now().Year()+2)))
	tabTo(t, b, "cryptogramme", false)
	b.do("cryptogramme", chromedp.KeyEvent("123"))
	tabTo(t, b, "Valider", false)
	press(b, "valider", "\r")
	backToPortal(b)
	b.see("payé", "Paiement accepté", guideInvoice)
}
