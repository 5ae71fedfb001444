package portal

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"
)

// CSRF protection: every POST form carries csrf_token, an HMAC of the
// browser's regie_csrf cookie (a random value, HttpOnly, SameSite=Lax). The
// cookie is replaced at every login and logout, so a token is tied to the
// session it was issued in, or to the visit before any session.
const csrfCookie = "regie_csrf"

type csrfKey struct{}

// errCSRF is a POST without the right token.
var errCSRF = errors.New("portal: missing or wrong CSRF token")

// csrf makes sure the browser has a CSRF cookie and checks the token of
// every POST.
func (s *Server) csrf(c *gin.Context) {
	val, err := c.Cookie(csrfCookie)
	if err != nil || len(val) < 20 {
		val = s.newCSRFCookie(c)
	}
	withValue(c, csrfKey{}, val)
	if c.Request.Method == http.MethodPost {
		got := c.Request.Header.Get("X-CSRF-Token")
		if got == "" {
			got = c.PostForm("csrf_token")
		}
		if !hmac.Equal([]byte(got), []byte(s.csrfToken(val))) {
			s.renderError(c, errCSRF)
			return
		}
	}
	c.Next()
}

// newCSRFCookie sets a fresh CSRF cookie and returns its value.
func (s *Server) newCSRFCookie(c *gin.Context) string {
	b := make([]byte, 24)
	rand.Read(b)
	val := base64.RawURLEncoding.EncodeToString(b)
	s.setCookie(c, csrfCookie, val, 0)
	withValue(c, csrfKey{}, val)
	return val
}

// csrfToken is the form token of a cookie value.
func (s *Server) csrfToken(cookie string) string {
	m := hmac.New(sha256.New, s.opts.Secret)
	m.Write([]byte("csrf\x00" + cookie))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// setCookie sets a host-only, HttpOnly, SameSite=Lax cookie, Secure when the
// platform is served over https. maxAge 0 makes a browser-session cookie; a
// negative one deletes the cookie.
func (s *Server) setCookie(c *gin.Context, name, value string, maxAge int) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   s.opts.BaseURL.Scheme == "https",
		SameSite: http.SameSiteLaxMode,
	})
}
