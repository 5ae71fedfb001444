package dgfipsim

import (
	"net/http"
	"net/url"
)

var pageTIPIInvalid = &pageError{http.StatusBadRequest, "Demande de paiement invalide",
	"La collectivité a transmis une demande de paiement incorrecte :", ""}

// serveTIPI is the legacy URL protocol: GET query or POSTed form to
// /tpa/paiement.web. A valid request opens the payment pages at once; at
// the end, the result goes to urlcl in the background and the browser sees
// a final page with a link back to urlcl.
func (s *Server) serveTIPI(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodHead {
		methodNotAllowed("GET, POST")(w, r)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.renderError(w, pageBadRequest)
		return
	}
	p, problems := s.tipiRequest(r.Form)
	if len(problems) > 0 {
		s.log.Info("dgfipsim: demande TIPI refusée", "problems", problems)
		s.renderError(w, pageTIPIInvalid, problems...)
		return
	}
	now := s.now()
	p.Created, p.Redirected, p.Redirects = now, now, 1
	p.ID = s.add(p)
	s.render(w, http.StatusOK, tmplChoice, choicePage{page: s.pageFor(p, headingChoice), ID: p.ID})
}

// tipiRequest checks the lowercase parameters of the URL protocol and
// returns every problem, in French.
func (s *Server) tipiRequest(f url.Values) (Payment, []string) {
	p := Payment{
		Protocol: TIPI,
		NumCli:   f.Get("numcli"),
		Exer:     f.Get("exer"),
		RefDet:   f.Get("refdet"),
		Mel:      f.Get("mel"),
		Objet:    f.Get("objet"),
		Saisie:   f.Get("saisie"),
		URLCl:    f.Get("urlcl"),
	}
	var problems []string
	if !isDigits(p.NumCli, 6) {
		problems = append(problems, "Le numéro de client (numcli) doit comporter 6 chiffres.")
	} else if _, ok := s.clients[p.NumCli]; !ok {
		problems = append(problems, "Le numéro de client (numcli) "+p.NumCli+" n'est pas connu.")
	}
	if !isDigits(p.Exer, 4) {
		problems = append(problems, "L'exercice (exer) doit être une année sur 4 chiffres.")
	}
	if !validRefDet(p.RefDet) {
		problems = append(problems, "La référence (refdet) doit comporter de 6 à 30 lettres ou chiffres.")
	}
	amount, ok := parseAmount(f.Get("montant"))
	if !ok || amount < minAmount || amount > maxAmountTIPI {
		problems = append(problems, "Le montant (montant) doit être un nombre entier de centimes, de 100 (1,00 €) à 999999 (9 999,99 €).")
	}
	p.Amount = amount
	// The payer's address is optional in TIPI; when given it must be one.
	if p.Mel != "" && !validMel(p.Mel) {
		problems = append(problems, "L'adresse électronique (mel) est incorrecte.")
	}
	if !validObjetTIPI(p.Objet) {
		problems = append(problems, "L'objet (objet) doit faire 100 caractères au plus, sans caractère de contrôle.")
	}
	switch p.Saisie {
	case "T", "X", "M", "A":
	default:
		problems = append(problems, "Le mode de saisie (saisie) doit valoir T, X, M ou A.")
	}
	if !validURL(p.URLCl) {
		problems = append(problems, "L'adresse de retour (urlcl) doit être une URL http ou https complète.")
	}
	return p, problems
}
