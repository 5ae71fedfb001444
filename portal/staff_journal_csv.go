package portal

import (
	"encoding/csv"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"

	"github.com/regie/regie/payments"
	"github.com/regie/regie/tenant"
)

// exportColumns are the columns a treasury expects, in its order.
var exportColumns = []string{"date", "heure", "référence", "refdet", "exercice", "montant", "numauto", "idOp", "mode", "résultat", "famille"}

// exportMeans name the ways money came in, in the export.
var exportMeans = map[string]string{
	"card": "carte", "debit": "prélèvement", "cash": "espèces", "cheque": "chèque",
	"counter_card": "carte en mairie", "other": "autre",
}

// exportResult says what a payment did, in the export.
func exportResult(r payments.Received) string {
	switch r.Anomaly {
	case "overpayment":
		return "trop-perçu à rembourser"
	case "amount_mismatch":
		return "montant différent"
	case "cancelled_invoice":
		return "facture annulée"
	}
	return "payée"
}

// exportRecord is one payment as a line of the export.
func exportRecord(r payments.Received) []string {
	at := r.PaidAt.In(tenant.Paris)
	return []string{
		at.Format("02/01/2006"), at.Format("15:04"),
		cellText(r.Reference), cellText(r.Refdet), strconv.Itoa(r.Exer), cellAmount(r.AmountCents),
		cellText(r.Numauto), cellText(r.IDOp), exportMeans[r.Means], exportResult(r), cellText(r.Family),
	}
}

// cellAmount writes cents as a number French Excel reads: 1739,88 (no
// thousands separator, no currency).
func cellAmount(cents int64) string {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	c := strconv.FormatInt(100+cents%100, 10)[1:]
	return sign + strconv.FormatInt(cents/100, 10) + "," + c
}

// cellText makes free text safe for a spreadsheet and for Windows-1252: a
// cell starting with = + - @, a tab or a carriage return would be run as a
// formula, so it gets a leading apostrophe; characters the encoding lacks
// become "?" (after composing accents, so "é" typed as e + accent stays é).
func cellText(s string) string {
	s = norm.NFC.String(s)
	var b strings.Builder
	for _, r := range s {
		if _, ok := charmap.Windows1252.EncodeRune(r); !ok {
			r = '?'
		}
		b.WriteRune(r)
	}
	s = b.String()
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		s = "'" + s
	}
	return s
}

// exportFlushEvery is how many lines the export writes between flushes to
// the browser.
const exportFlushEvery = 200

// journalCSV streams the treasury's export of the money received that the
// form selects: real payments only (test ones never, whatever the filter),
// oldest first, in Windows-1252 with ";" and CRLF so that Excel opens it as
// is. Rows are written as the query returns them.
func (s *Server) journalCSV(c *gin.Context) {
	ctx := c.Request.Context()
	sess, _ := staffFrom(c)
	t, _ := tenant.FromContext(ctx)
	form, f, errs := readJournalForm(c)
	if len(errs) > 0 {
		v := journalView{Page: s.staffPage(c, "Erreur — Journal des paiements", "paiements"), Form: form, Errors: errs,
			AttemptStates: attemptStates, PageNum: 1, CSVURL: "/gestion/paiements.csv" + form.query(1)}
		s.render(c, http.StatusUnprocessableEntity, "staff_journal.html", v)
		return
	}
	var (
		out     *csv.Writer
		enc     *transform.Writer
		started bool
		lines   int
	)
	start := func() error {
		started = true
		h := c.Writer.Header()
		h.Set("Content-Type", "text/csv; charset=windows-1252")
		h.Set("Content-Disposition", `attachment; filename="`+exportName(t.Slug, f, s.now())+`"`)
		h.Set("Cache-Control", "no-store")
		c.Status(http.StatusOK)
		enc = transform.NewWriter(c.Writer, charmap.Windows1252.NewEncoder())
		out = csv.NewWriter(enc)
		out.Comma, out.UseCRLF = ';', true
		return out.Write(exportColumns)
	}
	filter := payments.ReceivedFilter{From: f.From, To: f.To, Applied: f.Applied, Channel: f.Channel}
	if f.AttemptStatus != nil { // a paid attempt: the money came online
		online := "online"
		filter.Channel = &online
	}
	err := s.inStaffTx(c, func(tx *sqlx.Tx) error {
		if f.Empty {
			return nil
		}
		return payments.EachReceived(ctx, tx, sess.TenantID, filter, func(r payments.Received) error {
			if !started {
				if err := start(); err != nil {
					return err
				}
			}
			if err := out.Write(exportRecord(r)); err != nil {
				return err
			}
			if lines++; lines%exportFlushEvery == 0 {
				out.Flush()
				if err := out.Error(); err != nil {
					return err
				}
				c.Writer.Flush()
			}
			return nil
		})
	})
	if err == nil && !started {
		err = start()
	}
	if err == nil {
		out.Flush()
		err = errors.Join(out.Error(), enc.Close())
	}
	if err != nil {
		if !started {
			s.renderError(c, err)
			return
		}
		// Half a file must not pass for the whole: cut the connection so the
		// browser reports a failed download.
		logger(ctx).Error("payments export interrupted", "lines", lines, "err", err)
		panic(http.ErrAbortHandler)
	}
}

// exportName is the export's file name: paiements-<commune>-<du>-<au>.csv.
func exportName(slug string, f journalFilter, now time.Time) string {
	from, to := "debut", now.In(tenant.Paris).Format(time.DateOnly)
	if f.From != nil {
		from = f.From.Format(time.DateOnly)
	}
	if f.To != nil {
		to = f.To.AddDate(0, 0, -1).Format(time.DateOnly)
	}
	return "paiements-" + strings.ToLower(slug) + "-" + from + "-" + to + ".csv"
}
