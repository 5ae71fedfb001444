package portal

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/regie/regie/portal/session"
	"github.com/regie/regie/tenant"
)

// familyCookie holds a family's session token, on the commune's host only.
const familyCookie = "regie_session"

type familyKey struct{}
type sessionErrKey struct{}

// errUnavailable means a service the page needs (Redis) does not answer.
var errUnavailable = errors.New("portal: service unavailable")

// loadFamily puts the family session of the cookie on the context, when
// there is one for this commune. A session of another commune, or of
// another kind, is ignored: the visitor is simply not logged in here.
func (s *Server) loadFamily(c *gin.Context) {
	ctx := c.Request.Context()
	token, err := c.Cookie(familyCookie)
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
		if sess.Kind == session.Family && sess.TenantID == t.ID {
			withValue(c, familyKey{}, sess)
			setLogger(c, logger(ctx).With("account", sess.AccountID))
		}
	}
	c.Next()
}

// familyFrom returns the family session of the request.
func familyFrom(c *gin.Context) (session.Session, bool) {
	s, ok := c.Request.Context().Value(familyKey{}).(session.Session)
	return s, ok
}

// requireFamily sends a visitor who is not logged in to the login page, and
// back to this page after logging in.
func (s *Server) requireFamily(c *gin.Context) {
	if _, ok := familyFrom(c); ok {
		c.Next()
		return
	}
	if err, ok := c.Request.Context().Value(sessionErrKey{}).(error); ok {
		s.renderError(c, errors.Join(errUnavailable, err))
		return
	}
	c.Redirect(http.StatusSeeOther, "/?next="+url.QueryEscape(c.Request.URL.RequestURI()))
	c.Abort()
}

// safeNext returns next when it is a path on this host, else "". It refuses
// absolute and scheme-relative URLs, backslashes and control characters,
// which browsers may read as another host.
func safeNext(next string) string {
	if next == "" || len(next) > 2000 || !strings.HasPrefix(next, "/") ||
		strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\") {
		return ""
	}
	for _, r := range next {
		if r < 0x20 || r == 0x7f {
			return ""
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return ""
	}
	return u.RequestURI()
}
