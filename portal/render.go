package portal

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/regie/regie/tenant"
)

//go:embed templates
var templateFS embed.FS

// Page is what every page template receives, embedded in the page's own
// struct. Templates get no per-request functions: everything that varies is
// data here.
type Page struct {
	Title      string         // the page's own title, before the site's name
	Tenant     *tenant.Tenant // nil on the platform's own hosts
	Platform   string         // URL of the base host
	CSRF       string         // the form token of this browser
	Account    string         // address of the logged-in family, if any
	Flash      string         // a message carried over a redirect
	FlashEmail string         // an address carried over a redirect
	Staff      *StaffNav      // the back office's menu, on /gestion/ pages
	Operator   string         // the logged-in operator, on the console
}

// StaffNav is what the back office's menu needs: who is logged in and what
// they may open.
type StaffNav struct {
	Email, Role                string
	Section                    string // the current menu entry
	Settings, Team, Audit, API bool
}

// Layout is the page's common data as the layout reads it ({{$p :=
// .Layout}}): text/template would find each promoted field of a view by a
// breadth-first search on every use. A method, so that a view (which embeds
// Page) and a bare Page both have it, and render can require it.
func (p Page) Layout() Page { return p }

// view is what render takes: a Page, or a struct that embeds one.
type view interface{ Layout() Page }

// SiteName is the second half of every title and the banner's heading.
func (p Page) SiteName() string {
	if p.Tenant != nil {
		return p.Tenant.Name + " — Le portail des factures"
	}
	return "Régie — Le portail des factures"
}

// views holds one parsed template set per page.
type views struct {
	pages map[string]*template.Template
}

func loadViews(st *staticFiles) (*views, error) {
	funcs := template.FuncMap{
		"static": st.URL,
		"paris":  parisAny,
	}
	pages, err := fs.Glob(templateFS, "templates/pages/*.html")
	if err != nil {
		return nil, err
	}
	v := &views{pages: map[string]*template.Template{}}
	for _, p := range pages {
		name := path.Base(p)
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS,
			"templates/layout/*.html", "templates/partials/*.html", p)
		if err != nil {
			return nil, fmt.Errorf("portal: template %s: %w", name, err)
		}
		v.pages[name] = t
	}
	return v, nil
}

// render executes a page into a buffer first, so that a failing template
// gives a clean 500 instead of half a page.
func (s *Server) render(c *gin.Context, status int, name string, data view) {
	t, ok := s.views.pages[name]
	if !ok {
		s.renderError(c, fmt.Errorf("portal: no page %q", name))
		return
	}
	buf := renderBuffers.Get().(*bytes.Buffer)
	defer putRenderBuffer(buf)
	if err := t.ExecuteTemplate(buf, "base", data); err != nil {
		if name == "error.html" {
			c.String(http.StatusInternalServerError, "Erreur interne du service. Veuillez réessayer plus tard.")
			return
		}
		s.renderError(c, fmt.Errorf("portal: render %s: %w", name, err))
		return
	}
	// pages carry personal data and form tokens: never store them
	c.Header("Cache-Control", "no-store")
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}

// renderBuffers keeps the pages' buffers from one request to the next:
// growing a new one to a page's size was the page's largest allocation.
var renderBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// putRenderBuffer gives buf back for another page, unless a very large page
// (a long staff list) grew it: that one is left to the collector.
func putRenderBuffer(buf *bytes.Buffer) {
	if buf.Cap() > 256<<10 {
		return
	}
	buf.Reset()
	renderBuffers.Put(buf)
}

// page returns the common page data of a request.
func (s *Server) page(c *gin.Context, title string) Page {
	ctx := c.Request.Context()
	p := Page{Title: title, Platform: s.opts.BaseURL.String()}
	if t, ok := tenant.FromContext(ctx); ok {
		p.Tenant = &t
	}
	if v, ok := ctx.Value(csrfKey{}).(string); ok {
		p.CSRF = s.csrfToken(v)
	}
	if sess, ok := familyFrom(c); ok {
		p.Account = sess.Email
	}
	if f, ok := s.takeFlash(c); ok {
		p.Flash, p.FlashEmail = flashMessages[f.Code], f.Email
		if f.Code == "" {
			p.Flash = f.Msg
		}
	}
	return p
}

// errorPage is the data of the generic error page.
type errorPage struct {
	Page
	Heading string
	Message string
}

// Errors a handler may return to renderError besides those of the domain
// packages.
var (
	errNotFound  = errors.New("portal: not found")
	errForbidden = errors.New("portal: forbidden")
	errTooLarge  = errors.New("portal: request body too large")
)

// tooLargeError is errTooLarge with what to tell the person.
type tooLargeError struct{ msg string }

func (e tooLargeError) Error() string { return "portal: request body too large: " + e.msg }
func (e tooLargeError) Unwrap() error { return errTooLarge }

func tooLarge(msg string) error { return tooLargeError{msg} }

// renderError is the one place that turns an error into a status and a safe
// French message. The full error goes to the log (at error level for 5xx,
// info for rejected input); never to the browser.
func (s *Server) renderError(c *gin.Context, err error) {
	ctx := c.Request.Context()
	status, heading, msg := http.StatusInternalServerError, "Erreur interne",
		"Le service a rencontré un problème. Veuillez réessayer dans quelques instants ; si le problème persiste, contactez votre mairie."
	switch {
	case errors.Is(err, errNotFound), errors.Is(err, tenant.ErrNotFound):
		status, heading, msg = http.StatusNotFound, "Page introuvable", "Cette page n'existe pas ou n'est plus disponible."
	case errors.Is(err, errForbidden):
		status, heading, msg = http.StatusForbidden, "Accès refusé", "Vous n'avez pas accès à cette page."
	case errors.Is(err, errTooLarge):
		status, heading, msg = http.StatusRequestEntityTooLarge, "Envoi trop volumineux",
			"Ce que vous avez envoyé dépasse la taille permise. Pour un fichier, vérifiez qu'il s'agit du bon et réduisez-le si besoin."
		var tl tooLargeError
		if errors.As(err, &tl) && tl.msg != "" {
			msg = tl.msg
		}
	case errors.Is(err, errCSRF):
		status, heading, msg = http.StatusForbidden, "Page expirée",
			"Cette page a expiré ou a été ouverte dans une autre session. Revenez en arrière, rechargez la page et recommencez."
	case unavailable(err):
		status, heading, msg = http.StatusServiceUnavailable, "Service momentanément indisponible",
			"Le portail ne peut pas répondre pour le moment. Vos données ne sont pas perdues : veuillez réessayer dans quelques minutes."
		c.Header("Retry-After", "60")
	}
	l := logger(ctx)
	if status >= 500 {
		l.Error("request failed", "err", err)
	} else {
		l.Info("request rejected", "status", status, "reason", err.Error())
	}
	c.Abort()
	if isAPI(c) {
		writeProblem(c, problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Code: apiCodes[status], Detail: msg})
		return
	}
	s.render(c, status, "error.html", errorPage{Page: s.page(c, heading), Heading: heading, Message: msg})
}

// apiCodes name, for the API, the errors renderError answers.
var apiCodes = map[int]string{
	http.StatusNotFound: "introuvable", http.StatusForbidden: "interdit", http.StatusRequestEntityTooLarge: "trop_volumineux",
	http.StatusServiceUnavailable: "indisponible", http.StatusInternalServerError: "erreur_interne",
}

// logger returns the request's logger (request id, commune), or the default.
func logger(ctx context.Context) *slog.Logger {
	return tenant.Logger(ctx, nil)
}

// parisAny formats a time.Time or *time.Time in Paris, for templates
// ({{paris .At}}); nil gives "".
func parisAny(v any) string {
	switch t := v.(type) {
	case time.Time:
		return parisTime(t)
	case *time.Time:
		if t != nil {
			return parisTime(*t)
		}
	}
	return ""
}
