package portal

import (
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/portal/account"
	"github.com/regie/regie/portal/session"
	"github.com/regie/regie/tenant"
)

// loginView is the data of the commune's home page, the login form of the
// commune guide.
type loginView struct {
	Page
	Email string
	Next  string
	Error string
}

// loginPage shows "Le portail des factures": Mon adresse, Mon mot de passe,
// Se souvenir de moi, Connexion. A logged-in family goes to its invoices.
func (s *Server) loginPage(c *gin.Context) {
	next := safeNext(c.Query("next"))
	if _, ok := familyFrom(c); ok {
		if next == "" {
			next = "/factures"
		}
		c.Redirect(http.StatusSeeOther, next)
		return
	}
	v := loginView{Page: s.page(c, "Connexion"), Next: next}
	v.Email = v.FlashEmail
	s.render(c, http.StatusOK, "login.html", v)
}

// errBadLogin is the one answer to a wrong address or password.
const errBadLogin = "Adresse de messagerie ou mot de passe incorrect."

// login checks the address and password. Failures count against the address
// (known or not) and the client's IP; past the limit the form says when to
// try again. Success opens a new session (a new token: the session rotates)
// and goes to next or to "Mes factures".
func (s *Server) login(c *gin.Context) {
	ctx := c.Request.Context()
	t, _ := tenant.FromContext(ctx)
	raw := strings.TrimSpace(c.PostForm("email"))
	password := c.PostForm("password")
	remember := c.PostForm("remember") != ""
	next := safeNext(c.PostForm("next"))
	v := loginView{Page: s.page(c, "Connexion"), Email: raw, Next: next}
	if !utf8.ValidString(raw) || len(raw) > 254 {
		v.Email = ""
	}
	email, emailErr := billing.NormalizeEmail(raw)
	addrKey := itoa(int64(t.ID)) + ":" + strings.ToLower(v.Email)
	ip := c.ClientIP()

	for _, chk := range []struct {
		l   limit
		key string
	}{{s.limits.loginFailuresByIP, ip}, {s.limits.loginFailuresByAddr, addrKey}} {
		wait, err := s.exhausted(ctx, chk.l, chk.key)
		if err != nil {
			s.renderError(c, errors.Join(errUnavailable, err))
			return
		}
		if wait > 0 {
			logger(ctx).Info("login refused: rate limit", "limit", chk.l.name)
			c.Header("Retry-After", itoa(int64(wait.Seconds())+1))
			v.Error = retryMessage(wait)
			s.render(c, http.StatusTooManyRequests, "login.html", v)
			return
		}
	}

	var acc account.Account
	var lookupErr error
	if emailErr == nil {
		lookupErr = tenant.WithTx(ctx, s.db, t.ID, func(tx *sqlx.Tx) error {
			var err error
			acc, err = account.ByEmail(ctx, tx, t.ID, email)
			return err
		})
		if lookupErr != nil && !errors.Is(lookupErr, account.ErrNotFound) {
			s.renderError(c, lookupErr)
			return
		}
	}
	hash := ""
	if lookupErr == nil && emailErr == nil && acc.Active() {
		hash = acc.PasswordHash
	}
	ok, err := s.hasher.Verify(ctx, password, hash)
	if err != nil {
		s.renderError(c, err)
		return
	}
	if !ok {
		for _, chk := range []struct {
			l   limit
			key string
		}{{s.limits.loginFailuresByIP, ip}, {s.limits.loginFailuresByAddr, addrKey}} {
			if _, err := s.take(ctx, chk.l, chk.key); err != nil {
				s.renderError(c, errors.Join(errUnavailable, err))
				return
			}
		}
		logger(ctx).Info("login failed", "known_account", hash != "")
		v.Error = errBadLogin
		s.render(c, http.StatusUnauthorized, "login.html", v)
		return
	}

	if old, ok := familyFrom(c); ok {
		s.sessions.Delete(ctx, old) //nolint:errcheck // the new session matters
	}
	token, _, err := s.sessions.Create(ctx, session.Session{
		Kind: session.Family, TenantID: t.ID, AccountID: acc.ID, Email: acc.Email,
		Remember: remember, UserAgent: truncate(c.Request.UserAgent(), 200), IP: ip,
	})
	if err != nil {
		s.renderError(c, errors.Join(errUnavailable, err))
		return
	}
	maxAge := 0
	if remember {
		maxAge = int(session.FamilyRemember.Seconds())
	}
	s.setCookie(c, familyCookie, token, maxAge)
	s.newCSRFCookie(c)
	if err := tenant.WithTx(ctx, s.db, t.ID, func(tx *sqlx.Tx) error {
		return account.RecordLogin(ctx, tx, t.ID, acc.ID)
	}); err != nil {
		logger(ctx).Warn("record login", "err", err)
	}
	logger(ctx).Info("login", "account", acc.ID, "remember", remember)
	if next == "" {
		next = "/factures"
	}
	c.Redirect(http.StatusSeeOther, next)
}

// logout ends the session and returns to the login page.
func (s *Server) logout(c *gin.Context) {
	ctx := c.Request.Context()
	if sess, ok := familyFrom(c); ok {
		if err := s.sessions.Delete(ctx, sess); err != nil {
			s.renderError(c, errors.Join(errUnavailable, err))
			return
		}
	}
	s.setCookie(c, familyCookie, "", -1)
	s.newCSRFCookie(c)
	s.setFlash(c, flash{Code: "logged_out"})
	c.Redirect(http.StatusSeeOther, "/")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
