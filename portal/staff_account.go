package portal

import (
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/portal/audit"
	"github.com/regie/regie/portal/staff"
	"github.com/regie/regie/tenant"
)

// staffAccountView is the data of a staff member's own account page.
type staffAccountView struct {
	Page
	Member    staff.Member
	RoleLabel string
	Recovery  int // recovery codes left
	Password  passwordChange
}

func (s *Server) staffAccountData(c *gin.Context) (staffAccountView, error) {
	ctx := c.Request.Context()
	sess, _ := staffFrom(c)
	v := staffAccountView{Page: s.staffPage(c, "Mon compte", "compte")}
	err := s.inStaffTx(c, func(tx *sqlx.Tx) error {
		var err error
		v.Member, err = staff.ByID(ctx, tx, sess.TenantID, sess.AccountID)
		return err
	})
	v.RoleLabel, v.Recovery = v.Member.Role.Label(), len(v.Member.RecoveryCodes)
	v.Password = s.passwordChange("/gestion/compte/mot-de-passe", v.Member.Email)
	return v, err
}

// staffAccountPage shows the member's account: password, second factor.
func (s *Server) staffAccountPage(c *gin.Context) {
	v, err := s.staffAccountData(c)
	if err != nil {
		s.renderError(c, err)
		return
	}
	s.render(c, http.StatusOK, "staff_account.html", v)
}

// staffChangePassword asks for the current password, then ends the
// member's other sessions.
func (s *Server) staffChangePassword(c *gin.Context) {
	ctx := c.Request.Context()
	sess, _ := staffFrom(c)
	v, err := s.staffAccountData(c)
	if err != nil {
		s.renderError(c, err)
		return
	}
	password, ok := s.readPasswordChange(c, &v.Password, v.Member.PasswordHash)
	if !ok {
		s.render(c, http.StatusUnprocessableEntity, "staff_account.html", v)
		return
	}
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		s.renderError(c, err)
		return
	}
	err = s.inStaffTx(c, func(tx *sqlx.Tx) error {
		if err := staff.SetPassword(ctx, tx, sess.TenantID, sess.AccountID, hash, s.now()); err != nil {
			return err
		}
		return audit.Record(ctx, tx, sess.TenantID, actor(c), audit.Entry{Action: "staff.password_changed", TargetType: "staff", TargetID: itoa(sess.AccountID)})
	})
	if err != nil {
		s.renderError(c, err)
		return
	}
	if err := s.sessions.DeleteAll(ctx, sess.Kind, sess.TenantID, sess.AccountID, sess.Hash); err != nil {
		logger(ctx).Error("end other staff sessions", "err", err)
	}
	s.setFlash(c, flash{Code: "password_saved"})
	c.Redirect(http.StatusSeeOther, "/gestion/compte")
}

// inStaffTx runs fn in a transaction of the staff member's commune.
func (s *Server) inStaffTx(c *gin.Context, fn func(tx *sqlx.Tx) error) error {
	sess, _ := staffFrom(c)
	return tenant.WithTx(c.Request.Context(), s.db, sess.TenantID, fn)
}
