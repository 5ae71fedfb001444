package portal

import (
	"strings"
)

// barChart is the dashboard's 12-month chart, drawn as SVG by the server:
// for each month a bar of the amount invoiced and a bar of the amount paid
// (online, then by other means, stacked), each with its value written
// beside it. The template only places what is computed here.
type barChart struct {
	Width, Height int
	Title, Desc   string
	Rows          []chartRow
	Legend        []chartKey
}

// chartRow is one month: its label and its two bars.
type chartRow struct {
	Label        string
	LabelY       int
	Invoiced     chartBar
	Online       chartBar
	Counter      chartBar
	InvoicedText chartText // value of the invoiced bar
	PaidText     chartText // value of the paid bar (both segments)
}

// chartBar is a rectangle with its own accessible title.
type chartBar struct {
	X, Y, W, H int
	Fill       string
	Title      string
}

// chartText is a value written at the end of a bar.
type chartText struct {
	X, Y  int
	Value string
}

// chartKey is one entry of the legend.
type chartKey struct {
	X, Y, TextX, TextY int
	Fill, Label        string
}

// The chart's colours: each has a contrast of at least 4.5:1 with the
// white background, and blue and orange stay apart for colour-blind eyes.
const (
	colourInvoiced = "#595959"
	colourOnline   = "#1f4e8c"
	colourCounter  = "#b34000"
)

// The chart's geometry, in SVG user units.
const (
	chartWidth  = 760
	chartLabelW = 92  // month labels, right-aligned
	chartValueW = 110 // room for the value after the longest bar
	chartTop    = 36  // below the legend
	chartBarH   = 15
	chartGap    = 2  // between a month's two bars
	chartPitch  = 42 // from one month to the next
)

func newBarChart(months []monthStats) barChart {
	ch := barChart{Width: chartWidth, Height: chartTop + len(months)*chartPitch, Title: "Montants facturés et encaissés par mois"}
	var top int64 = 1
	for _, m := range months {
		top = max(top, m.Invoiced, m.Online+m.Counter)
	}
	span := chartWidth - chartLabelW - chartValueW
	width := func(v int64) int {
		w := int(v * int64(span) / top)
		if w == 0 && v > 0 {
			w = 1
		}
		return w
	}
	x0 := chartLabelW + 4
	var desc []string
	for i, m := range months {
		y := chartTop + i*chartPitch
		wi, wo, wc := width(m.Invoiced), width(m.Online), width(m.Counter)
		r := chartRow{
			Label: m.Short, LabelY: y + chartBarH + chartGap/2,
			Invoiced: chartBar{X: x0, Y: y, W: wi, H: chartBarH, Fill: colourInvoiced, Title: m.Label + " — facturé : " + m.InvoicedText()},
			Online:   chartBar{X: x0, Y: y + chartBarH + chartGap, W: wo, H: chartBarH, Fill: colourOnline, Title: m.Label + " — payé en ligne : " + m.OnlineText()},
			Counter: chartBar{X: x0 + wo, Y: y + chartBarH + chartGap, W: wc, H: chartBarH, Fill: colourCounter,
				Title: m.Label + " — payé autrement : " + m.CounterText()},
			InvoicedText: chartText{X: x0 + wi + 5, Y: y + chartBarH - 3, Value: m.InvoicedText()},
			PaidText:     chartText{X: x0 + wo + wc + 5, Y: y + 2*chartBarH + chartGap - 3, Value: m.PaidText()},
		}
		ch.Rows = append(ch.Rows, r)
		if m.Invoiced == 0 && m.Online+m.Counter == 0 {
			desc = append(desc, m.Label+" : ni facture ni paiement")
			continue
		}
		desc = append(desc, m.Label+" : facturé "+m.InvoicedText()+", payé "+m.PaidText()+" dont "+m.OnlineText()+" en ligne et "+m.CounterText()+" autrement")
	}
	ch.Desc = "Pour chacun des 12 derniers mois, le montant des factures publiées et le montant payé (en ligne, puis autrement). " +
		strings.Join(desc, " ; ") + "."
	for i, k := range []struct{ fill, label string }{
		{colourInvoiced, "Facturé"}, {colourOnline, "Payé en ligne"}, {colourCounter, "Payé autrement (guichet)"},
	} {
		x := x0 + i*190
		ch.Legend = append(ch.Legend, chartKey{X: x, Y: 6, TextX: x + 20, TextY: 18, Fill: k.fill, Label: k.label})
	}
	return ch
}
