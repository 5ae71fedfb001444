package portal

import (
	"context"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/portal/mfa"
	"github.com/regie/regie/portal/session"
	"github.com/regie/regie/tenant"
)

// A realm is a population that logs in with a password and a second factor
// (TOTP, or a recovery code once): a commune's staff, under /gestion on the
// commune's host, or the platform's operators, on admin.<base>. Each has
// its own cookie, sessions and store; the pages and rules are these.
type realm struct {
	kind   session.Kind
	cookie string
	prefix string // URL prefix and cookie path: "/gestion" or ""
	store  func(s *Server, c *gin.Context) credentials
	issuer func(c *gin.Context) string // the name authenticator apps show
}

// credential is what logging in needs to know about an account.
type credential struct {
	ID           int64
	Email        string
	PasswordHash string
	SealedSecret string
	TOTPEnabled  bool
	TOTPRequired bool
	Active       bool
	Data         map[string]string // kept in the session (a staff member's role)
}

// credentials is a realm's store of accounts.
type credentials interface {
	byEmail(ctx context.Context, email string) (credential, error) // errNotFound
	byID(ctx context.Context, id int64) (credential, error)
	// useRecoveryCode spends a code and audits it; false for a wrong one.
	useRecoveryCode(ctx context.Context, cr credential, code string) (bool, error)
	// enableTOTP stores a confirmed secret, audits it, returns recovery codes.
	enableTOTP(ctx context.Context, cr credential, sealed string) ([]string, error)
	recordLogin(ctx context.Context, cr credential) error
	// openLink returns the account of a valid invitation or activation
	// link, or errLinkInvalid.
	openLink(ctx context.Context, raw string) (credential, error)
	// setPassword checks the link again, saves the password, uses the
	// link up and audits it.
	setPassword(ctx context.Context, cr credential, raw, hash string) error
	// sessionTenant is the commune recorded in the realm's sessions (0 for
	// operators).
	sessionTenant(c *gin.Context) tenant.ID
}

// The stages of a session whose password was right: the second factor is
// still to come, or to be set up first.
const (
	stageKey    = "stage"
	stageTOTP   = "totp"
	stageEnroll = "enroll"
	enrollKey   = "enroll" // the sealed secret being set up
)

type realmKey struct{ kind session.Kind }

func (r realm) url(path string) string { return r.prefix + path }

// load puts the realm's session of the cookie on the context, when it is
// one of this realm (and of this commune).
func (s *Server) loadRealm(r realm) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		token, err := c.Cookie(r.cookie)
		if err != nil || token == "" {
			c.Next()
			return
		}
		sess, err := s.sessions.Get(ctx, token)
		switch {
		case errors.Is(err, session.ErrNotFound):
		case err != nil:
			withValue(c, sessionErrKey{}, err)
		case sess.Kind == r.kind && sess.TenantID == r.store(s, c).sessionTenant(c):
			withValue(c, realmKey{r.kind}, sess)
			setLogger(c, logger(ctx).With(string(r.kind), sess.AccountID))
		}
		c.Next()
	}
}

func realmSession(c *gin.Context, r realm) (session.Session, bool) {
	s, ok := c.Request.Context().Value(realmKey{r.kind}).(session.Session)
	return s, ok
}

// requireRealm lets through only a session past its second factor; others
// go to the login, and back after.
func (s *Server) requireRealm(r realm) gin.HandlerFunc {
	return func(c *gin.Context) {
		sess, ok := realmSession(c, r)
		switch {
		case ok && sess.Data[stageKey] == "":
			c.Next()
			return
		case ok && sess.Data[stageKey] == stageEnroll:
			c.Redirect(http.StatusSeeOther, r.url("/totp"))
		case ok && sess.Data[stageKey] == stageTOTP:
			c.Redirect(http.StatusSeeOther, r.url("/connexion/code"))
		default:
			if err, bad := c.Request.Context().Value(sessionErrKey{}).(error); bad {
				s.renderError(c, errors.Join(errUnavailable, err))
				return
			}
			c.Redirect(http.StatusSeeOther, r.url("/connexion?next=")+url.QueryEscape(c.Request.URL.RequestURI()))
		}
		c.Abort()
	}
}

// mfaView is the data of the login, code and set-up pages.
type mfaView struct {
	Page
	Prefix    string // "/gestion" or ""
	Heading   string
	Email     string
	Next      string
	Error     string
	QR        template.URL // data: URL of the QR code, generated here
	Secret    string
	Codes     []string // recovery codes, shown once
	Mandatory bool
}

func (s *Server) mfaPage(c *gin.Context, r realm, title string) mfaView {
	v := mfaView{Page: s.page(c, title), Prefix: r.prefix, Heading: title}
	if r.kind == session.Staff {
		v.Page = s.staffPage(c, title, "compte")
	}
	return v
}

func (s *Server) realmLoginPage(r realm, title string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if sess, ok := realmSession(c, r); ok && sess.Data[stageKey] == "" {
			c.Redirect(http.StatusSeeOther, r.url("/"))
			return
		}
		v := s.mfaPage(c, r, title)
		v.Next, v.Email = safeNext(c.Query("next")), v.FlashEmail
		s.render(c, http.StatusOK, "mfa_login.html", v)
	}
}

// realmLogin checks address and password (rate-limited like families'
// logins, under the realm's own keys), then opens a session at the stage
// the account's second factor requires.
func (s *Server) realmLogin(r realm, title string) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		raw := strings.TrimSpace(c.PostForm("email"))
		v := s.mfaPage(c, r, title)
		v.Email, v.Next = raw, safeNext(c.PostForm("next"))
		store := r.store(s, c)
		keys := []struct {
			l   limit
			key string
		}{{s.limits.loginFailuresByIP, string(r.kind) + ":" + c.ClientIP()},
			{s.limits.loginFailuresByAddr, string(r.kind) + ":" + itoa(int64(store.sessionTenant(c))) + ":" + strings.ToLower(raw)}}
		for _, k := range keys {
			wait, err := s.exhausted(ctx, k.l, k.key)
			if err != nil {
				s.renderError(c, errors.Join(errUnavailable, err))
				return
			}
			if wait > 0 {
				c.Header("Retry-After", itoa(int64(wait.Seconds())+1))
				v.Error = retryMessage(wait)
				s.render(c, http.StatusTooManyRequests, "mfa_login.html", v)
				return
			}
		}
		var cr credential
		lookErr := errNotFound
		if email, err := billing.NormalizeEmail(raw); err == nil {
			cr, lookErr = store.byEmail(ctx, email)
			if lookErr != nil && !errors.Is(lookErr, errNotFound) {
				s.renderError(c, lookErr)
				return
			}
		}
		hash := ""
		if lookErr == nil && cr.Active {
			hash = cr.PasswordHash
		}
		ok, err := s.hasher.Verify(ctx, c.PostForm("password"), hash)
		if err != nil {
			s.renderError(c, err)
			return
		}
		if !ok {
			for _, k := range keys {
				if _, err := s.take(ctx, k.l, k.key); err != nil {
					s.renderError(c, errors.Join(errUnavailable, err))
					return
				}
			}
			logger(ctx).Info("login failed", "realm", r.kind)
			v.Error = errBadLogin
			s.render(c, http.StatusUnauthorized, "mfa_login.html", v)
			return
		}
		stage := ""
		switch {
		case cr.TOTPEnabled:
			stage = stageTOTP
		case cr.TOTPRequired:
			stage = stageEnroll
		}
		if !s.openRealmSession(c, r, cr, stage) {
			return
		}
		next := v.Next
		switch {
		case stage == stageTOTP:
			next = r.url("/connexion/code?next=") + url.QueryEscape(v.Next)
		case stage == stageEnroll:
			next = r.url("/totp")
		case next == "" || !strings.HasPrefix(next, r.url("/")):
			next = r.url("/")
		}
		c.Redirect(http.StatusSeeOther, next)
	}
}

// openRealmSession replaces the browser's session of the realm by a new
// one (a new token at every stage), and records the login once complete.
func (s *Server) openRealmSession(c *gin.Context, r realm, cr credential, stage string) bool {
	ctx := c.Request.Context()
	if old, ok := realmSession(c, r); ok {
		s.sessions.Delete(ctx, old) //nolint:errcheck // the new session matters
	}
	data := map[string]string{stageKey: stage}
	for k, v := range cr.Data {
		data[k] = v
	}
	store := r.store(s, c)
	token, sess, err := s.sessions.Create(ctx, session.Session{
		Kind: r.kind, TenantID: store.sessionTenant(c), AccountID: cr.ID, Email: cr.Email,
		UserAgent: truncate(c.Request.UserAgent(), 200), IP: c.ClientIP(), Data: data,
	})
	if err != nil {
		s.renderError(c, errors.Join(errUnavailable, err))
		return false
	}
	path := r.prefix
	if path == "" {
		path = "/"
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: r.cookie, Value: token, Path: path, HttpOnly: true,
		Secure: s.opts.BaseURL.Scheme == "https", SameSite: http.SameSiteLaxMode})
	s.newCSRFCookie(c)
	withValue(c, realmKey{r.kind}, sess)
	if stage == "" {
		if err := store.recordLogin(ctx, cr); err != nil {
			logger(ctx).Warn("record login", "realm", r.kind, "err", err)
		}
		logger(ctx).Info("login", "realm", r.kind, "account", cr.ID)
	}
	return true
}

func (s *Server) realmCodePage(r realm) gin.HandlerFunc {
	return func(c *gin.Context) {
		if sess, ok := realmSession(c, r); !ok || sess.Data[stageKey] != stageTOTP {
			c.Redirect(http.StatusSeeOther, r.url("/connexion"))
			return
		}
		v := s.mfaPage(c, r, "Code de vérification")
		v.Next = safeNext(c.Query("next"))
		s.render(c, http.StatusOK, "mfa_code.html", v)
	}
}

// realmCode checks the TOTP code, or a recovery code (each works once),
// then completes the login with a new session token. Failures count like
// password failures.
func (s *Server) realmCode(r realm) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		sess, ok := realmSession(c, r)
		if !ok || sess.Data[stageKey] != stageTOTP {
			c.Redirect(http.StatusSeeOther, r.url("/connexion"))
			return
		}
		v := s.mfaPage(c, r, "Code de vérification")
		v.Next = safeNext(c.PostForm("next"))
		key := string(r.kind) + "-code:" + itoa(int64(sess.TenantID)) + ":" + itoa(sess.AccountID)
		if wait, err := s.exhausted(ctx, s.limits.loginFailuresByAddr, key); err != nil || wait > 0 {
			if err != nil {
				s.renderError(c, errors.Join(errUnavailable, err))
				return
			}
			v.Error = retryMessage(wait)
			s.render(c, http.StatusTooManyRequests, "mfa_code.html", v)
			return
		}
		store := r.store(s, c)
		cr, err := store.byID(ctx, sess.AccountID)
		if err != nil {
			s.renderError(c, err)
			return
		}
		code := strings.TrimSpace(c.PostForm("code"))
		valid := false
		if secret, err := s.sealer.Open(cr.SealedSecret); err == nil && mfa.ValidCode(secret, code, s.now()) {
			valid = true
		} else if len(code) == 9 && strings.Contains(code, "-") {
			if valid, err = store.useRecoveryCode(ctx, cr, code); err != nil {
				s.renderError(c, err)
				return
			}
		}
		if !valid || !cr.TOTPEnabled || !cr.Active {
			if _, err := s.take(ctx, s.limits.loginFailuresByAddr, key); err != nil {
				s.renderError(c, errors.Join(errUnavailable, err))
				return
			}
			v.Error = "Code incorrect. Saisissez les 6 chiffres affichés par votre application, ou un code de secours."
			s.render(c, http.StatusUnauthorized, "mfa_code.html", v)
			return
		}
		if !s.openRealmSession(c, r, cr, "") {
			return
		}
		next := v.Next
		if next == "" || !strings.HasPrefix(next, r.url("/")) {
			next = r.url("/")
		}
		c.Redirect(http.StatusSeeOther, next)
	}
}

// realmLogout ends the session.
func (s *Server) realmLogout(r realm) gin.HandlerFunc {
	return func(c *gin.Context) {
		if sess, ok := realmSession(c, r); ok {
			if err := s.sessions.Delete(c.Request.Context(), sess); err != nil {
				s.renderError(c, errors.Join(errUnavailable, err))
				return
			}
		}
		path := r.prefix
		if path == "" {
			path = "/"
		}
		http.SetCookie(c.Writer, &http.Cookie{Name: r.cookie, Value: "", Path: path, MaxAge: -1, HttpOnly: true,
			Secure: s.opts.BaseURL.Scheme == "https", SameSite: http.SameSiteLaxMode})
		s.newCSRFCookie(c)
		s.setFlash(c, flash{Code: "logged_out"})
		c.Redirect(http.StatusSeeOther, r.url("/connexion"))
	}
}

// realmEnrollPage shows a new TOTP secret as a QR code, kept sealed in the
// session until confirmed.
func (s *Server) realmEnrollPage(r realm) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		sess, ok := realmSession(c, r)
		if !ok || sess.Data[stageKey] == stageTOTP {
			c.Redirect(http.StatusSeeOther, r.url("/connexion"))
			return
		}
		e, err := mfa.NewEnrollment(r.issuer(c), sess.Email)
		if err != nil {
			s.renderError(c, err)
			return
		}
		sealed, err := s.sealer.Seal(e.Secret)
		if err != nil {
			s.renderError(c, err)
			return
		}
		sess.Data[enrollKey] = sealed
		if err := s.sessions.Update(ctx, sess); err != nil {
			s.renderError(c, errors.Join(errUnavailable, err))
			return
		}
		v := s.mfaPage(c, r, "Double authentification")
		v.Secret, v.QR, v.Mandatory = e.Secret, qrURL(e.QRPNG), sess.Data[stageKey] == stageEnroll
		s.render(c, http.StatusOK, "mfa_enroll.html", v)
	}
}

// realmEnroll confirms the set-up with a first code, stores the secret and
// shows the recovery codes once.
func (s *Server) realmEnroll(r realm) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		sess, ok := realmSession(c, r)
		if !ok || sess.Data[stageKey] == stageTOTP || sess.Data[enrollKey] == "" {
			c.Redirect(http.StatusSeeOther, r.url("/totp"))
			return
		}
		secret, err := s.sealer.Open(sess.Data[enrollKey])
		if err != nil {
			s.renderError(c, err)
			return
		}
		if !mfa.ValidCode(secret, c.PostForm("code"), s.now()) {
			v := s.mfaPage(c, r, "Double authentification")
			v.Secret, v.Mandatory = secret, sess.Data[stageKey] == stageEnroll
			v.Error = "Code incorrect : vérifiez l'heure de votre téléphone et saisissez le code affiché maintenant."
			if e, err := mfa.EnrollmentFor(r.issuer(c), sess.Email, secret); err == nil {
				v.QR = qrURL(e.QRPNG)
			}
			s.render(c, http.StatusUnprocessableEntity, "mfa_enroll.html", v)
			return
		}
		store := r.store(s, c)
		cr, err := store.byID(ctx, sess.AccountID)
		if err != nil {
			s.renderError(c, err)
			return
		}
		codes, err := store.enableTOTP(ctx, cr, sess.Data[enrollKey])
		if err != nil {
			s.renderError(c, err)
			return
		}
		if !s.openRealmSession(c, r, cr, "") {
			return
		}
		v := s.mfaPage(c, r, "Codes de secours")
		v.Codes = codes
		s.render(c, http.StatusOK, "mfa_enroll.html", v)
	}
}

// errLinkInvalid is an invitation or activation link unknown, used or
// expired.
var errLinkInvalid = errors.New("portal: link unknown, used or expired")

// linkView is the data of the page an invitation or activation link opens.
type linkView struct {
	Page
	Prefix   string
	Heading  string
	Email    string
	Password newPassword
	Expired  bool
}

// realmLink lets the person a link was mailed to choose a password, twice;
// the login (and its second factor) follows.
func (s *Server) realmLink(r realm, heading string) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		store := r.store(s, c)
		v := linkView{Page: s.page(c, heading), Prefix: r.prefix, Heading: heading, Password: s.newPassword("Mot de passe", "Confirmer le mot de passe")}
		cr, err := store.openLink(ctx, c.Param("token"))
		if errors.Is(err, errLinkInvalid) {
			v.Expired = true
			s.render(c, http.StatusNotFound, "mfa_link.html", v)
			return
		}
		if err != nil {
			s.renderError(c, err)
			return
		}
		v.Email = cr.Email
		if c.Request.Method == http.MethodGet {
			s.render(c, http.StatusOK, "mfa_link.html", v)
			return
		}
		password, ok := v.Password.read(c)
		if !ok {
			s.render(c, http.StatusUnprocessableEntity, "mfa_link.html", v)
			return
		}
		hash, err := s.hasher.Hash(ctx, password)
		if err != nil {
			s.renderError(c, err)
			return
		}
		err = store.setPassword(ctx, cr, c.Param("token"), hash)
		if errors.Is(err, errLinkInvalid) {
			v.Expired = true
			s.render(c, http.StatusNotFound, "mfa_link.html", v)
			return
		}
		if err != nil {
			s.renderError(c, err)
			return
		}
		if err := s.sessions.DeleteAll(ctx, r.kind, store.sessionTenant(c), cr.ID, ""); err != nil {
			logger(ctx).Error("end sessions after a new password", "realm", r.kind, "err", err)
		}
		s.setFlash(c, flash{Code: "staff_password", Email: cr.Email})
		c.Redirect(http.StatusSeeOther, r.url("/connexion"))
	}
}

// qrURL is a PNG we generated, as a data: URL the template may use.
func qrURL(png []byte) template.URL {
	return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png)) //nolint:gosec // our own PNG
}
