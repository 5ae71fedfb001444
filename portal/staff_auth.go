package portal

import (
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/portal/account"
	"github.com/regie/regie/portal/audit"
	"github.com/regie/regie/portal/mfa"
	"github.com/regie/regie/portal/session"
	"github.com/regie/regie/portal/staff"
	"github.com/regie/regie/tenant"
)

// staffCookie holds a staff session, sent only to /gestion/ on the
// commune's host: staff and family sessions never mix.
const staffCookie = "regie_staff"

// A staff session passes through stages: the password was right but the
// second factor is still to come, or to be set up.
const (
	stageKey    = "stage"
	stageTOTP   = "totp"   // asks for the code
	stageEnroll = "enroll" // must set up TOTP first (administrators)
	enrollKey   = "enroll" // the sealed secret being set up
)

type staffKey struct{}

// loadStaff puts the staff session of the cookie on the context, when it is
// one of this commune.
func (s *Server) loadStaff(c *gin.Context) {
	ctx := c.Request.Context()
	token, err := c.Cookie(staffCookie)
	if err != nil || token == "" {
		c.Next()
		return
	}
	sess, err := s.sessions.Get(ctx, token)
	switch {
	case errors.Is(err, session.ErrNotFound):
	case err != nil:
		withValue(c, sessionErrKey{}, err)
	default:
		t, _ := tenant.FromContext(ctx)
		if sess.Kind == session.Staff && sess.TenantID == t.ID {
			withValue(c, staffKey{}, sess)
			withValue(c, loggerKey{}, logger(ctx).With("staff", sess.AccountID))
		}
	}
	c.Next()
}

func staffFrom(c *gin.Context) (session.Session, bool) {
	s, ok := c.Request.Context().Value(staffKey{}).(session.Session)
	return s, ok
}

// staffRole is the role the session was opened with (sessions end when a
// role changes).
func staffRole(sess session.Session) staff.Role { return staff.Role(sess.Data["role"]) }

// requireStaff lets through only a staff session past its second factor;
// others go to the staff login, and back here after.
func (s *Server) requireStaff(c *gin.Context) {
	sess, ok := staffFrom(c)
	switch {
	case ok && sess.Data[stageKey] == "":
		c.Next()
		return
	case ok && sess.Data[stageKey] == stageEnroll:
		c.Redirect(http.StatusSeeOther, "/gestion/totp")
	case ok && sess.Data[stageKey] == stageTOTP:
		c.Redirect(http.StatusSeeOther, "/gestion/connexion/code")
	default:
		if err, bad := c.Request.Context().Value(sessionErrKey{}).(error); bad {
			s.renderError(c, errors.Join(errUnavailable, err))
			return
		}
		c.Redirect(http.StatusSeeOther, "/gestion/connexion?next="+url.QueryEscape(c.Request.URL.RequestURI()))
	}
	c.Abort()
}

// requirePerm refuses (403) a role without the permission.
func (s *Server) requirePerm(p staff.Permission) gin.HandlerFunc {
	return func(c *gin.Context) {
		sess, _ := staffFrom(c)
		if !staffRole(sess).Can(p) {
			s.renderError(c, errForbidden)
			return
		}
		c.Next()
	}
}

// staffPage returns the page data of a back-office page.
func (s *Server) staffPage(c *gin.Context, title, section string) Page {
	p := s.page(c, title)
	if sess, ok := staffFrom(c); ok && sess.Data[stageKey] == "" {
		r := staffRole(sess)
		p.Staff = &StaffNav{Email: sess.Email, Role: r.Label(), Section: section,
			Settings: r.Can(staff.PermSettings), Team: r.Can(staff.PermTeam), Audit: r.Can(staff.PermAuditTrail)}
	}
	return p
}

// actor is who a staff request acts as, for the audit log.
func actor(c *gin.Context) audit.Actor {
	sess, _ := staffFrom(c)
	return audit.Actor{Kind: "staff", ID: sess.AccountID, Email: sess.Email}
}

// staffLoginView is the data of the staff login pages.
type staffLoginView struct {
	Page
	Email string
	Next  string
	Error string
}

func (s *Server) staffLoginPage(c *gin.Context) {
	if sess, ok := staffFrom(c); ok && sess.Data[stageKey] == "" {
		c.Redirect(http.StatusSeeOther, "/gestion/")
		return
	}
	v := staffLoginView{Page: s.staffPage(c, "Connexion à la gestion", ""), Next: safeNext(c.Query("next"))}
	v.Email = v.FlashEmail
	s.render(c, http.StatusOK, "staff_login.html", v)
}

// staffLogin checks address and password (rate-limited like families',
// under their own keys), then opens a session at the stage the member's
// second factor requires.
func (s *Server) staffLogin(c *gin.Context) {
	ctx := c.Request.Context()
	t, _ := tenant.FromContext(ctx)
	raw := strings.TrimSpace(c.PostForm("email"))
	v := staffLoginView{Page: s.staffPage(c, "Connexion à la gestion", ""), Email: raw, Next: safeNext(c.PostForm("next"))}
	email, emailErr := billing.NormalizeEmail(raw)
	keys := []struct {
		l   limit
		key string
	}{{s.limits.loginFailuresByIP, "staff:" + c.ClientIP()}, {s.limits.loginFailuresByAddr, "staff:" + itoa(int64(t.ID)) + ":" + strings.ToLower(raw)}}
	for _, k := range keys {
		wait, err := s.exhausted(ctx, k.l, k.key)
		if err != nil {
			s.renderError(c, errors.Join(errUnavailable, err))
			return
		}
		if wait > 0 {
			c.Header("Retry-After", itoa(int64(wait.Seconds())+1))
			v.Error = retryMessage(wait)
			s.render(c, http.StatusTooManyRequests, "staff_login.html", v)
			return
		}
	}
	var m staff.Member
	var lookErr error = staff.ErrNotFound
	if emailErr == nil {
		lookErr = tenant.WithTx(ctx, s.db, t.ID, func(tx *sqlx.Tx) error {
			var err error
			m, err = staff.ByEmail(ctx, tx, t.ID, email)
			return err
		})
		if lookErr != nil && !errors.Is(lookErr, staff.ErrNotFound) {
			s.renderError(c, lookErr)
			return
		}
	}
	hash := ""
	if lookErr == nil && m.Active() {
		hash = m.PasswordHash
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
		logger(ctx).Info("staff login failed")
		v.Error = errBadLogin
		s.render(c, http.StatusUnauthorized, "staff_login.html", v)
		return
	}
	stage := ""
	switch {
	case m.TOTPEnabled:
		stage = stageTOTP
	case m.Role.TOTPRequired():
		stage = stageEnroll
	}
	if !s.openStaffSession(c, m, stage) {
		return
	}
	next := v.Next
	switch {
	case stage == stageTOTP:
		next = "/gestion/connexion/code?next=" + url.QueryEscape(v.Next)
	case stage == stageEnroll:
		next = "/gestion/totp"
	case next == "" || !strings.HasPrefix(next, "/gestion/"):
		next = "/gestion/"
	}
	c.Redirect(http.StatusSeeOther, next)
}

// openStaffSession replaces any staff session of the browser by a new one
// (a new token at every stage), and records the login once it is complete.
func (s *Server) openStaffSession(c *gin.Context, m staff.Member, stage string) bool {
	ctx := c.Request.Context()
	if old, ok := staffFrom(c); ok {
		s.sessions.Delete(ctx, old) //nolint:errcheck // the new session matters
	}
	token, sess, err := s.sessions.Create(ctx, session.Session{
		Kind: session.Staff, TenantID: m.TenantID, AccountID: m.ID, Email: m.Email,
		UserAgent: truncate(c.Request.UserAgent(), 200), IP: c.ClientIP(),
		Data: map[string]string{"role": string(m.Role), stageKey: stage},
	})
	if err != nil {
		s.renderError(c, errors.Join(errUnavailable, err))
		return false
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: staffCookie, Value: token, Path: "/gestion", HttpOnly: true,
		Secure: s.opts.BaseURL.Scheme == "https", SameSite: http.SameSiteLaxMode})
	s.newCSRFCookie(c)
	withValue(c, staffKey{}, sess)
	if stage == "" {
		err := tenant.WithTx(ctx, s.db, m.TenantID, func(tx *sqlx.Tx) error {
			return staff.RecordLogin(ctx, tx, m.TenantID, m.ID, s.now())
		})
		if err != nil {
			logger(ctx).Warn("record staff login", "err", err)
		}
		logger(ctx).Info("staff login", "staff", m.ID, "role", m.Role)
	}
	return true
}

// staffCodeView is the data of the second-factor page.
type staffCodeView struct {
	Page
	Next  string
	Error string
}

func (s *Server) staffCodePage(c *gin.Context) {
	if sess, ok := staffFrom(c); !ok || sess.Data[stageKey] != stageTOTP {
		c.Redirect(http.StatusSeeOther, "/gestion/connexion")
		return
	}
	s.render(c, http.StatusOK, "staff_code.html", staffCodeView{Page: s.staffPage(c, "Code de vérification", ""), Next: safeNext(c.Query("next"))})
}

// staffCode checks the TOTP code, or a recovery code (each works once),
// then completes the login with a new session token. Failures count like
// password failures.
func (s *Server) staffCode(c *gin.Context) {
	ctx := c.Request.Context()
	sess, ok := staffFrom(c)
	if !ok || sess.Data[stageKey] != stageTOTP {
		c.Redirect(http.StatusSeeOther, "/gestion/connexion")
		return
	}
	v := staffCodeView{Page: s.staffPage(c, "Code de vérification", ""), Next: safeNext(c.PostForm("next"))}
	key := "staff-code:" + itoa(int64(sess.TenantID)) + ":" + itoa(sess.AccountID)
	if wait, err := s.exhausted(ctx, s.limits.loginFailuresByAddr, key); err != nil || wait > 0 {
		if err != nil {
			s.renderError(c, errors.Join(errUnavailable, err))
			return
		}
		v.Error = retryMessage(wait)
		s.render(c, http.StatusTooManyRequests, "staff_code.html", v)
		return
	}
	code := strings.TrimSpace(c.PostForm("code"))
	var m staff.Member
	valid := false
	err := tenant.WithTx(ctx, s.db, sess.TenantID, func(tx *sqlx.Tx) error {
		var err error
		if m, err = staff.ByID(ctx, tx, sess.TenantID, sess.AccountID); err != nil {
			return err
		}
		if secret, err := s.sealer.Open(m.TOTPSecret); err == nil && mfa.ValidCode(secret, code, s.now()) {
			valid = true
			return nil
		}
		if len(code) == 9 && strings.Contains(code, "-") {
			if valid, err = staff.UseRecoveryCode(ctx, tx, sess.TenantID, m.ID, code); err != nil || !valid {
				return err
			}
			return audit.Record(ctx, tx, sess.TenantID, audit.Actor{Kind: "staff", ID: m.ID, Email: m.Email},
				audit.Entry{Action: "staff.recovery_code_used", TargetType: "staff", TargetID: itoa(m.ID)})
		}
		return nil
	})
	if err != nil {
		s.renderError(c, err)
		return
	}
	if !valid || !m.TOTPEnabled || m.RemovedAt != nil {
		if _, err := s.take(ctx, s.limits.loginFailuresByAddr, key); err != nil {
			s.renderError(c, errors.Join(errUnavailable, err))
			return
		}
		v.Error = "Code incorrect. Saisissez les 6 chiffres affichés par votre application, ou un code de secours."
		s.render(c, http.StatusUnauthorized, "staff_code.html", v)
		return
	}
	if !s.openStaffSession(c, m, "") {
		return
	}
	next := v.Next
	if next == "" || !strings.HasPrefix(next, "/gestion/") {
		next = "/gestion/"
	}
	c.Redirect(http.StatusSeeOther, next)
}

// staffLogout ends the staff session.
func (s *Server) staffLogout(c *gin.Context) {
	if sess, ok := staffFrom(c); ok {
		if err := s.sessions.Delete(c.Request.Context(), sess); err != nil {
			s.renderError(c, errors.Join(errUnavailable, err))
			return
		}
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: staffCookie, Value: "", Path: "/gestion", MaxAge: -1, HttpOnly: true,
		Secure: s.opts.BaseURL.Scheme == "https", SameSite: http.SameSiteLaxMode})
	s.newCSRFCookie(c)
	s.setFlash(c, flash{Code: "logged_out"})
	c.Redirect(http.StatusSeeOther, "/gestion/connexion")
}

// enrollView is the data of the TOTP set-up page.
type enrollView struct {
	Page
	QR        template.URL // data: URL of the QR code, generated here (trusted)
	Secret    string       // to type when the code cannot be scanned
	Error     string
	Codes     []string // recovery codes, shown once after set-up
	Mandatory bool
}

// staffEnrollPage shows a new TOTP secret as a QR code (kept sealed in the
// session until confirmed).
func (s *Server) staffEnrollPage(c *gin.Context) {
	ctx := c.Request.Context()
	t, _ := tenant.FromContext(ctx)
	sess, ok := staffFrom(c)
	if !ok || sess.Data[stageKey] == stageTOTP {
		c.Redirect(http.StatusSeeOther, "/gestion/connexion")
		return
	}
	e, err := mfa.NewEnrollment("Régie "+t.Name, sess.Email)
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
	v := enrollView{Page: s.staffPage(c, "Double authentification", "compte"), Secret: e.Secret,
		QR: qrURL(e.QRPNG), Mandatory: sess.Data[stageKey] == stageEnroll}
	s.render(c, http.StatusOK, "staff_enroll.html", v)
}

// staffEnroll confirms the set-up with a first code, stores the secret and
// shows the recovery codes once.
func (s *Server) staffEnroll(c *gin.Context) {
	ctx := c.Request.Context()
	sess, ok := staffFrom(c)
	if !ok || sess.Data[stageKey] == stageTOTP || sess.Data[enrollKey] == "" {
		c.Redirect(http.StatusSeeOther, "/gestion/totp")
		return
	}
	secret, err := s.sealer.Open(sess.Data[enrollKey])
	if err != nil {
		s.renderError(c, err)
		return
	}
	if !mfa.ValidCode(secret, c.PostForm("code"), s.now()) {
		v := enrollView{Page: s.staffPage(c, "Double authentification", "compte"), Secret: secret, Mandatory: sess.Data[stageKey] == stageEnroll,
			Error: "Code incorrect : vérifiez l'heure de votre téléphone et saisissez le code affiché maintenant."}
		t, _ := tenant.FromContext(ctx)
		if e, err := mfa.EnrollmentFor("Régie "+t.Name, sess.Email, secret); err == nil {
			v.QR = qrURL(e.QRPNG)
		}
		s.render(c, http.StatusUnprocessableEntity, "staff_enroll.html", v)
		return
	}
	var codes []string
	var m staff.Member
	err = tenant.WithTx(ctx, s.db, sess.TenantID, func(tx *sqlx.Tx) error {
		var err error
		if m, err = staff.ByID(ctx, tx, sess.TenantID, sess.AccountID); err != nil {
			return err
		}
		if codes, err = staff.EnableTOTP(ctx, tx, sess.TenantID, m.ID, sess.Data[enrollKey]); err != nil {
			return err
		}
		return audit.Record(ctx, tx, sess.TenantID, audit.Actor{Kind: "staff", ID: m.ID, Email: m.Email},
			audit.Entry{Action: "staff.totp_enabled", TargetType: "staff", TargetID: itoa(m.ID)})
	})
	if err != nil {
		s.renderError(c, err)
		return
	}
	if !s.openStaffSession(c, m, "") {
		return
	}
	s.render(c, http.StatusOK, "staff_enroll.html", enrollView{Page: s.staffPage(c, "Codes de secours", "compte"), Codes: codes})
}

// qrURL is a PNG we generated, as a data: URL the template may use.
func qrURL(png []byte) template.URL {
	return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png)) //nolint:gosec // our own PNG
}

// staffInvitationView is the data of the page an invitation link opens.
type staffInvitationView struct {
	Page
	Email         string
	MinLength     int
	PasswordError string
	ConfirmError  string
	Expired       bool
}

func (s *Server) staffInvitation(c *gin.Context) {
	ctx := c.Request.Context()
	t, _ := tenant.FromContext(ctx)
	v := staffInvitationView{Page: s.staffPage(c, "Invitation à la gestion du portail", ""), MinLength: s.opts.PasswordMinLength}
	var m staff.Member
	err := tenant.WithTx(ctx, s.db, t.ID, func(tx *sqlx.Tx) error {
		var err error
		m, err = staff.OpenToken(ctx, tx, t.ID, c.Param("token"), s.now())
		return err
	})
	if errors.Is(err, staff.ErrTokenInvalid) {
		v.Expired = true
		s.render(c, http.StatusGone, "staff_invitation.html", v)
		return
	}
	if err != nil {
		s.renderError(c, err)
		return
	}
	v.Email = m.Email
	if c.Request.Method == http.MethodGet {
		s.render(c, http.StatusOK, "staff_invitation.html", v)
		return
	}
	password := c.PostForm("password")
	if err := account.CheckNewPassword(password, c.PostForm("password_confirm"), s.opts.PasswordMinLength); err != nil {
		var pe *account.PasswordError
		errors.As(err, &pe)
		if pe.Field == "password" {
			v.PasswordError = pe.Message
		} else {
			v.ConfirmError = pe.Message
		}
		s.render(c, http.StatusUnprocessableEntity, "staff_invitation.html", v)
		return
	}
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		s.renderError(c, err)
		return
	}
	err = tenant.WithTx(ctx, s.db, t.ID, func(tx *sqlx.Tx) error {
		if _, err := staff.OpenToken(ctx, tx, t.ID, c.Param("token"), s.now()); err != nil {
			return err
		}
		if err := staff.SetPassword(ctx, tx, t.ID, m.ID, hash, s.now()); err != nil {
			return err
		}
		return audit.Record(ctx, tx, t.ID, audit.Actor{Kind: "staff", ID: m.ID, Email: m.Email},
			audit.Entry{Action: "staff.password_set", TargetType: "staff", TargetID: itoa(m.ID)})
	})
	if errors.Is(err, staff.ErrTokenInvalid) {
		v.Expired = true
		s.render(c, http.StatusGone, "staff_invitation.html", v)
		return
	}
	if err != nil {
		s.renderError(c, err)
		return
	}
	s.endStaffSessions(c, m.TenantID, m.ID)
	s.setFlash(c, flash{Code: "staff_password", Email: m.Email})
	c.Redirect(http.StatusSeeOther, "/gestion/connexion")
}

// endStaffSessions logs a member out everywhere (role changed, removed,
// TOTP reset, password changed).
func (s *Server) endStaffSessions(c *gin.Context, tid tenant.ID, id int64) {
	if err := s.sessions.DeleteAll(c.Request.Context(), session.Staff, tid, id, ""); err != nil {
		logger(c.Request.Context()).Error("end staff sessions", "staff", id, "err", err)
	}
}
