package portal

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/portal/account"
	"github.com/regie/regie/portal/session"
	"github.com/regie/regie/tenant"
)

// The activation and forgotten-password flows have the same shape: a form
// asks for the address and always answers the same page, whatever the
// address (the mail, if any, is decided by a background job so that known
// and unknown addresses take the same time); the mailed link opens a form
// that asks for the password twice.

// linkFlow describes one of the two flows.
type linkFlow struct {
	Purpose     account.Purpose
	RequestPath string // "/activation"
	Title       string
	Button      string // the request form's button
	// PasswordTitle heads the page of the mailed link, where the password
	// is chosen.
	PasswordTitle string
	Validity      string // "48 heures"
}

var (
	activationFlow = linkFlow{Purpose: account.PurposeActivation, RequestPath: "/activation", Title: "Activer mon compte",
		Button: "Activation", Validity: "48 heures", PasswordTitle: "Choisir mon mot de passe"}
	resetFlow = linkFlow{Purpose: account.PurposeReset, RequestPath: "/mot-de-passe-oublie", Title: "Mot de passe oublié",
		Button: "Recevoir un lien", Validity: "1 heure", PasswordTitle: "Choisir un nouveau mot de passe"}
)

// linkRequestView is the data of the page that asks for the address.
type linkRequestView struct {
	Page
	Flow       linkFlow
	IsReset    bool
	Email      string
	EmailError string
	Error      string
	Sent       bool // the request was taken: say what happens next
}

func (s *Server) linkRequestPage(f linkFlow) gin.HandlerFunc {
	return func(c *gin.Context) {
		v := linkRequestView{Page: s.page(c, f.Title), Flow: f, IsReset: f.Purpose == account.PurposeReset,
			Email: strings.TrimSpace(c.Query("email"))}
		if c.Query("envoye") != "" && v.FlashEmail != "" {
			v.Sent, v.Email = true, v.FlashEmail
		}
		s.render(c, http.StatusOK, "link_request.html", v)
	}
}

// requestLink takes an activation or reset request. The answer is the same
// for every well-formed address; requests count against the address and
// the IP.
func (s *Server) requestLink(f linkFlow) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		t, _ := tenant.FromContext(ctx)
		raw := strings.TrimSpace(c.PostForm("email"))
		v := linkRequestView{Page: s.page(c, f.Title), Flow: f, IsReset: f.Purpose == account.PurposeReset, Email: raw}
		email, err := billing.NormalizeEmail(raw)
		if err != nil {
			v.EmailError = "Saisissez une adresse de messagerie complète, par exemple prenom.nom@exemple.fr."
			s.render(c, http.StatusUnprocessableEntity, "link_request.html", v)
			return
		}
		for _, chk := range []struct {
			l   limit
			key string
		}{{s.limits.linkRequestsByIP, c.ClientIP()}, {s.limits.linkRequestsByAddr, itoa(int64(t.ID)) + ":" + email}} {
			wait, err := s.take(ctx, chk.l, chk.key)
			if err != nil {
				s.renderError(c, errors.Join(errUnavailable, err))
				return
			}
			if wait > 0 {
				c.Header("Retry-After", itoa(int64(wait.Seconds())+1))
				v.Error = retryMessage(wait)
				s.render(c, http.StatusTooManyRequests, "link_request.html", v)
				return
			}
		}
		if _, err := s.jobs.Insert(ctx, LinkRequestArgs{TenantID: t.ID, Email: email, Purpose: f.Purpose}, nil); err != nil {
			s.renderError(c, err)
			return
		}
		logger(ctx).Info("link requested", "purpose", f.Purpose)
		s.setFlash(c, flash{Code: "link_sent", Email: email})
		c.Redirect(http.StatusSeeOther, f.RequestPath+"?envoye=1")
	}
}

// passwordView is the data of the page a mailed link opens.
type passwordView struct {
	Page
	Flow     linkFlow
	IsReset  bool
	Email    string
	Password newPassword
	Expired  bool // the link is unknown, used or expired
}

// openLink returns the valid token of the URL, or renders the "link no
// longer valid" page and returns false.
func (s *Server) openLink(c *gin.Context, f linkFlow, v *passwordView) (account.Token, bool) {
	ctx := c.Request.Context()
	t, _ := tenant.FromContext(ctx)
	var tok account.Token
	err := tenant.WithTx(ctx, s.db, t.ID, func(tx *sqlx.Tx) error {
		var err error
		tok, err = account.OpenToken(ctx, tx, t.ID, f.Purpose, c.Param("token"), s.now())
		return err
	})
	if errors.Is(err, account.ErrTokenInvalid) {
		v.Expired, v.Email = true, tok.Email
		s.render(c, http.StatusNotFound, "link_password.html", v)
		return tok, false
	}
	if err != nil {
		s.renderError(c, err)
		return tok, false
	}
	v.Email = tok.Email
	return tok, true
}

func (s *Server) linkPasswordPage(f linkFlow) gin.HandlerFunc {
	return func(c *gin.Context) {
		v := passwordView{Page: s.page(c, f.PasswordTitle), Flow: f, IsReset: f.Purpose == account.PurposeReset, Password: s.newPassword("Mon mot de passe", "Confirmer mon mot de passe")}
		if _, ok := s.openLink(c, f, &v); ok {
			s.render(c, http.StatusOK, "link_password.html", v)
		}
	}
}

// savePassword ends both flows: a rejected password shows the form again
// and keeps the link; an accepted one uses up every link of the address.
// Activation creates the account; a reset changes its password and ends
// all its sessions.
func (s *Server) savePassword(f linkFlow) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		t, _ := tenant.FromContext(ctx)
		v := passwordView{Page: s.page(c, f.PasswordTitle), Flow: f, IsReset: f.Purpose == account.PurposeReset, Password: s.newPassword("Mon mot de passe", "Confirmer mon mot de passe")}
		tok, ok := s.openLink(c, f, &v)
		if !ok {
			return
		}
		password, ok := v.Password.read(c)
		if !ok {
			s.render(c, http.StatusUnprocessableEntity, "link_password.html", v)
			return
		}
		hash, err := s.hasher.Hash(ctx, password)
		if err != nil {
			s.renderError(c, err)
			return
		}
		var acc account.Account
		err = tenant.WithTx(ctx, s.db, t.ID, func(tx *sqlx.Tx) error {
			// the link may have been used meanwhile in another tab
			if _, err := account.OpenToken(ctx, tx, t.ID, f.Purpose, c.Param("token"), s.now()); err != nil {
				return err
			}
			if err := account.UseTokens(ctx, tx, t.ID, f.Purpose, tok.Email); err != nil {
				return err
			}
			if f.Purpose == account.PurposeActivation {
				var err error
				acc, err = account.Activate(ctx, tx, t.ID, tok.Email, hash)
				return err
			}
			var err error
			if acc, err = account.ByEmail(ctx, tx, t.ID, tok.Email); err != nil {
				return err
			}
			return account.SetPassword(ctx, tx, t.ID, acc.ID, hash)
		})
		if errors.Is(err, account.ErrTokenInvalid) || errors.Is(err, account.ErrConflict) || errors.Is(err, account.ErrNotFound) {
			v.Expired = true
			s.render(c, http.StatusNotFound, "link_password.html", v)
			return
		}
		if err != nil {
			s.renderError(c, err)
			return
		}
		code := "activated"
		if f.Purpose == account.PurposeReset {
			code = "password_reset"
			s.endSessions(ctx, t.ID, acc.ID, "")
		}
		logger(ctx).Info("password saved", "purpose", f.Purpose, "account", acc.ID)
		s.setFlash(c, flash{Code: code, Email: acc.Email})
		c.Redirect(http.StatusSeeOther, "/")
	}
}

// endSessions logs an account out everywhere but keep (a session hash).
func (s *Server) endSessions(ctx context.Context, tid tenant.ID, accountID int64, keep string) {
	if err := s.sessions.DeleteAll(ctx, session.Family, tid, accountID, keep); err != nil {
		logger(ctx).Error("end sessions", "account", accountID, "err", err)
	}
}
