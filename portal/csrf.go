package portal

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"

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
		if err := parseForm(c.Request); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				_, msg := s.bodyLimit(c.Request)
				s.renderError(c, tooLarge(msg))
				return
			}
			// a malformed body: the token check below refuses it
		}
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

// parseForm reads a POST's form (multipart ones with up to 8 MB in
// memory, the rest in temporary files that limitBody removes).
func parseForm(r *http.Request) error {
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		return r.ParseMultipartForm(8 << 20)
	}
	return r.ParseForm()
}

// limitBody bounds every request body before anything reads it (the CSRF
// check reads forms first): 1 MiB, or an upload's own limit; a declared
// length above it is refused at once. It removes the temporary files of a
// parsed multipart form when the request ends: middleware replaces
// c.Request by copies, and the server only cleans up the request it made.
func (s *Server) limitBody(c *gin.Context) {
	limit, msg := s.bodyLimit(c.Request)
	if c.Request.ContentLength > limit {
		s.renderError(c, tooLarge(msg))
		return
	}
	if c.Request.Body != nil {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
	}
	c.Next()
	if f := c.Request.MultipartForm; f != nil {
		f.RemoveAll() //nolint:errcheck // temporary files
	}
}

// bodyLimit is the largest body a request may send, and what to say when
// it sends more ("" for the general message).
func (s *Server) bodyLimit(r *http.Request) (int64, string) {
	if r.Method != http.MethodPost {
		return 1 << 20, ""
	}
	switch r.URL.Path {
	case "/api/v1/factures":
		return maxAPIBody, fmt.Sprintf("Le corps de la requête dépasse %d Mo : découpez l'envoi.", maxAPIBody>>20)
	case "/gestion/import":
		return s.uploads.max(), fmt.Sprintf("Les fichiers envoyés sont trop gros : %s au plus pour le CSV et %s pour le ZIP.",
			importSize(s.uploads.csv.Load()), importSize(s.uploads.zip.Load()))
	case "/gestion/parametres/logo":
		return maxLogoBody, fmt.Sprintf("Ce fichier est trop lourd : le logo doit peser %d Ko au plus.", maxLogoBytes>>10)
	}
	return 1 << 20, ""
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
