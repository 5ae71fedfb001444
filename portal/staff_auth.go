package portal

import (
	"context"
	"errors"

	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/portal/audit"
	"github.com/regie/regie/portal/session"
	"github.com/regie/regie/portal/staff"
	"github.com/regie/regie/tenant"
)

// staffRealm is the town hall's staff: sessions under /gestion on the
// commune's host, never mixed with families' (staffCookie).
var staffRealm = realm{
	kind:   session.Staff,
	cookie: "regie_staff",
	prefix: "/gestion",
	store:  func(s *Server, c *gin.Context) credentials { return staffCredentials{s: s, c: c} },
	issuer: func(c *gin.Context) string {
		t, _ := tenant.FromContext(c.Request.Context())
		return "Régie " + t.Name
	},
}

// staffCredentials is the staff of the request's commune.
type staffCredentials struct {
	s *Server
	c *gin.Context
}

func (sc staffCredentials) tx(ctx context.Context, fn func(tx *sqlx.Tx, tid tenant.ID) error) error {
	t, _ := tenant.FromContext(ctx)
	return tenant.WithTx(ctx, sc.s.db, t.ID, func(tx *sqlx.Tx) error { return fn(tx, t.ID) })
}

func memberCredential(m staff.Member) credential {
	return credential{ID: m.ID, Email: m.Email, PasswordHash: m.PasswordHash, SealedSecret: m.TOTPSecret,
		TOTPEnabled: m.TOTPEnabled, TOTPRequired: m.Role.TOTPRequired(), Active: m.Active(),
		Data: map[string]string{"role": string(m.Role)}}
}

func (sc staffCredentials) byEmail(ctx context.Context, email string) (credential, error) {
	var cr credential
	err := sc.tx(ctx, func(tx *sqlx.Tx, tid tenant.ID) error {
		m, err := staff.ByEmail(ctx, tx, tid, email)
		cr = memberCredential(m)
		return err
	})
	if errors.Is(err, staff.ErrNotFound) {
		return cr, errNotFound
	}
	return cr, err
}

func (sc staffCredentials) byID(ctx context.Context, id int64) (credential, error) {
	var cr credential
	err := sc.tx(ctx, func(tx *sqlx.Tx, tid tenant.ID) error {
		m, err := staff.ByID(ctx, tx, tid, id)
		cr = memberCredential(m)
		return err
	})
	return cr, err
}

func (sc staffCredentials) useRecoveryCode(ctx context.Context, cr credential, code string) (bool, error) {
	var ok bool
	err := sc.tx(ctx, func(tx *sqlx.Tx, tid tenant.ID) error {
		var err error
		if ok, err = staff.UseRecoveryCode(ctx, tx, tid, cr.ID, code); err != nil || !ok {
			return err
		}
		return audit.Record(ctx, tx, tid, audit.Actor{Kind: "staff", ID: cr.ID, Email: cr.Email},
			audit.Entry{Action: "staff.recovery_code_used", TargetType: "staff", TargetID: itoa(cr.ID)})
	})
	return ok, err
}

func (sc staffCredentials) enableTOTP(ctx context.Context, cr credential, sealed string) ([]string, error) {
	var codes []string
	err := sc.tx(ctx, func(tx *sqlx.Tx, tid tenant.ID) error {
		var err error
		if codes, err = staff.EnableTOTP(ctx, tx, tid, cr.ID, sealed); err != nil {
			return err
		}
		return audit.Record(ctx, tx, tid, audit.Actor{Kind: "staff", ID: cr.ID, Email: cr.Email},
			audit.Entry{Action: "staff.totp_enabled", TargetType: "staff", TargetID: itoa(cr.ID)})
	})
	return codes, err
}

func (sc staffCredentials) recordLogin(ctx context.Context, cr credential) error {
	return sc.tx(ctx, func(tx *sqlx.Tx, tid tenant.ID) error {
		return staff.RecordLogin(ctx, tx, tid, cr.ID, sc.s.now())
	})
}

func (sc staffCredentials) openLink(ctx context.Context, raw string) (credential, error) {
	var cr credential
	err := sc.tx(ctx, func(tx *sqlx.Tx, tid tenant.ID) error {
		m, err := staff.OpenToken(ctx, tx, tid, raw, sc.s.now())
		cr = memberCredential(m)
		return err
	})
	if errors.Is(err, staff.ErrTokenInvalid) {
		return cr, errLinkInvalid
	}
	return cr, err
}

func (sc staffCredentials) setPassword(ctx context.Context, cr credential, raw, hash string) error {
	err := sc.tx(ctx, func(tx *sqlx.Tx, tid tenant.ID) error {
		if _, err := staff.OpenToken(ctx, tx, tid, raw, sc.s.now()); err != nil {
			return err
		}
		if err := staff.SetPassword(ctx, tx, tid, cr.ID, hash, sc.s.now()); err != nil {
			return err
		}
		return audit.Record(ctx, tx, tid, audit.Actor{Kind: "staff", ID: cr.ID, Email: cr.Email},
			audit.Entry{Action: "staff.password_set", TargetType: "staff", TargetID: itoa(cr.ID)})
	})
	if errors.Is(err, staff.ErrTokenInvalid) {
		return errLinkInvalid
	}
	return err
}

func (sc staffCredentials) sessionTenant(c *gin.Context) tenant.ID {
	t, _ := tenant.FromContext(c.Request.Context())
	return t.ID
}

func staffFrom(c *gin.Context) (session.Session, bool) { return realmSession(c, staffRealm) }

// staffRole is the role the session was opened with (sessions end when a
// role changes).
func staffRole(sess session.Session) staff.Role { return staff.Role(sess.Data["role"]) }

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
			Settings: r.Can(staff.PermSettings), Team: r.Can(staff.PermTeam), Audit: r.Can(staff.PermAuditTrail),
			API: r.Can(staff.PermAPIKeys)}
	}
	return p
}

// actor is who a staff request acts as, for the audit log.
func actor(c *gin.Context) audit.Actor {
	sess, _ := staffFrom(c)
	return audit.Actor{Kind: "staff", ID: sess.AccountID, Email: sess.Email}
}

// endStaffSessions logs a member out everywhere (role changed, removed,
// TOTP reset, password changed).
func (s *Server) endStaffSessions(c *gin.Context, tid tenant.ID, id int64) {
	if err := s.sessions.DeleteAll(c.Request.Context(), session.Staff, tid, id, ""); err != nil {
		logger(c.Request.Context()).Error("end staff sessions", "staff", id, "err", err)
	}
}
