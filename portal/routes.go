package portal

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/regie/regie/portal/staff"
	"github.com/regie/regie/tenant"
)

// routes builds one Gin engine per kind of host. Read it top to bottom: it
// is the whole middleware pipeline and route table of the platform.
func (s *Server) routes() error {
	metrics := gin.WrapH(MetricsHandler(s.opts.MetricsToken, metricsGatherer(s.db)))
	common := func(e *gin.Engine, site string) error {
		if err := e.SetTrustedProxies(s.opts.TrustedProxies); err != nil {
			return err
		}
		e.Use(s.requestLog(site), s.recoverPanic, s.securityHeaders(), s.limitBody)
		// Health checks and metrics answer on every host, before any
		// commune is resolved.
		e.GET("/healthz", s.healthz)
		e.GET("/readyz", s.readyz)
		e.HEAD("/healthz", s.healthz)
		e.GET("/metrics", metrics)
		e.GET("/static/*path", s.static.serve)
		return nil
	}

	// <slug>.<base> and custom domains: the families' portal.
	commune := newEngine()
	if err := common(commune, "commune"); err != nil {
		return err
	}
	t := commune.Group("/", s.resolveTenant)
	t.GET("/theme.css", s.themeCSS)
	// DGFiP sends the payer back here: the result is recorded even when the
	// commune is suspended (money already taken is always recorded).
	t.GET("/paiement/retour", s.csrf, s.loadFamily, s.paymentReturn)
	open := t.Group("/", s.blockSuspended, s.csrf, s.loadFamily)
	open.GET("/", s.loginPage)
	open.POST("/connexion", s.login)
	open.POST("/deconnexion", s.logout)
	open.GET("/activation", s.linkRequestPage(activationFlow))
	open.POST("/activation", s.requestLink(activationFlow))
	open.GET("/activation/:token", s.linkPasswordPage(activationFlow))
	open.POST("/activation/:token", s.savePassword(activationFlow))
	open.GET("/mot-de-passe-oublie", s.linkRequestPage(resetFlow))
	open.POST("/mot-de-passe-oublie", s.requestLink(resetFlow))
	open.GET("/mot-de-passe/:token", s.linkPasswordPage(resetFlow))
	open.POST("/mot-de-passe/:token", s.savePassword(resetFlow))
	open.GET("/mentions-legales", s.legalPage(legalNotice))
	open.GET("/donnees-personnelles", s.legalPage(privacyNotice))
	open.GET("/accessibilite", s.legalPage(accessibilityStatement))
	family := open.Group("/", s.requireFamily)
	family.GET("/factures", s.invoicesPage)
	family.GET("/factures/:id", s.invoicePage)
	family.GET("/factures/:id/pdf", s.invoicePDF)
	family.GET("/factures/:id/tipi", s.tipiPage)
	family.GET("/factures/:id/tipi/test", s.tipiTest)
	family.POST("/factures/:id/paiement", s.startPayment)
	family.GET("/factures/:id/justificatif", s.receiptPDF)
	family.GET("/compte", s.accountPage)
	family.POST("/compte/mot-de-passe", s.changePassword)
	family.POST("/compte/notifications", s.setNotifications)
	family.POST("/compte/deconnexion-partout", s.logoutEverywhere)
	t.GET("/logo", s.blockSuspended, s.logo)

	// /api/v1/: the billing software's JSON API, with the commune's keys
	// (no cookies, no CSRF).
	t.GET("/api/v1/openapi.json", s.apiOpenAPI)
	api := t.Group("/api/v1", s.apiAuth)
	api.PUT("/familles/:famille", s.apiPutFamily)
	api.POST("/factures", s.apiCreateInvoices)
	api.GET("/factures", s.apiListInvoices)
	api.POST("/lots/:id/publication", s.apiPublish)
	api.GET("/paiements", s.apiListPayments)

	// /gestion/: the town hall's back office, with its own sessions.
	t.GET("/gestion", func(c *gin.Context) { c.Redirect(http.StatusMovedPermanently, "/gestion/") })
	g := t.Group("/gestion", s.blockSuspended, s.csrf, s.loadRealm(staffRealm))
	g.GET("/connexion", s.realmLoginPage(staffRealm, "Gestion du portail des factures"))
	g.POST("/connexion", s.realmLogin(staffRealm, "Gestion du portail des factures"))
	g.GET("/connexion/code", s.realmCodePage(staffRealm))
	g.POST("/connexion/code", s.realmCode(staffRealm))
	g.GET("/totp", s.realmEnrollPage(staffRealm))
	g.POST("/totp", s.realmEnroll(staffRealm))
	g.POST("/deconnexion", s.realmLogout(staffRealm))
	g.GET("/invitation/:token", s.realmLink(staffRealm, "Invitation à la gestion du portail"))
	g.POST("/invitation/:token", s.realmLink(staffRealm, "Invitation à la gestion du portail"))
	read := g.Group("", s.requireRealm(staffRealm), s.requirePerm(staff.PermRead))
	read.GET("/", s.dashboard)
	read.GET("/compte", s.staffAccountPage)
	read.POST("/compte/mot-de-passe", s.staffChangePassword)
	read.GET("/import", s.importPage)
	read.GET("/import/:id", s.uploadPage)
	read.GET("/lots/:id", s.batchPage)
	read.GET("/familles", s.familiesPage)
	read.GET("/familles/:id", s.familyPage)
	read.GET("/factures", s.staffInvoicesPage)
	read.GET("/factures/:id", s.staffInvoicePage)
	read.GET("/factures/:id/pdf", s.staffInvoicePDF)
	read.GET("/paiements", s.journalPage)
	read.GET("/paiements.csv", s.journalCSV)
	imp := g.Group("", s.requireRealm(staffRealm), s.requirePerm(staff.PermImport))
	imp.POST("/import", s.upload)
	imp.POST("/import/:id/importer", s.confirmUpload)
	imp.POST("/lots/:id/publier", s.publishBatch)
	imp.POST("/lots/:id/annuler", s.cancelBatch)
	fam := g.Group("", s.requireRealm(staffRealm), s.requirePerm(staff.PermFamilies))
	fam.POST("/familles/:id", s.updateFamily)
	fam.POST("/familles/:id/adresses", s.addFamilyEmail)
	fam.POST("/familles/:id/adresses/supprimer", s.removeFamilyEmail)
	fam.POST("/familles/:id/activation", s.resendActivation)
	fam.POST("/familles/:id/comptes/:account/desactiver", s.disableAccount)
	inv := g.Group("", s.requireRealm(staffRealm), s.requirePerm(staff.PermInvoices))
	inv.POST("/factures/:id/annuler", s.staffCancelInvoice)
	inv.POST("/factures/:id/paiement", s.counterPayment)
	set := g.Group("", s.requireRealm(staffRealm), s.requirePerm(staff.PermSettings))
	set.GET("/parametres", s.settingsPage)
	set.POST("/parametres", s.saveSettings)
	set.POST("/parametres/logo", s.uploadLogo)
	set.POST("/parametres/paiement", s.savePaymentSettings)
	set.POST("/parametres/verifier-dgfip", s.checkDGFiP)
	set.POST("/parametres/series", s.createSeries)
	set.POST("/parametres/series/:id", s.updateSeries)
	team := g.Group("", s.requireRealm(staffRealm), s.requirePerm(staff.PermTeam))
	team.GET("/equipe", s.teamPage)
	team.POST("/equipe", s.inviteStaff)
	team.POST("/equipe/:id/role", s.changeRole)
	team.POST("/equipe/:id/totp", s.resetTOTP)
	team.POST("/equipe/:id/retirer", s.removeStaff)
	keys := g.Group("", s.requireRealm(staffRealm), s.requirePerm(staff.PermAPIKeys))
	keys.GET("/api", s.apiKeysPage)
	keys.POST("/api", s.createAPIKey)
	keys.POST("/api/:id/revoquer", s.revokeAPIKey)
	g.GET("/journal", s.requireRealm(staffRealm), s.requirePerm(staff.PermAuditTrail), s.auditPage)

	commune.NoRoute(s.resolveTenant, s.loadFamily, s.notFound)
	commune.NoMethod(s.resolveTenant, s.loadFamily, s.notFound)
	s.commune = commune

	// <base>: find your commune.
	base := newEngine()
	if err := common(base, "base"); err != nil {
		return err
	}
	base.GET("/", s.findCommune)
	base.NoRoute(s.notFound)
	s.base = base

	// admin.<base>: the operators' console; TOTP for every operator.
	admin := newEngine()
	if err := common(admin, "admin"); err != nil {
		return err
	}
	a := admin.Group("/", s.csrf, s.loadRealm(operatorRealm))
	a.GET("/connexion", s.realmLoginPage(operatorRealm, "Console des opérateurs"))
	a.POST("/connexion", s.realmLogin(operatorRealm, "Console des opérateurs"))
	a.GET("/connexion/code", s.realmCodePage(operatorRealm))
	a.POST("/connexion/code", s.realmCode(operatorRealm))
	a.GET("/totp", s.realmEnrollPage(operatorRealm))
	a.POST("/totp", s.realmEnroll(operatorRealm))
	a.POST("/deconnexion", s.realmLogout(operatorRealm))
	a.GET("/activation/:token", s.realmLink(operatorRealm, "Activation du compte opérateur"))
	a.POST("/activation/:token", s.realmLink(operatorRealm, "Activation du compte opérateur"))
	op := a.Group("/", s.requireRealm(operatorRealm))
	op.GET("/", s.communesPage)
	op.GET("/communes/nouvelle", s.newCommunePage)
	op.POST("/communes", s.createCommune)
	op.GET("/communes/:id", s.communePage)
	op.POST("/communes/:id/suspendre", s.setCommuneStatus(tenant.StatusSuspended))
	op.POST("/communes/:id/reprendre", s.setCommuneStatus(tenant.StatusActive))
	op.POST("/communes/:id/domaines", s.addDomain)
	op.POST("/communes/:id/administrateurs/:staff/totp", s.resetAdminTOTP)
	op.GET("/jobs", s.jobsPage)
	op.POST("/jobs/:id/relancer", s.jobAction(true))
	op.POST("/jobs/:id/abandonner", s.jobAction(false))
	op.GET("/journal", s.operatorTrail)
	admin.NoRoute(s.loadRealm(operatorRealm), s.notFound)
	s.admin = admin

	// paiement.<base>: DGFiP's server-to-server callbacks, for every commune
	// (the operation or the reference says which), suspended ones included.
	payment := newEngine()
	if err := common(payment, "paiement"); err != nil {
		return err
	}
	payment.GET("/notification", s.notification)
	payment.POST("/notification", s.notification)
	payment.GET("/tipi", s.tipiResult)
	payment.POST("/tipi", s.tipiResult)
	payment.NoRoute(s.notFound)
	s.payment = payment

	// A worker's own port: health and metrics only.
	ops := newEngine()
	if err := common(ops, "ops"); err != nil {
		return err
	}
	ops.NoRoute(func(c *gin.Context) { c.String(http.StatusNotFound, "not found\n") })
	s.ops = ops

	// Any other host.
	unknown := newEngine()
	if err := common(unknown, "unknown"); err != nil {
		return err
	}
	unknown.NoRoute(s.unknownHost)
	s.unknown = unknown
	return nil
}

func (s *Server) notFound(c *gin.Context) {
	s.renderError(c, errNotFound)
}
