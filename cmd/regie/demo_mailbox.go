package main

import (
	"encoding/json"
	"html/template"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/regie/regie/portal/mail/catcher"
	"github.com/regie/regie/tenant"
)

// demoMailbox serves the demo's caught mails on the base host, in front of
// the portal: /_demo/mails (a page) and /_demo/mails.json. It exists only
// in `regie demo`.
func demoMailbox(next http.Handler, baseHost string, box *catcher.Catcher) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tenant.ParseHost(r.Host, baseHost).Kind != tenant.HostBase || !strings.HasPrefix(r.URL.Path, "/_demo/") {
			next.ServeHTTP(w, r)
			return
		}
		msgs := box.Messages()
		slices.Reverse(msgs) // newest first
		w.Header().Set("Cache-Control", "no-store")
		switch r.URL.Path {
		case "/_demo/mails.json":
			type item struct {
				To      []string  `json:"to"`
				Subject string    `json:"subject"`
				Text    string    `json:"text"`
				HTML    string    `json:"html"`
				At      time.Time `json:"at"`
			}
			out := make([]item, 0, len(msgs))
			for _, m := range msgs {
				out = append(out, item{m.To, m.Subject, m.Text, m.HTML, m.At})
			}
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(out) //nolint:errcheck
		case "/_demo/mails":
			type view struct {
				catcher.Message
				When  string
				Links []string
			}
			var vs []view
			for _, m := range msgs {
				vs = append(vs, view{m, m.At.In(tenant.Paris).Format("02/01/2006 15:04:05"), linkRe.FindAllString(m.Text, -1)})
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			mailboxPage.Execute(w, vs) //nolint:errcheck
		default:
			http.NotFound(w, r)
		}
	})
}

var linkRe = regexp.MustCompile(`https?://[^\s<>"]+`)

var mailboxPage = template.Must(template.New("mails").Parse(`<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Courriels de la démo — Régie</title></head>
<body style="font-family:system-ui,sans-serif;max-width:60rem;margin:0 auto;padding:1rem">
<h1>Courriels envoyés par la démo</h1>
<p>Les courriels que Régie envoie pendant la démo arrivent ici (aucun ne part vraiment). Rechargez la page pour voir les nouveaux.</p>
{{range .}}
<article style="border:1px solid #ccc;border-radius:6px;padding:1rem;margin:1rem 0">
<h2 style="font-size:1.1rem;margin:0">{{.Subject}}</h2>
<p style="margin:.25rem 0;color:#555">À {{range .To}}{{.}} {{end}}— {{.When}}</p>
{{with .Links}}<p>Liens : {{range .}}<a href="{{.}}">{{.}}</a> {{end}}</p>{{end}}
<pre style="white-space:pre-wrap">{{.Text}}</pre>
</article>
{{else}}
<p>Aucun courriel pour le moment.</p>
{{end}}
</body></html>`))
