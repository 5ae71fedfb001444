package portal

import (
	"context"
	"errors"

	"github.com/gin-gonic/gin"

	"github.com/regie/regie/portal/operator"
	"github.com/regie/regie/portal/session"
	"github.com/regie/regie/tenant"
)

// operatorRealm is the platform's operators, on admin.<base>; TOTP is
// mandatory for every one of them.
var operatorRealm = realm{
	kind:   session.Operator,
	cookie: "regie_admin",
	prefix: "",
	store:  func(s *Server, _ *gin.Context) credentials { return operatorCredentials{s: s} },
	issuer: func(*gin.Context) string { return "Régie (opérateurs)" },
}

type operatorCredentials struct{ s *Server }

func operatorCredential(o operator.Operator) credential {
	return credential{ID: o.ID, Email: o.Email, PasswordHash: o.PasswordHash, SealedSecret: o.TOTPSecret,
		TOTPEnabled: o.TOTPEnabled, TOTPRequired: true, Active: o.Active()}
}

func (oc operatorCredentials) byEmail(ctx context.Context, email string) (credential, error) {
	o, err := operator.ByEmail(ctx, oc.s.db, email)
	if errors.Is(err, operator.ErrNotFound) {
		return credential{}, errNotFound
	}
	return operatorCredential(o), err
}

func (oc operatorCredentials) byID(ctx context.Context, id int64) (credential, error) {
	o, err := operator.ByID(ctx, oc.s.db, id)
	return operatorCredential(o), err
}

func (oc operatorCredentials) useRecoveryCode(ctx context.Context, cr credential, code string) (bool, error) {
	ok, err := operator.UseRecoveryCode(ctx, oc.s.db, cr.ID, code)
	if err != nil || !ok {
		return ok, err
	}
	return true, operator.Audit(ctx, oc.s.db, operator.Operator{ID: cr.ID, Email: cr.Email}, "recovery_code_used", 0, cr.Email, nil, nil)
}

func (oc operatorCredentials) enableTOTP(ctx context.Context, cr credential, sealed string) ([]string, error) {
	codes, err := operator.EnableTOTP(ctx, oc.s.db, cr.ID, sealed)
	if err != nil {
		return nil, err
	}
	return codes, operator.Audit(ctx, oc.s.db, operator.Operator{ID: cr.ID, Email: cr.Email}, "totp_enabled", 0, cr.Email, nil, nil)
}

func (oc operatorCredentials) recordLogin(ctx context.Context, cr credential) error {
	return operator.RecordLogin(ctx, oc.s.db, cr.ID, oc.s.now())
}

func (operatorCredentials) sessionTenant(*gin.Context) tenant.ID { return 0 }

func (oc operatorCredentials) openLink(ctx context.Context, raw string) (credential, error) {
	o, err := operator.OpenToken(ctx, oc.s.db, raw, oc.s.now())
	if errors.Is(err, operator.ErrTokenInvalid) || errors.Is(err, operator.ErrNotFound) {
		return credential{}, errLinkInvalid
	}
	return operatorCredential(o), err
}

func (oc operatorCredentials) setPassword(ctx context.Context, cr credential, raw, hash string) error {
	if _, err := oc.openLink(ctx, raw); err != nil {
		return err
	}
	if err := operator.Activate(ctx, oc.s.db, cr.ID, hash, oc.s.now()); err != nil {
		return err
	}
	return operator.Audit(ctx, oc.s.db, operator.Operator{ID: cr.ID, Email: cr.Email}, "activated", 0, cr.Email, nil, nil)
}

// operatorFrom returns the logged-in operator of the request.
func operatorFrom(c *gin.Context) (operator.Operator, bool) {
	sess, ok := realmSession(c, operatorRealm)
	if !ok || sess.Data[stageKey] != "" {
		return operator.Operator{}, false
	}
	return operator.Operator{ID: sess.AccountID, Email: sess.Email}, true
}

// adminPage is the page data of the console.
func (s *Server) adminPage(c *gin.Context, title string) Page {
	p := s.page(c, title)
	if o, ok := operatorFrom(c); ok {
		p.Operator = o.Email
	}
	return p
}
