package portal

import (
	"errors"

	"github.com/gin-gonic/gin"

	"github.com/regie/regie/portal/account"
)

// newPassword is the part of a form where a password is chosen and typed
// again (partial "new-password"): on the link pages of families and staff,
// and on both "Mon compte" pages. Its labels say whose password it is.
type newPassword struct {
	Label, ConfirmLabel         string
	MinLength                   int
	PasswordError, ConfirmError string // French, "" when right
}

func (s *Server) newPassword(label, confirmLabel string) newPassword {
	return newPassword{Label: label, ConfirmLabel: confirmLabel, MinLength: s.opts.PasswordMinLength}
}

// read returns the form's new password, or false with the message of the
// field at fault set.
func (p *newPassword) read(c *gin.Context) (string, bool) {
	password := c.PostForm("password")
	err := account.CheckNewPassword(password, c.PostForm("password_confirm"), p.MinLength)
	var pe *account.PasswordError
	switch {
	case !errors.As(err, &pe):
		return password, true
	case pe.Field == "password":
		p.PasswordError = pe.Message
	default:
		p.ConfirmError = pe.Message
	}
	return "", false
}

// passwordChange is the "Changer mon mot de passe" form of the account
// pages (partial "password-change"): the current password, then a new one.
type passwordChange struct {
	Action       string // where the form posts
	Username     string // for password managers
	CurrentError string
	New          newPassword
}

func (s *Server) passwordChange(action, username string) passwordChange {
	return passwordChange{Action: action, Username: username,
		New: s.newPassword("Nouveau mot de passe", "Confirmer le nouveau mot de passe")}
}

// readPasswordChange checks the current password against hash and the new
// one, and returns the new one; false with the messages set when either is
// wrong.
func (s *Server) readPasswordChange(c *gin.Context, f *passwordChange, hash string) (string, bool) {
	if ok, err := s.hasher.Verify(c.Request.Context(), c.PostForm("current_password"), hash); err != nil || !ok {
		f.CurrentError = "Le mot de passe actuel est incorrect."
		return "", false
	}
	return f.New.read(c)
}
