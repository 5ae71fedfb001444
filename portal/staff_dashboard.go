package portal

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/payments"
	"github.com/regie/regie/portal/account"
	"github.com/regie/regie/tenant"
)

// dashboardMonths is how many months the dashboard shows, the current one
// included.
const dashboardMonths = 12

// dashboardStats are the dashboard's figures as the database gives them.
type dashboardStats struct {
	Published   []billing.MonthTotal
	Paid        []payments.ChannelMonth
	Receivables billing.Receivables
	Refunds     payments.Refunds
	Activation  account.Activation
}

// dashboardBounds returns the bounds of the months shown (see
// billing.MonthBounds): the current month (Europe/Paris) is the last.
func dashboardBounds(now time.Time) []time.Time {
	y, m, _ := now.In(tenant.Paris).Date()
	return billing.MonthBounds(time.Date(y, m-(dashboardMonths-1), 1, 12, 0, 0, 0, tenant.Paris), dashboardMonths)
}

// loadDashboard reads the dashboard's figures at instant now in tx: five
// aggregate queries, whatever the number of invoices.
func loadDashboard(ctx context.Context, tx *sqlx.Tx, tid tenant.ID, now time.Time) (dashboardStats, error) {
	bounds := dashboardBounds(now)
	var d dashboardStats
	var err error
	if d.Published, err = billing.PublishedByMonth(ctx, tx, tid, bounds); err != nil {
		return d, err
	}
	if d.Paid, err = payments.PaidByMonth(ctx, tx, tid, bounds); err != nil {
		return d, err
	}
	if d.Receivables, err = billing.ReceivablesOn(ctx, tx, tid, billing.Today(now)); err != nil {
		return d, err
	}
	if d.Refunds, err = payments.ToRefund(ctx, tx, tid); err != nil {
		return d, err
	}
	d.Activation, err = account.ActivationOf(ctx, tx, tid)
	return d, err
}

// monthStats is one month of the dashboard (or the sum of several).
type monthStats struct {
	Key          string // YYYY-MM
	Label        string // février 2026
	Short        string // févr. 2026
	Published    int64
	Invoiced     int64
	Online       int64
	OnlineCount  int64
	Counter      int64
	CounterCount int64
}

// Templates read amounts through these, already in French.
func (m monthStats) InvoicedText() string { return billing.FormatEuros(m.Invoiced) }
func (m monthStats) OnlineText() string   { return billing.FormatEuros(m.Online) }
func (m monthStats) CounterText() string  { return billing.FormatEuros(m.Counter) }
func (m monthStats) PaidText() string     { return billing.FormatEuros(m.Online + m.Counter) }

// OnlineRate is the share of invoices paid online among those paid, in
// number of payments.
func (m monthStats) OnlineRate() string { return percent(m.OnlineCount, m.OnlineCount+m.CounterCount) }

func (m *monthStats) add(o monthStats) {
	m.Published += o.Published
	m.Invoiced += o.Invoiced
	m.Online += o.Online
	m.OnlineCount += o.OnlineCount
	m.Counter += o.Counter
	m.CounterCount += o.CounterCount
}

// dashboardView is the data of the back office's home page.
type dashboardView struct {
	Page
	Today       string
	Current     monthStats
	Months      []monthStats // oldest first, the current one last
	Year        monthStats   // the sum of Months
	Receivables billing.Receivables
	Refunds     payments.Refunds
	Activation  account.Activation
	Chart       barChart
}

func (v dashboardView) UnpaidText() string  { return billing.FormatEuros(v.Receivables.UnpaidCents) }
func (v dashboardView) OverdueText() string { return billing.FormatEuros(v.Receivables.OverdueCents) }
func (v dashboardView) RefundText() string  { return billing.FormatEuros(v.Refunds.Cents) }
func (v dashboardView) ActivatedShare() string {
	return percent(v.Activation.Activated, v.Activation.Families)
}

// newDashboardView lays the figures out month by month, months without
// activity included.
func newDashboardView(p Page, d dashboardStats, now time.Time) dashboardView {
	v := dashboardView{Page: p, Today: now.In(tenant.Paris).Format("02/01/2006"),
		Receivables: d.Receivables, Refunds: d.Refunds, Activation: d.Activation}
	for _, m := range dashboardBounds(now)[:dashboardMonths] {
		v.Months = append(v.Months, monthStats{Key: m.Format("2006-01"), Label: billing.PeriodLabel(m),
			Short: shortMonths[m.Month()-1] + " " + m.Format("2006")})
	}
	for _, p := range d.Published {
		if p.Month >= 0 && p.Month < dashboardMonths {
			v.Months[p.Month].Published, v.Months[p.Month].Invoiced = p.Count, p.Cents
		}
	}
	for _, p := range d.Paid {
		switch {
		case p.Month < 0 || p.Month >= dashboardMonths:
		case p.Channel == "online":
			v.Months[p.Month].Online, v.Months[p.Month].OnlineCount = p.Cents, p.Count
		default:
			v.Months[p.Month].Counter, v.Months[p.Month].CounterCount = p.Cents, p.Count
		}
	}
	v.Year = monthStats{Label: "Total sur 12 mois"}
	for _, m := range v.Months {
		v.Year.add(m)
	}
	v.Current = v.Months[len(v.Months)-1]
	v.Chart = newBarChart(v.Months)
	return v
}

var shortMonths = [...]string{"janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc."}

// percent writes n/d as a French percentage with one decimal ("62,5 %"),
// or "—" when d is zero.
func percent(n, d int64) string {
	if d == 0 {
		return "—"
	}
	s := strings.Replace(fmt.Sprintf("%.1f", float64(n)*100/float64(d)), ".", ",", 1)
	return strings.TrimSuffix(s, ",0") + "\u00a0%"
}

// dashboard is the back office's home: this month, the last 12 months and
// what is owed today.
func (s *Server) dashboard(c *gin.Context) {
	ctx := c.Request.Context()
	sess, _ := staffFrom(c)
	now := s.now()
	var d dashboardStats
	err := s.inStaffTx(c, func(tx *sqlx.Tx) error {
		var err error
		d, err = loadDashboard(ctx, tx, sess.TenantID, now)
		return err
	})
	if err != nil {
		s.renderError(c, err)
		return
	}
	s.render(c, http.StatusOK, "staff_dashboard.html", newDashboardView(s.staffPage(c, "Tableau de bord", "tableau"), d, now))
}
