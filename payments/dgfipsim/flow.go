package dgfipsim

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/regie/regie/tenant"
)

// The test cards (Luhn-valid, spaces ignored). Any other Luhn-valid number
// is refused too.
const (
	CardAccepted = "4242424242424242"
	CardRefused  = "4000000000000002"
)

// servePaymentPage is GET /tpa/paiementws.web?idop=: the one redirection an
// idOp allows, within RedirectWindow of its creation.
func (s *Server) servePaymentPage(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodHead {
		// A HEAD must not spend the one redirection.
		methodNotAllowed("GET, POST")(w, r)
		return
	}
	q := r.URL.Query()
	id := q.Get("idop")
	if id == "" {
		id = q.Get("idOp")
	}
	now := s.now()
	var p Payment
	var problem *pageError
	s.mu.Lock()
	pp, ok := s.payments[id]
	switch {
	case !ok || pp.Protocol != PayFiP || pp.purged(now):
		problem = pageUnknown
	default:
		pp.Redirects++
		switch {
		case !pp.Redirected.IsZero() || pp.ResultTrans != "":
			problem = pageUsed
		case now.Sub(pp.Created) > RedirectWindow:
			problem = pageExpired
		default:
			pp.Redirected = now
		}
		p = *pp
	}
	s.mu.Unlock()
	if problem != nil {
		s.log.Info("dgfipsim: page de paiement refusée", "idop", id, "code", problem.code)
		s.renderError(w, problem)
		return
	}
	s.stats.pages.Add(1)
	s.render(w, http.StatusOK, tmplChoice, choicePage{page: s.pageFor(p, headingChoice), ID: p.ID})
}

// serveStep is every POST of the payment pages (both protocols): the step
// travels in the hidden field etape, the operation in idop, the button in
// action.
func (s *Server) serveStep(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.renderError(w, pageBadRequest)
		return
	}
	f := r.PostForm
	now := s.now()
	p, ok := s.Payment(f.Get("idop"))
	switch {
	case !ok || p.purged(now):
		s.renderError(w, pageUnknown)
		return
	case p.Redirected.IsZero():
		s.renderError(w, pageBadRequest)
		return
	case p.final():
		s.renderError(w, pageFinished)
		return
	case !now.Before(p.Created.Add(SessionTimeout)):
		s.renderError(w, pageSession)
		return
	}
	if f.Get("action") == "annuler" {
		s.end(w, r, p.ID, "A")
		return
	}
	switch f.Get("etape") {
	case "choix":
		switch f.Get("moyen") {
		case "carte":
			s.render(w, http.StatusOK, tmplCard, s.cardPage(p, now))
		case "sepa":
			s.render(w, http.StatusOK, tmplSEPA, sepaPage{page: s.pageFor(p, headingSEPA), ID: p.ID})
		default:
			d := choicePage{page: s.pageFor(p, headingChoice), ID: p.ID, Error: "Choisissez un moyen de paiement."}
			d.Title = "Erreur : " + d.Title
			s.render(w, http.StatusUnprocessableEntity, tmplChoice, d)
		}
	case "carte":
		d := s.cardPage(p, now)
		result := checkCard(f, now, &d)
		if result == "" {
			d.Title = "Erreur : " + d.Title
			s.render(w, http.StatusUnprocessableEntity, tmplCard, d)
			return
		}
		s.end(w, r, p.ID, result)
	case "sepa":
		if !validIBAN(f.Get("iban")) {
			d := sepaPage{page: s.pageFor(p, headingSEPA), ID: p.ID, Error: "IBAN invalide"}
			d.Title = "Erreur : " + d.Title
			s.render(w, http.StatusUnprocessableEntity, tmplSEPA, d)
			return
		}
		s.end(w, r, p.ID, "V")
	default:
		s.renderError(w, pageBadRequest)
	}
}

// end records the payer's outcome and sends the browser on: back to
// urlredirect?idop= for PayFiP, to the final page for TIPI.
func (s *Server) end(w http.ResponseWriter, r *http.Request, id, result string) {
	p, err := s.finish(id, result, true)
	switch {
	case errors.Is(err, ErrNotFound):
		s.renderError(w, pageUnknown)
		return
	case errors.Is(err, ErrFinished):
		s.renderError(w, pageFinished)
		return
	case errors.Is(err, errSession):
		s.renderError(w, pageSession)
		return
	case err != nil:
		s.renderError(w, pageBadRequest)
		return
	}
	if p.Protocol == PayFiP {
		http.Redirect(w, r, withQuery(p.URLRedirect, "idop="+url.QueryEscape(p.ID)), http.StatusSeeOther)
		return
	}
	d := resultPage{NumAuto: p.NumAuto, ReturnURL: p.URLCl}
	amount := formatEuros(p.Amount)
	switch p.ResultTrans {
	case "P":
		d.page = s.pageFor(p, "Paiement accepté")
		d.Message = "Votre paiement de " + amount + " par carte bancaire a été accepté."
	case "V":
		d.page = s.pageFor(p, "Paiement accepté")
		d.Message = "Votre prélèvement SEPA unique de " + amount + " a été enregistré."
	case "R", "Z":
		d.page = s.pageFor(p, "Paiement refusé")
		d.Message = "Votre paiement a été refusé. Aucun montant n'a été débité."
	default:
		d.page = s.pageFor(p, "Paiement abandonné")
		d.Message = "Vous avez abandonné le paiement. Aucun montant n'a été débité."
	}
	s.render(w, http.StatusOK, tmplResult, d)
}

func (s *Server) cardPage(p Payment, now time.Time) cardPage {
	d := cardPage{page: s.pageFor(p, headingCard), ID: p.ID}
	for m := 1; m <= 12; m++ {
		d.Months = append(d.Months, twoDigits(m))
	}
	y := now.In(tenant.Paris).Year()
	for i := range 11 {
		d.Years = append(d.Years, strconv.Itoa(y+i))
	}
	return d
}

func twoDigits(n int) string {
	return string([]byte{byte('0' + n/10), byte('0' + n%10)})
}

// checkCard reads the card form. It returns the outcome (P for the accepted
// test card, R for any other valid number), or "" with the errors set in d.
func checkCard(f url.Values, now time.Time, d *cardPage) string {
	number, ok := digitsOnly(f.Get("numero"))
	if !ok || !luhn(number) {
		d.NumeroErr = "Numéro de carte invalide"
		d.Errors = append(d.Errors, fieldError{"numero", d.NumeroErr})
	}
	d.Month, d.Year = f.Get("mois"), f.Get("annee")
	month, errM := strconv.Atoi(d.Month)
	year, errY := strconv.Atoi(d.Year)
	if len(d.Year) == 2 {
		year += 2000
	}
	// A card is valid until the end of its month.
	if errM != nil || errY != nil || month < 1 || month > 12 ||
		!now.Before(time.Date(year, time.Month(month)+1, 1, 0, 0, 0, 0, tenant.Paris)) {
		d.ExpiryErr = "Date de fin de validité invalide ou dépassée"
		d.Errors = append(d.Errors, fieldError{"mois", d.ExpiryErr})
	}
	if !isDigits(f.Get("cryptogramme"), 3) {
		d.CryptoErr = "Cryptogramme visuel invalide : 3 chiffres attendus"
		d.Errors = append(d.Errors, fieldError{"cryptogramme", d.CryptoErr})
	}
	if len(d.Errors) > 0 {
		return ""
	}
	if number == CardAccepted {
		return "P"
	}
	return "R"
}
