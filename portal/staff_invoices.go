package portal

import (
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/billing/pdf"
	"github.com/regie/regie/payments"
	"github.com/regie/regie/portal/staff"
	"github.com/regie/regie/tenant"
)

// staffInvoicesView is the data of the invoice list and its filters.
type staffInvoicesView struct {
	Page
	Period      string // as typed: 2015-10 (what <input type="month"> sends) or 10/2015
	PeriodError string
	Series      []filterChoice
	States      []filterChoice
	Filtered    bool
	Invoices    []staffInvoiceRow
	Count       int
	Amount      string
	Paid        string
	Unpaid      string
	Nav         pageNav
}

// filterChoice is one choice of a <select>.
type filterChoice struct {
	Value, Label string
	Selected     bool
}

// staffInvoicesPage lists the commune's invoices, newest period first,
// filtered by period, series and state, 50 a page, with the totals of the
// whole filtered set, in one query.
func (s *Server) staffInvoicesPage(c *gin.Context) {
	ctx := c.Request.Context()
	sess, _ := staffFrom(c)
	v := staffInvoicesView{Page: s.staffPage(c, "Factures", "factures"), Period: strings.TrimSpace(c.Query("periode"))}
	var f billing.InvoiceFilter
	if v.Period != "" {
		p, ok := parseMonthFilter(v.Period)
		if !ok {
			v.PeriodError = "Période invalide : choisissez un mois (exemple : 2015-10 ou 10/2015)."
		} else {
			f.Period = &p
		}
	}
	if code := strings.ToUpper(strings.TrimSpace(c.Query("serie"))); code != "" {
		f.SeriesCode = &code
	}
	state, known := billing.ParseInvoiceState(c.Query("statut"))
	if known {
		f.State = &state
	}
	v.Filtered = f.Period != nil || f.SeriesCode != nil || f.State != nil
	page := queryPage(c)
	today := billing.Today(s.now())
	var series []billing.Series
	var rows []billing.InvoiceListItem
	var totals billing.InvoiceTotals
	err := s.inStaffTx(c, func(tx *sqlx.Tx) error {
		var err error
		if series, err = billing.ListSeries(ctx, tx, sess.TenantID); err != nil {
			return err
		}
		rows, totals, err = billing.SearchInvoices(ctx, tx, sess.TenantID, f, today, staffListSize, (page-1)*staffListSize)
		return err
	})
	if err != nil {
		s.renderError(c, err)
		return
	}
	v.Series = append(v.Series, filterChoice{Value: "", Label: "Toutes les séries"})
	for _, sr := range series {
		v.Series = append(v.Series, filterChoice{Value: sr.Code, Label: sr.Code + " — " + sr.Label, Selected: f.SeriesCode != nil && *f.SeriesCode == sr.Code})
	}
	v.States = append(v.States, filterChoice{Value: "", Label: "Tous les états"})
	for _, st := range billing.InvoiceStates {
		v.States = append(v.States, filterChoice{Value: string(st), Label: staffInvoiceStates[st].Filter, Selected: known && st == state})
	}
	for _, i := range rows {
		v.Invoices = append(v.Invoices, newStaffInvoiceRow(i, today))
	}
	v.Count = totals.Count
	v.Amount, v.Paid, v.Unpaid = billing.FormatEuros(totals.AmountCents), billing.FormatEuros(totals.PaidCents), billing.FormatEuros(totals.UnpaidCents)
	v.Nav = newPageNav(c, page, totals.Count, len(rows))
	status := http.StatusOK
	if v.PeriodError != "" {
		status = http.StatusUnprocessableEntity
	}
	s.render(c, status, "staff_invoices.html", v)
}

// parseMonthFilter reads a month as 2015-10 or 10/2015 and returns its first
// day.
func parseMonthFilter(s string) (time.Time, bool) {
	for _, layout := range []string{"2006-01", "01/2006", "1/2006"} {
		if t, err := time.Parse(layout, s); err == nil && t.Year() >= 2000 && t.Year() <= 2100 {
			return t, true
		}
	}
	return time.Time{}, false
}

// staffInvoiceView is the data of one invoice's page and of its forms.
type staffInvoiceView struct {
	Page
	Invoice      staffInvoiceRow
	Refdet       string
	Numcli       string
	Exer         int
	IssueDate    string
	PublishedAt  string
	PaidAt       string
	PaidTest     bool
	CancelReason string
	CancelledAt  string
	BatchID      int64
	Draft        bool
	HasPDF       bool
	Lines        []lineRow
	Attempts     []attemptRow
	Payments     []staffPaymentRow
	Overpayments []overpaymentRow
	InProgress   bool // an online payment may still complete

	CanAct      bool // agents and administrators
	Cancellable bool
	Payable     bool

	// the forms as typed, with their errors
	Reason      string
	ReasonError string
	PayDate     string
	PayMeans    string
	PayAmount   string
	PayNote     string
	Means       []filterChoice
	DateError   string
	MeansError  string
	AmountError string
	NoteError   string
	PayError    string
}

// attemptRow is an online payment attempt, as staff check it against
// DGFiP's statements.
type attemptRow struct {
	Date, Protocol, Saisie    string
	Test                      bool
	Status, StatusClass       string
	Resultrans, Numauto, IDOp string
	TransactionAt             string
	Amount                    string
	AmountMismatch            bool
	Lookups                   int
	Error                     string
}

var attemptStatusLabels = map[payments.Status]struct{ Label, Class string }{
	payments.Created: {"Créée", "pending"}, payments.Pending: {"En cours", "pending"}, payments.Paid: {"Payée", "paid"},
	payments.Refused: {"Refusée", "late"}, payments.Abandoned: {"Abandonnée", "cancelled"},
	payments.Expired: {"Expirée", "cancelled"}, payments.Failed: {"Erreur", "late"},
}

// overpaymentRow is money to give back.
type overpaymentRow struct {
	Date, Amount, Reason, Status string
}

// staffInvoiceData fills the page of invoice id in one transaction. An id
// of another commune is a 404.
func (s *Server) staffInvoiceData(c *gin.Context, id int64) (staffInvoiceView, error) {
	ctx := c.Request.Context()
	sess, _ := staffFrom(c)
	tid := sess.TenantID
	t, _ := tenant.FromContext(ctx)
	today := billing.Today(s.now())
	v := staffInvoiceView{Page: s.staffPage(c, "Facture", "factures"), CanAct: staffRole(sess).Can(staff.PermInvoices)}
	var inv billing.Invoice
	var fam billing.Family
	var series billing.Series
	var lines []billing.Line
	var attempts []payments.Attempt
	var pays []payments.Payment
	var overs []payments.Overpayment
	err := s.inStaffTx(c, func(tx *sqlx.Tx) error {
		var err error
		if inv, err = billing.InvoiceByID(ctx, tx, tid, id); err != nil {
			return missingAs404(err)
		}
		if fam, err = billing.FamilyByID(ctx, tx, tid, inv.FamilyID); err != nil {
			return err
		}
		if series, err = billing.SeriesByID(ctx, tx, tid, inv.SeriesID); err != nil {
			return err
		}
		if lines, err = billing.InvoiceLines(ctx, tx, tid, id); err != nil {
			return err
		}
		if attempts, err = payments.InvoiceAttempts(ctx, tx, tid, id); err != nil {
			return err
		}
		if pays, err = payments.InvoicePayments(ctx, tx, tid, id); err != nil {
			return err
		}
		overs, err = payments.InvoiceOverpayments(ctx, tx, tid, id)
		return err
	})
	if err != nil {
		return v, err
	}
	item := billing.InvoiceListItem{Invoice: inv, FamilyRef: fam.Ref, FamilyName: fam.Name, SeriesCode: series.Code, SeriesLabel: series.Label}
	v.Invoice = newStaffInvoiceRow(item, today)
	v.Title = "Facture " + v.Invoice.Reference
	v.Refdet, v.Numcli, v.Exer, v.BatchID = inv.RefdetOrEmpty(), series.NumcliOr(t.Numcli), inv.Exer(), inv.BatchID
	v.Draft, v.PaidTest, v.CancelReason = inv.Status == billing.Draft, inv.PaidTest, inv.CancelReason
	v.HasPDF = !v.Draft || inv.PDFKey != ""
	v.Cancellable = inv.Status == billing.Published
	v.Payable = inv.Status != billing.Draft
	if inv.IssueDate != nil {
		v.IssueDate = inv.IssueDate.Format("02/01/2006")
	}
	if inv.PublishedAt != nil {
		v.PublishedAt = parisTime(*inv.PublishedAt)
	}
	if inv.PaidAt != nil {
		v.PaidAt = parisTime(*inv.PaidAt)
	}
	if inv.CancelledAt != nil {
		v.CancelledAt = parisTime(*inv.CancelledAt)
	}
	for _, l := range lines {
		v.Lines = append(v.Lines, lineRow{l.Label, billing.FormatQuantity(l.QuantityMilli), billing.FormatEuros(l.UnitPriceCents), billing.FormatEuros(l.TotalCents)})
	}
	for _, a := range attempts {
		st := attemptStatusLabels[a.Status]
		r := attemptRow{Date: parisTime(a.CreatedAt), Protocol: map[tenant.Protocol]string{tenant.ProtocolTIPI: "TIPI"}[a.Protocol],
			Saisie: a.Saisie, Test: a.Test(), Status: st.Label, StatusClass: st.Class, Resultrans: a.Resultrans, Numauto: a.Numauto,
			IDOp: a.IDOpOrEmpty(), Amount: billing.FormatEuros(a.AmountCents), AmountMismatch: a.AmountMismatch, Lookups: a.Lookups, Error: a.Error}
		if r.Protocol == "" {
			r.Protocol = "PayFiP"
		}
		if a.TransactionAt != nil {
			r.TransactionAt = parisTime(*a.TransactionAt)
		}
		if a.MayStillComplete(s.now()) {
			v.InProgress = true
		}
		v.Attempts = append(v.Attempts, r)
	}
	for _, p := range pays {
		v.Payments = append(v.Payments, newStaffPaymentRow(p, inv.Ref()))
	}
	for _, o := range overs {
		r := overpaymentRow{Date: parisTime(o.CreatedAt), Amount: billing.FormatEuros(o.AmountCents), Reason: o.Reason, Status: "À rembourser"}
		if o.Status == "refunded" && o.RefundedAt != nil {
			r.Status = "Remboursé le " + parisTime(*o.RefundedAt)
		}
		v.Overpayments = append(v.Overpayments, r)
	}
	v.PayDate, v.PayAmount = today.Format("2006-01-02"), billing.FormatEurosInput(inv.TotalCents)
	v.Means = counterMeansChoices("")
	return v, nil
}

// staffInvoicePage shows an invoice with its lines, payment attempts,
// payments and overpayments; agents and administrators get the forms.
func (s *Server) staffInvoicePage(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		s.renderError(c, errNotFound)
		return
	}
	v, err := s.staffInvoiceData(c, id)
	if err != nil {
		s.renderError(c, err)
		return
	}
	s.render(c, http.StatusOK, "staff_invoice.html", v)
}

// rejectInvoiceForm shows the invoice's page again with what was typed and
// the errors (422).
func (s *Server) rejectInvoiceForm(c *gin.Context, id int64, fill func(v *staffInvoiceView)) {
	v, err := s.staffInvoiceData(c, id)
	if err != nil {
		s.renderError(c, err)
		return
	}
	fill(&v)
	s.render(c, http.StatusUnprocessableEntity, "staff_invoice.html", v)
}

// staffInvoicePDF serves the invoice's PDF, the one its family gets
// (rendered and stored on first demand, serveNewInvoicePDF). A draft has none until it is
// published, unless the import brought one.
func (s *Server) staffInvoicePDF(c *gin.Context) {
	ctx := c.Request.Context()
	sess, _ := staffFrom(c)
	t, _ := tenant.FromContext(ctx)
	id, ok := pathID(c, "id")
	if !ok {
		s.renderError(c, errNotFound)
		return
	}
	var (
		inv billing.Invoice
		doc pdf.Invoice
	)
	err := s.inStaffTx(c, func(tx *sqlx.Tx) error {
		var err error
		inv, err = billing.InvoiceByID(ctx, tx, sess.TenantID, id)
		switch {
		case err != nil:
			return missingAs404(err)
		case inv.PDFKey != "":
			return nil
		case inv.Status == billing.Draft:
			return errNotFound
		}
		doc, err = invoiceDoc(ctx, tx, t, inv)
		return err
	})
	switch {
	case err != nil:
		s.renderError(c, err)
	case inv.PDFKey != "":
		s.sendInvoicePDF(c, inv.PDFKey, inv.Ref())
	default:
		s.serveNewInvoicePDF(c, t, inv, doc)
	}
}
