package dgfipsim

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
	"strconv"
	"strings"
)

//go:embed templates/*.html
var templateFS embed.FS

// One template set per page, parsed once; their data is typed below.
var (
	tmplChoice = mustPage("choice.html")
	tmplCard   = mustPage("card.html")
	tmplSEPA   = mustPage("sepa.html")
	tmplResult = mustPage("result.html")
	tmplError  = mustPage("error.html")
)

func mustPage(name string) *template.Template {
	return template.Must(template.New(name).ParseFS(templateFS, "templates/layout.html", "templates/"+name))
}

// Page headings, also the pages' titles (prefixed "Erreur : " when a form
// comes back with errors).
const (
	headingChoice = "Choisissez votre moyen de paiement"
	headingCard   = "Paiement par carte bancaire"
	headingSEPA   = "Paiement par prélèvement SEPA unique"
)

type page struct {
	Title   string
	Heading string
	Test    bool     // saisie T: the test banner
	Summary *summary // nil on error pages
}

type summary struct {
	Creditor string // the numcli's label
	RefDet   string
	Objet    string
	Amount   string // 37,50 €
}

type choicePage struct {
	page
	ID    string
	Error string
}

type fieldError struct {
	Field   string // id of the input, for the summary's links
	Message string
}

type cardPage struct {
	page
	ID                              string
	Errors                          []fieldError
	NumeroErr, ExpiryErr, CryptoErr string
	Month, Year                     string // kept after an error
	Months, Years                   []string
}

type sepaPage struct {
	page
	ID    string
	Error string
}

type resultPage struct {
	page
	Message   string
	NumAuto   string
	ReturnURL string
}

type errorPage struct {
	page
	Message  string
	Problems []string
	Code     string // DGFiP's code for the situation, when it has one
}

// pageError is a situation that ends on an error page.
type pageError struct {
	status           int
	heading, message string
	code             string
}

var (
	pageUnknown = &pageError{http.StatusNotFound, "Opération de paiement inconnue",
		"Cette opération de paiement n'existe pas ou n'est plus disponible. Retournez sur le site de votre collectivité pour recommencer.", "P1"}
	pageUsed = &pageError{http.StatusGone, "Opération de paiement déjà utilisée",
		"Cette opération de paiement a déjà été utilisée. Retournez sur le site de votre collectivité pour en commencer une nouvelle.", "P3"}
	pageExpired = &pageError{http.StatusGone, "Opération de paiement expirée",
		"Cette opération de paiement a été créée il y a plus de 15 minutes. Retournez sur le site de votre collectivité pour en commencer une nouvelle.", "P4"}
	pageSession = &pageError{http.StatusGone, "Session de paiement expirée",
		"Votre session de paiement a expiré. Aucun montant n'a été débité. Retournez sur le site de votre collectivité pour recommencer.", ""}
	pageFinished = &pageError{http.StatusConflict, "Paiement déjà terminé",
		"Ce paiement est déjà terminé ; rien n'a été débité une seconde fois. Retournez sur le site de votre collectivité.", ""}
	pageBadRequest = &pageError{http.StatusBadRequest, "Demande de paiement invalide",
		"La demande reçue est incomplète ou mal formée.", ""}
	pageNotFound = &pageError{http.StatusNotFound, "Page introuvable",
		"Cette adresse ne correspond à aucune page du service de paiement.", ""}
)

func (s *Server) pageFor(p Payment, heading string) page {
	return page{
		Title:   heading,
		Heading: heading,
		Test:    p.Saisie == "T",
		Summary: &summary{
			Creditor: s.clients[p.NumCli],
			RefDet:   p.RefDet,
			Objet:    p.Objet,
			Amount:   formatEuros(p.Amount),
		},
	}
}

// render writes a page through a buffer, so that a failed render is a clean
// 500.
func (s *Server) render(w http.ResponseWriter, status int, t *template.Template, data any) {
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		s.log.Error("dgfipsim: page", "template", t.Name(), "err", err)
		http.Error(w, "Erreur interne du simulateur.", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (s *Server) renderError(w http.ResponseWriter, e *pageError, problems ...string) {
	s.render(w, e.status, tmplError, errorPage{
		page:     page{Title: e.heading, Heading: e.heading},
		Message:  e.message,
		Problems: problems,
		Code:     e.code,
	})
}

func (s *Server) serveNotFound(w http.ResponseWriter, r *http.Request) {
	s.renderError(w, pageNotFound)
}

// formatEuros writes cents the French way: 37,50 € and 1 739,88 €, with
// no-break spaces.
func formatEuros(cents int64) string {
	units := strconv.FormatInt(cents/100, 10)
	var b strings.Builder
	for i, r := range units {
		if i > 0 && (len(units)-i)%3 == 0 {
			b.WriteString("\u00a0")
		}
		b.WriteRune(r)
	}
	c := cents % 100
	b.WriteByte(',')
	b.WriteByte(byte('0' + c/10))
	b.WriteByte(byte('0' + c%10))
	b.WriteString("\u00a0€")
	return b.String()
}
