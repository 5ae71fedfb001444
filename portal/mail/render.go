package mail

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"path"
	"strings"
	texttemplate "text/template"
)

//go:embed templates
var templateFS embed.FS

// Common is what every mail shows: the commune, its portal and whom to ask.
type Common struct {
	Commune   string // "Mairie de Démonstration"
	PortalURL string // the commune's portal, for the footer
	Contact   string // the commune's contact address, may be empty
}

// Rendered is a mail's subject and bodies.
type Rendered struct {
	Subject, Text, HTML string
}

type pair struct {
	text *texttemplate.Template
	html *htmltemplate.Template
}

var templates = mustParse()

// mustParse parses every mail at start-up (a test renders them all).
func mustParse() map[string]pair {
	out := map[string]pair{}
	names, err := fs.Glob(templateFS, "templates/*.txt")
	if err != nil {
		panic(err)
	}
	for _, n := range names {
		name := strings.TrimSuffix(path.Base(n), ".txt")
		if name == "layout" {
			continue
		}
		t := texttemplate.Must(texttemplate.New(name).ParseFS(templateFS, "templates/layout.txt", n))
		h := htmltemplate.Must(htmltemplate.New(name).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html"))
		out[name] = pair{t, h}
	}
	return out
}

// Render renders the mail called name with its data.
func Render(name string, data any) (Rendered, error) {
	p, ok := templates[name]
	if !ok {
		return Rendered{}, fmt.Errorf("mail: no template %q", name)
	}
	var subj, text, html bytes.Buffer
	if err := p.text.ExecuteTemplate(&subj, "subject", data); err != nil {
		return Rendered{}, fmt.Errorf("mail: %s subject: %w", name, err)
	}
	if err := p.text.ExecuteTemplate(&text, "text", data); err != nil {
		return Rendered{}, fmt.Errorf("mail: %s text: %w", name, err)
	}
	if err := p.html.ExecuteTemplate(&html, "html", data); err != nil {
		return Rendered{}, fmt.Errorf("mail: %s html: %w", name, err)
	}
	return Rendered{
		Subject: strings.Join(strings.Fields(subj.String()), " "),
		Text:    text.String(),
		HTML:    html.String(),
	}, nil
}

// Names lists the mail templates.
func Names() []string {
	var out []string
	for n := range templates {
		out = append(out, n)
	}
	return out
}
