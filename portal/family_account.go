package portal

import (
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/portal/account"
	"github.com/regie/regie/portal/session"
	"github.com/regie/regie/tenant"
)

// accountView is the data of "Mon compte".
type accountView struct {
	Page
	Email          string
	NotifyInvoices bool
	Sessions       []sessionRow
	Password       passwordChange
}

type sessionRow struct {
	Current   bool
	Device    string
	IP        string
	Since     string
	LastSeen  string
	Remember  bool
	ExpiresAt string
}

func (s *Server) accountData(c *gin.Context) (accountView, bool) {
	ctx := c.Request.Context()
	sess, _ := familyFrom(c)
	v := accountView{Page: s.page(c, "Mon compte"), Email: sess.Email, Password: s.passwordChange("/compte/mot-de-passe", sess.Email)}
	var acc account.Account
	err := tenant.WithTx(ctx, s.db, sess.TenantID, func(tx *sqlx.Tx) error {
		var err error
		acc, err = account.ByID(ctx, tx, sess.TenantID, sess.AccountID)
		return err
	})
	if err != nil {
		s.renderError(c, err)
		return v, false
	}
	v.NotifyInvoices = acc.NotifyInvoices
	list, err := s.sessions.List(ctx, session.Family, sess.TenantID, sess.AccountID)
	if err != nil {
		s.renderError(c, errors.Join(errUnavailable, err))
		return v, false
	}
	for _, x := range list {
		v.Sessions = append(v.Sessions, sessionRow{
			Current: x.Hash == sess.Hash, Device: describeAgent(x.UserAgent), IP: x.IP,
			Since: parisTime(x.CreatedAt), LastSeen: parisTime(x.LastSeen), Remember: x.Remember,
			ExpiresAt: parisTime(x.ExpiresAt),
		})
	}
	return v, true
}

// accountPage shows "Mon compte": password, e-mail notifications, sessions.
func (s *Server) accountPage(c *gin.Context) {
	if v, ok := s.accountData(c); ok {
		s.render(c, http.StatusOK, "account.html", v)
	}
}

// changePassword asks for the current password, then ends the account's
// other sessions.
func (s *Server) changePassword(c *gin.Context) {
	ctx := c.Request.Context()
	sess, _ := familyFrom(c)
	v, ok := s.accountData(c)
	if !ok {
		return
	}
	var acc account.Account
	err := tenant.WithTx(ctx, s.db, sess.TenantID, func(tx *sqlx.Tx) error {
		var err error
		acc, err = account.ByID(ctx, tx, sess.TenantID, sess.AccountID)
		return err
	})
	if err != nil {
		s.renderError(c, err)
		return
	}
	password, ok := s.readPasswordChange(c, &v.Password, acc.PasswordHash)
	if !ok {
		s.render(c, http.StatusUnprocessableEntity, "account.html", v)
		return
	}
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		s.renderError(c, err)
		return
	}
	if err := tenant.WithTx(ctx, s.db, sess.TenantID, func(tx *sqlx.Tx) error {
		return account.SetPassword(ctx, tx, sess.TenantID, sess.AccountID, hash)
	}); err != nil {
		s.renderError(c, err)
		return
	}
	s.endSessions(ctx, sess.TenantID, sess.AccountID, sess.Hash)
	s.setFlash(c, flash{Code: "password_saved"})
	c.Redirect(http.StatusSeeOther, "/compte")
}

// setNotifications turns the "new invoice" e-mails on or off.
func (s *Server) setNotifications(c *gin.Context) {
	ctx := c.Request.Context()
	sess, _ := familyFrom(c)
	on := c.PostForm("notify_invoices") != ""
	if err := tenant.WithTx(ctx, s.db, sess.TenantID, func(tx *sqlx.Tx) error {
		return account.SetNotifyInvoices(ctx, tx, sess.TenantID, sess.AccountID, on)
	}); err != nil {
		s.renderError(c, err)
		return
	}
	code := "notify_off"
	if on {
		code = "notify_on"
	}
	s.setFlash(c, flash{Code: code})
	c.Redirect(http.StatusSeeOther, "/compte")
}

// logoutEverywhere ends every session of the account, this one included.
func (s *Server) logoutEverywhere(c *gin.Context) {
	ctx := c.Request.Context()
	sess, _ := familyFrom(c)
	if err := s.sessions.DeleteAll(ctx, session.Family, sess.TenantID, sess.AccountID, ""); err != nil {
		s.renderError(c, errors.Join(errUnavailable, err))
		return
	}
	s.setCookie(c, familyCookie, "", -1)
	s.newCSRFCookie(c)
	s.setFlash(c, flash{Code: "logged_out_all"})
	c.Redirect(http.StatusSeeOther, "/")
}

// parisTime formats an instant as a French date and time in Paris.
func parisTime(t time.Time) string {
	return t.In(tenant.Paris).Format("02/01/2006 à 15h04")
}
