package portal

import (
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/payments"
	"github.com/regie/regie/portal/account"
)

// What the family and invoice pages of the back office share: pages of
// results, ids from the path, and invoices and payments as rows.

// staffListSize is how many rows a page of a back-office list shows.
const staffListSize = 50

// queryPage is the page number asked for (?page=), from 1.
func queryPage(c *gin.Context) int {
	p, err := strconv.Atoi(c.Query("page"))
	if err != nil || p < 1 || p > 100_000 {
		return 1
	}
	return p
}

// pageNav links the pages of a list, keeping the other parameters of the
// request's query.
type pageNav struct {
	Page, Pages int
	Prev, Next  string // empty at the ends
	First       string
	PastEnd     bool // a page after the last: nothing to show
}

// newPageNav describes page (from 1) of a list of total rows, of which
// shown are on the page.
func newPageNav(c *gin.Context, page, total, shown int) pageNav {
	link := func(p int) string {
		q := c.Request.URL.Query()
		q.Del("page")
		if p > 1 {
			q.Set("page", strconv.Itoa(p))
		}
		if e := q.Encode(); e != "" {
			return c.Request.URL.Path + "?" + e
		}
		return c.Request.URL.Path
	}
	n := pageNav{Page: page, Pages: (total + staffListSize - 1) / staffListSize, First: link(1), PastEnd: shown == 0 && page > 1}
	if page > 1 && !n.PastEnd {
		n.Prev = link(page - 1)
	}
	if page < n.Pages {
		n.Next = link(page + 1)
	}
	return n
}

// pathID reads a positive id from the path; anything else is a 404 for the
// caller.
func pathID(c *gin.Context, name string) (int64, bool) {
	id, err := strconv.ParseInt(c.Param(name), 10, 64)
	return id, err == nil && id > 0
}

// missingAs404 turns the domain packages' "not found" into the 404 page:
// an id of another commune is unknown here.
func missingAs404(err error) error {
	if errors.Is(err, billing.ErrNotFound) || errors.Is(err, account.ErrNotFound) || errors.Is(err, payments.ErrNotFound) {
		return errors.Join(errNotFound, err)
	}
	return err
}

// frenchSentence turns a domain message ("motif obligatoire") into a
// sentence for a form ("Motif obligatoire.").
func frenchSentence(msg string) string {
	r, n := utf8.DecodeRuneInString(msg)
	if n == 0 {
		return msg
	}
	msg = string(unicode.ToUpper(r)) + msg[n:]
	if !strings.HasSuffix(msg, ".") {
		msg += "."
	}
	return msg
}

// staffInvoiceRow is an invoice as the back office's lists show it.
type staffInvoiceRow struct {
	ID, FamilyID          int64
	Reference             string
	FamilyRef, FamilyName string
	Series, SeriesCode    string
	Period, Amount        string
	DueDate               string
	Status, StatusClass   string
}

func newStaffInvoiceRow(i billing.InvoiceListItem, today time.Time) staffInvoiceRow {
	r := staffInvoiceRow{ID: i.ID, FamilyID: i.FamilyID, Reference: i.Ref(), FamilyRef: i.FamilyRef, FamilyName: i.FamilyName,
		Series: i.SeriesLabel, SeriesCode: i.SeriesCode, Period: billing.PeriodLabel(i.Period),
		Amount: billing.FormatEuros(i.TotalCents), DueDate: i.DueDate.Format("02/01/2006")}
	r.Status, r.StatusClass = staffInvoiceStatus(i.Invoice, today)
	if r.Reference == "" {
		r.Reference = "(non numérotée)"
	}
	return r
}

// staffInvoiceStates are the back office's words for where an invoice stands,
// in the filter and on each row, with the badge's class.
var staffInvoiceStates = map[billing.InvoiceState]struct{ Filter, Row, Class string }{
	billing.StateDraft:     {"Brouillon (non publiée)", "Brouillon", "pending"},
	billing.StatePublished: {"Non payée (publiée)", "À payer", "due"},
	billing.StateOverdue:   {"En retard (échéance dépassée)", "En retard", "late"},
	billing.StatePaid:      {"Payée", "Payée", "paid"},
	billing.StateCancelled: {"Annulée", "Annulée", "cancelled"},
}

func staffInvoiceStatus(i billing.Invoice, today time.Time) (label, class string) {
	st := staffInvoiceStates[i.State(today)]
	if i.Status == billing.Paid && i.PaidTest {
		return "Payée (test)", st.Class
	}
	return st.Row, st.Class
}

// staffPaymentRow is money received, as the back office shows it.
type staffPaymentRow struct {
	ID, InvoiceID int64
	Reference     string
	Date          string
	Channel       string
	Means         string
	Amount        string
	Note          string
	Test, Applied bool
	Anomaly       string // in words; empty when none
}

var staffMeansLabels = map[string]string{"card": "Carte bancaire (en ligne)", "debit": "Prélèvement (en ligne)"}

var staffAnomalyLabels = map[string]string{
	"overpayment":       "Trop-perçu — à rembourser",
	"amount_mismatch":   "Montant différent de la facture",
	"cancelled_invoice": "Paiement d'une facture annulée — à rembourser",
}

func newStaffPaymentRow(p payments.Payment, reference string) staffPaymentRow {
	r := staffPaymentRow{ID: p.ID, InvoiceID: p.InvoiceID, Reference: reference, Date: parisTime(p.PaidAt),
		Channel: "En ligne", Means: staffMeansLabels[p.Means], Amount: billing.FormatEuros(p.AmountCents), Note: p.Note,
		Test: p.Test, Applied: p.Applied, Anomaly: staffAnomalyLabels[p.Anomaly]}
	if p.Channel == "counter" {
		r.Channel, r.Means = "Guichet de la mairie", payments.CounterMeans[p.Means]
	}
	if r.Means == "" {
		r.Means = p.Means
	}
	return r
}
