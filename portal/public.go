package portal

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/regie/regie/tenant"
)

// legalKind names one of the three pages every commune must publish.
type legalKind int

const (
	legalNotice legalKind = iota
	privacyNotice
	accessibilityStatement
)

// legalView is the data of a legal page: the commune's own text when it
// wrote one, else the template's default text filled with its details.
type legalView struct {
	Page
	Kind       legalKind
	Paragraphs []string
}

// IsLegalNotice and friends let the template choose the default text.
func (v legalView) IsLegalNotice() bool { return v.Kind == legalNotice }

// IsPrivacyNotice reports whether the page is the privacy notice.
func (v legalView) IsPrivacyNotice() bool { return v.Kind == privacyNotice }

func (s *Server) legalPage(kind legalKind) gin.HandlerFunc {
	titles := map[legalKind]string{
		legalNotice:            "Mentions légales",
		privacyNotice:          "Données personnelles",
		accessibilityStatement: "Accessibilité",
	}
	return func(c *gin.Context) {
		v := legalView{Page: s.page(c, titles[kind]), Kind: kind}
		t := v.Tenant
		text := map[legalKind]string{
			legalNotice:            t.LegalNotice,
			privacyNotice:          t.PrivacyNotice,
			accessibilityStatement: t.AccessibilityStatement,
		}[kind]
		v.Paragraphs = paragraphs(text)
		s.render(c, http.StatusOK, "legal.html", v)
	}
}

// paragraphs splits a text typed by a commune into paragraphs at blank
// lines; the template escapes each one.
func paragraphs(text string) []string {
	var out []string
	for _, p := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n\n") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// themeCSS serves the commune's accent colour as a style sheet, since the
// CSP forbids inline styles. Its URL carries the colour, so it is cached
// for a year.
func (s *Server) themeCSS(c *gin.Context) {
	t, _ := tenant.FromContext(c.Request.Context())
	c.Header("Cache-Control", "public, max-age=31536000, immutable")
	// AccentColor is validated as #rrggbb before it is stored.
	c.Data(http.StatusOK, "text/css; charset=utf-8", []byte(":root{--accent:"+t.AccentColor+"}\n"))
}

// findView is the data of the base host's "find your commune" page.
type findView struct {
	Page
	Query   string
	Results []communeLink
}

type communeLink struct {
	Name string
	URL  string
}

// findCommune lets a family that landed on the platform's own host find its
// commune's portal by name.
func (s *Server) findCommune(c *gin.Context) {
	ctx := c.Request.Context()
	v := findView{Page: s.page(c, "Trouver ma commune"), Query: strings.TrimSpace(c.Query("q"))}
	if r := []rune(v.Query); len(r) > 100 {
		v.Query = string(r[:100])
	}
	if v.Query != "" {
		ts, err := s.tenants.Search(ctx, v.Query, 20)
		if err != nil {
			s.renderError(c, err)
			return
		}
		for _, t := range ts {
			v.Results = append(v.Results, communeLink{Name: t.Name, URL: s.communeURL(t, "/")})
		}
	}
	s.render(c, http.StatusOK, "find.html", v)
}
