package portal

import (
	"github.com/gin-gonic/gin"
)

// routes builds one Gin engine per kind of host. Read it top to bottom: it
// is the whole middleware pipeline and route table of the platform.
func (s *Server) routes() error {
	common := func(e *gin.Engine) error {
		if err := e.SetTrustedProxies(s.opts.TrustedProxies); err != nil {
			return err
		}
		e.Use(s.requestLog, s.recoverPanic, s.securityHeaders())
		// Health checks answer on every host, before any commune is resolved.
		e.GET("/healthz", s.healthz)
		e.GET("/readyz", s.readyz)
		e.HEAD("/healthz", s.healthz)
		e.GET("/static/*path", s.static.serve)
		return nil
	}

	// <slug>.<base> and custom domains: the families' portal.
	commune := newEngine()
	if err := common(commune); err != nil {
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
	commune.NoRoute(s.resolveTenant, s.loadFamily, s.notFound)
	commune.NoMethod(s.resolveTenant, s.loadFamily, s.notFound)
	s.commune = commune

	// <base>: find your commune.
	base := newEngine()
	if err := common(base); err != nil {
		return err
	}
	base.GET("/", s.findCommune)
	base.NoRoute(s.notFound)
	s.base = base

	// admin.<base>: the operator console (issue 7).
	admin := newEngine()
	if err := common(admin); err != nil {
		return err
	}
	admin.NoRoute(s.notFound)
	s.admin = admin

	// paiement.<base>: DGFiP's server-to-server callbacks, for every commune
	// (the operation or the reference says which), suspended ones included.
	payment := newEngine()
	if err := common(payment); err != nil {
		return err
	}
	payment.GET("/notification", s.notification)
	payment.POST("/notification", s.notification)
	payment.GET("/tipi", s.tipiResult)
	payment.POST("/tipi", s.tipiResult)
	payment.NoRoute(s.notFound)
	s.payment = payment

	// Any other host.
	unknown := newEngine()
	if err := common(unknown); err != nil {
		return err
	}
	unknown.NoRoute(s.unknownHost)
	s.unknown = unknown
	return nil
}

func (s *Server) notFound(c *gin.Context) {
	s.renderError(c, errNotFound)
}
