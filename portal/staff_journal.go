package portal

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/payments"
	"github.com/regie/regie/tenant"
)

// journalPerPage is the length of a page of the journal.
const journalPerPage = 50

// journalForm is the journal's filter form as typed (a GET form: the
// filters live in the URL, so a filtered page can be bookmarked).
type journalForm struct {
	Du, Au string // days, inclusive, YYYY-MM-DD
	Statut string // an attempt status, "applique" or "anomalie"
	Mode   string // "test" or "reel"
	Canal  string // "en-ligne" or "guichet"
}

// The values of the journal's selects.
const (
	stateApplied = "applique"
	stateAnomaly = "anomalie"
	modeReal     = "reel"
	modeTest     = "test"
	canalOnline  = "en-ligne"
	canalCounter = "guichet"
)

// attemptState is an attempt's status as the journal names and colours it.
type attemptState struct {
	Status payments.Status
	Label  string
	Class  string // of the status badge
}

// attemptStates are the attempts' statuses in the order the form lists
// them.
var attemptStates = []attemptState{
	{payments.Created, "Créée", "pending"}, {payments.Pending, "En attente", "pending"}, {payments.Paid, "Payée", "paid"},
	{payments.Refused, "Refusée", "late"}, {payments.Abandoned, "Abandonnée", "cancelled"},
	{payments.Expired, "Expirée", "cancelled"}, {payments.Failed, "Erreur", "late"},
}

// journalFilter is what a valid form selects.
type journalFilter struct {
	payments.JournalFilter
	Empty bool // a selection no money received can match (for the export)
}

// readJournalForm reads the filters of the request's URL and checks them:
// it returns the form (valid dates rewritten as YYYY-MM-DD, as date fields
// want them), the filter, and French errors by field.
func readJournalForm(c *gin.Context) (journalForm, journalFilter, map[string]string) {
	f := journalForm{Du: strings.TrimSpace(c.Query("du")), Au: strings.TrimSpace(c.Query("au")),
		Statut: c.Query("statut"), Mode: c.Query("mode"), Canal: c.Query("canal")}
	var out journalFilter
	errs := map[string]string{}
	day := func(field string, v *string) *time.Time {
		if *v == "" {
			return nil
		}
		d, err := time.ParseInLocation(time.DateOnly, *v, tenant.Paris)
		if err != nil {
			if d, err = time.ParseInLocation("02/01/2006", *v, tenant.Paris); err != nil {
				errs[field] = "Date invalide : utilisez le format JJ/MM/AAAA."
				return nil
			}
		}
		*v = d.Format(time.DateOnly)
		return &d
	}
	out.From = day("du", &f.Du)
	if to := day("au", &f.Au); to != nil {
		next := to.AddDate(0, 0, 1) // "au" is inclusive
		out.To = &next
		if out.From != nil && out.From.After(*to) {
			errs["au"] = "La date de fin doit être le même jour que la date de début ou après."
		}
	}
	yes, no := true, false
	switch f.Statut {
	case "":
	case stateApplied:
		out.Applied = &yes
	case stateAnomaly:
		out.Applied = &no
	default:
		i := slices.IndexFunc(attemptStates, func(s attemptState) bool { return string(s.Status) == f.Statut })
		if i < 0 {
			errs["statut"] = "État inconnu : choisissez-en un dans la liste."
			break
		}
		st := attemptStates[i].Status
		out.AttemptStatus = &st
		out.Empty = st != payments.Paid // only a paid attempt brought money
	}
	switch f.Mode {
	case "":
	case modeReal:
		out.Test = &no
	case modeTest:
		out.Test = &yes
		out.Empty = true // test payments are never exported
	default:
		errs["mode"] = "Mode inconnu : choisissez test ou réel."
	}
	online, counter := "online", "counter"
	switch f.Canal {
	case "":
	case canalOnline:
		out.Channel = &online
	case canalCounter:
		out.Channel = &counter
		out.Empty = out.Empty || out.AttemptStatus != nil // attempts are online
	default:
		errs["canal"] = "Canal inconnu : choisissez en ligne ou guichet."
	}
	return f, out, errs
}

// query returns the form as URL parameters, page included when above 1.
func (f journalForm) query(page int) string {
	v := url.Values{}
	for k, s := range map[string]string{"du": f.Du, "au": f.Au, "statut": f.Statut, "mode": f.Mode, "canal": f.Canal} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	if len(v) == 0 {
		return ""
	}
	return "?" + v.Encode()
}

// journalRow is one line of the journal as the page shows it.
type journalRow struct {
	Kind        string
	At          string
	InvoiceID   int64
	Reference   string
	Family      string
	Amount      string
	Channel     string
	Means       string
	Status      string
	StatusClass string
	Test        bool
	Anomaly     string // a French explanation, when something is wrong
	Numauto     string
	IDOp        string
	Note        string
}

// journalView is the data of the payments journal.
type journalView struct {
	Page
	Form             journalForm
	Errors           map[string]string
	AttemptStates    []attemptState
	Rows             []journalRow
	PageNum          int
	PrevURL, NextURL string
	CSVURL           string
}

// meansLabels name the ways money came in, on the page.
var meansLabels = map[string]string{
	"card": "Carte bancaire", "debit": "Prélèvement", "cash": "Espèces", "cheque": "Chèque",
	"counter_card": "Carte bancaire en mairie", "other": "Autre",
}

// newJournalRow puts an entry in French words, with what is wrong
// explained.
func newJournalRow(e payments.JournalEntry) journalRow {
	r := journalRow{At: e.At.In(tenant.Paris).Format("02/01/2006 15h04"), InvoiceID: e.InvoiceID, Reference: e.Reference, Family: e.Family,
		Amount: billing.FormatEuros(e.AmountCents), Channel: "En ligne", Means: meansLabels[e.Means], Test: e.Test,
		Numauto: e.Numauto, IDOp: e.IDOp, Note: e.Note}
	if e.Channel == "counter" {
		r.Channel = "Guichet"
	}
	switch e.Kind {
	case payments.EntryAttempt:
		r.Kind, r.Status = "Tentative", e.State
		for _, s := range attemptStates {
			if string(s.Status) == e.State {
				r.Status, r.StatusClass = s.Label, s.Class
			}
		}
		if e.Anomaly == "amount_mismatch" {
			r.Anomaly = "montant différent : DGFiP annonce un autre montant que les " + billing.FormatEuros(e.AmountCents) +
				" demandés ; le paiement reçu n'a pas été appliqué à la facture."
		}
	case payments.EntryPayment:
		r.Kind, r.Status, r.StatusClass = "Paiement reçu", "Appliqué", "paid"
		if e.State != payments.PaymentApplied {
			r.Status, r.StatusClass = "Anomalie", "late"
		}
		switch e.Anomaly {
		case "amount_mismatch":
			r.Anomaly = "montant différent : " + billing.FormatEuros(e.AmountCents) + " reçus pour une facture de " +
				billing.FormatEuros(e.InvoiceCents) + " ; le paiement n'a pas été appliqué à la facture."
		case "overpayment":
			r.Anomaly = "trop-perçu, la facture était déjà payée : somme à rendre à la famille."
		case "cancelled_invoice":
			r.Anomaly = "paiement d'une facture annulée : somme à rendre à la famille."
		}
	case payments.EntryOverpayment:
		r.Kind, r.Status, r.StatusClass = "Trop-perçu", "À rembourser", "late"
		if e.State == "refunded" {
			r.Status, r.StatusClass = "Remboursé", "paid"
		}
		r.Note = "" // the reason says what the anomaly already says
		r.Anomaly = "trop-perçu, la facture était déjà payée : somme à rendre à la famille."
		if e.Anomaly == "cancelled_invoice" {
			r.Anomaly = "paiement d'une facture annulée : somme à rendre à la famille."
		}
		if e.State == "refunded" {
			r.Anomaly = "trop-perçu remboursé à la famille."
		}
	}
	return r
}

// journalPage lists every attempt, payment and overpayment, newest first,
// 50 a page, with the filters of the form.
func (s *Server) journalPage(c *gin.Context) {
	ctx := c.Request.Context()
	sess, _ := staffFrom(c)
	form, f, errs := readJournalForm(c)
	page, _ := strconv.Atoi(c.Query("page"))
	page = min(max(page, 1), 100_000) // an offset, not an overflow
	v := journalView{Page: s.staffPage(c, "Journal des paiements", "paiements"), Form: form, Errors: errs,
		AttemptStates: attemptStates, PageNum: page, CSVURL: "/gestion/paiements.csv" + form.query(1)}
	if len(errs) > 0 {
		v.Title = "Erreur — " + v.Title
		s.render(c, http.StatusUnprocessableEntity, "staff_journal.html", v)
		return
	}
	var entries []payments.JournalEntry
	err := s.inStaffTx(c, func(tx *sqlx.Tx) error {
		var err error
		entries, err = payments.Journal(ctx, tx, sess.TenantID, f.JournalFilter, journalPerPage+1, (page-1)*journalPerPage)
		return err
	})
	if err != nil {
		s.renderError(c, err)
		return
	}
	if len(entries) > journalPerPage {
		entries = entries[:journalPerPage]
		v.NextURL = "/gestion/paiements" + form.query(page+1)
	}
	if page > 1 {
		v.PrevURL = "/gestion/paiements" + form.query(page-1)
	}
	for _, e := range entries {
		v.Rows = append(v.Rows, newJournalRow(e))
	}
	s.render(c, http.StatusOK, "staff_journal.html", v)
}
