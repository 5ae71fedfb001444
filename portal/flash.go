package portal

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/gin-gonic/gin"
)

// A flash is a message shown once on the page after a redirect, with the
// address to fill in a form (after activation, the login form). It travels
// in a signed cookie, so nobody can make a page say something else.
const flashCookie = "regie_flash"

type flash struct {
	Code  string `json:"c,omitempty"`
	Msg   string `json:"m,omitempty"` // a message of its own (signed like the rest), when Code is empty
	Email string `json:"e,omitempty"`
}

// flashMessages are the only messages a flash can carry.
var flashMessages = map[string]string{
	"activated":      "Votre compte est activé. Vous pouvez vous connecter.",
	"password_reset": "Votre mot de passe a été changé. Vous pouvez vous connecter.",
	"logged_out":     "Vous êtes déconnecté.",
	"logged_out_all": "Toutes vos sessions ont été fermées.",
	"link_sent":      "",
	"password_saved": "Votre mot de passe a été changé.",
	"staff_password": "Votre mot de passe est enregistré : connectez-vous.",
	"notify_on":      "Vous serez prévenu par courriel des nouvelles factures.",
	"notify_off":     "Vous ne recevrez plus de courriel pour les nouvelles factures.",
}

func (s *Server) setFlash(c *gin.Context, f flash) {
	b, _ := json.Marshal(f)
	v := base64.RawURLEncoding.EncodeToString(b)
	s.setCookie(c, flashCookie, v+"."+s.sign("flash", v), 300)
}

// takeFlash reads and clears the flash of the request, if any.
func (s *Server) takeFlash(c *gin.Context) (flash, bool) {
	raw, err := c.Cookie(flashCookie)
	if err != nil || raw == "" {
		return flash{}, false
	}
	s.setCookie(c, flashCookie, "", -1)
	v, sig, ok := strings.Cut(raw, ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(s.sign("flash", v))) {
		return flash{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(v)
	var f flash
	if err != nil || json.Unmarshal(b, &f) != nil {
		return flash{}, false
	}
	if _, known := flashMessages[f.Code]; !known && f.Msg == "" {
		return flash{}, false
	}
	return f, true
}

// sign returns an HMAC of value for purpose under the platform's secret.
func (s *Server) sign(purpose, value string) string {
	m := hmac.New(sha256.New, s.opts.Secret)
	m.Write([]byte(purpose + "\x00" + value))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
