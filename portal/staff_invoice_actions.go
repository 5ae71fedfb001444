package portal

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/payments"
	"github.com/regie/regie/portal/audit"
	"github.com/regie/regie/tenant"
)

// What agents and administrators do to an invoice: cancel it, record a
// payment made at the counter.

// counterMeansChoices are the ways of paying at the counter, cash first.
func counterMeansChoices(selected string) []filterChoice {
	out := []filterChoice{{Value: "", Label: "— Choisir —"}}
	for _, k := range []string{"cash", "cheque", "counter_card", "other"} {
		if label, ok := payments.CounterMeans[k]; ok {
			out = append(out, filterChoice{Value: k, Label: label, Selected: k == selected})
		}
	}
	return out
}

// errDraftCancel is a draft's cancellation: drafts go with their batch.
var errDraftCancel = errors.New("portal: a draft is cancelled with its batch")

// staffCancelInvoice cancels an unpaid invoice with a reason the family
// will read.
func (s *Server) staffCancelInvoice(c *gin.Context) {
	ctx := c.Request.Context()
	sess, _ := staffFrom(c)
	id, ok := pathID(c, "id")
	if !ok {
		s.renderError(c, errNotFound)
		return
	}
	reason := strings.TrimSpace(c.PostForm("motif"))
	var ref string
	err := s.inStaffTx(c, func(tx *sqlx.Tx) error {
		inv, err := billing.InvoiceByID(ctx, tx, sess.TenantID, id)
		if err != nil {
			return missingAs404(err)
		}
		if inv.Status == billing.Draft {
			return errDraftCancel
		}
		ref = inv.Ref()
		out, err := billing.CancelInvoice(ctx, tx, sess.TenantID, ref, reason, s.now())
		if err != nil {
			return err
		}
		return audit.Record(ctx, tx, sess.TenantID, actor(c), audit.Entry{Action: "invoice.cancel", TargetType: "invoice",
			TargetID: itoa(id), Before: map[string]any{"reference": ref, "status": inv.Status},
			After: map[string]any{"reference": ref, "status": out.Status, "cancel_reason": out.CancelReason}})
	})
	var ve *billing.ValidationError
	msg := ""
	switch {
	case errors.As(err, &ve):
		msg = "Le motif d'annulation est obligatoire (500 caractères au plus) : il sera lu par la famille."
	case errors.Is(err, billing.ErrAlreadyPaid):
		msg = "Une facture payée ne peut pas être annulée."
	case errors.Is(err, billing.ErrAlreadyCancelled):
		msg = "Cette facture est déjà annulée."
	case errors.Is(err, errDraftCancel):
		msg = "Une facture non publiée s'annule avec son lot d'import."
	case err != nil:
		s.renderError(c, err)
		return
	default:
		s.setFlash(c, flash{Msg: "Facture " + ref + " annulée. La famille voit « Annulée » et le motif."})
		c.Redirect(http.StatusSeeOther, "/gestion/factures/"+itoa(id))
		return
	}
	s.rejectInvoiceForm(c, id, func(v *staffInvoiceView) { v.Reason, v.ReasonError = reason, msg })
}

// counterPayment records money paid at the town hall: it marks the
// invoice paid or, when it already was, records an overpayment to refund.
func (s *Server) counterPayment(c *gin.Context) {
	ctx := c.Request.Context()
	sess, _ := staffFrom(c)
	id, ok := pathID(c, "id")
	if !ok {
		s.renderError(c, errNotFound)
		return
	}
	form := struct{ date, means, amount, note string }{strings.TrimSpace(c.PostForm("date")), c.PostForm("moyen"),
		strings.TrimSpace(c.PostForm("montant")), strings.TrimSpace(c.PostForm("note"))}
	reject := func(fill func(v *staffInvoiceView)) {
		s.rejectInvoiceForm(c, id, func(v *staffInvoiceView) {
			v.PayDate, v.PayMeans, v.PayAmount, v.PayNote, v.Means = form.date, form.means, form.amount, form.note, counterMeansChoices(form.means)
			fill(v)
		})
	}
	now := s.now()
	paidAt, dateErr := parseCounterDate(form.date, now)
	var amount int64
	var amountErr error
	if form.amount != "" {
		amount, amountErr = billing.ParseEuros(form.amount)
	}
	_, meansOK := payments.CounterMeans[form.means]
	if dateErr != "" || amountErr != nil || !meansOK {
		reject(func(v *staffInvoiceView) {
			v.DateError = dateErr
			if amountErr != nil {
				v.AmountError = "Montant invalide (exemple : 37,50)."
			}
			if !meansOK {
				v.MeansError = "Choisissez le moyen de paiement."
			}
		})
		return
	}
	var p payments.Payment
	var ref, total string
	err := s.inStaffTx(c, func(tx *sqlx.Tx) error {
		inv, err := billing.InvoiceByID(ctx, tx, sess.TenantID, id)
		if err != nil {
			return missingAs404(err)
		}
		ref, total = inv.Ref(), billing.FormatEuros(inv.TotalCents)
		if form.amount == "" {
			amount = inv.TotalCents
		}
		if p, err = payments.RecordCounterPayment(ctx, tx, sess.TenantID, id, amount, form.means, paidAt, form.note); err != nil {
			return err
		}
		return audit.Record(ctx, tx, sess.TenantID, actor(c), audit.Entry{Action: "invoice.counter_payment", TargetType: "invoice",
			TargetID: itoa(id), Before: map[string]any{"reference": ref, "status": inv.Status},
			After: map[string]any{"reference": ref, "payment_id": p.ID, "amount_cents": p.AmountCents, "means": p.Means,
				"paid_at": p.PaidAt, "note": p.Note, "applied": p.Applied, "anomaly": p.Anomaly}})
	})
	var ve *billing.ValidationError
	switch {
	case errors.As(err, &ve):
		reject(func(v *staffInvoiceView) {
			switch ve.Field {
			case "amount":
				v.AmountError = frenchSentence(ve.Message)
			case "note":
				v.NoteError = frenchSentence(ve.Message)
			case "means":
				v.MeansError = frenchSentence(ve.Message)
			default:
				v.PayError = "Cette facture n'est pas encore publiée : elle ne peut pas être payée."
			}
		})
		return
	case err != nil:
		s.renderError(c, err)
		return
	}
	payments.CountCounterPayment(p)
	msg := "Paiement enregistré : facture payée."
	switch p.Anomaly {
	case "overpayment":
		msg = "Facture déjà payée : trop-perçu enregistré, à rembourser."
	case "cancelled_invoice":
		msg = "Facture annulée : le paiement est enregistré comme trop-perçu, à rembourser."
	case "amount_mismatch":
		msg = "Le montant diffère du total de la facture (" + total + ") : le paiement est enregistré comme anomalie et la facture n'est pas marquée payée."
	}
	s.setFlash(c, flash{Msg: msg})
	c.Redirect(http.StatusSeeOther, "/gestion/factures/"+itoa(id))
}

// parseCounterDate reads the date of a counter payment, as <input
// type="date"> sends it (2026-03-14) or as typed (14/03/2026), and returns
// the instant recorded: now for today, midnight in Paris for an earlier
// day. The message says what is wrong, in French.
func parseCounterDate(s string, now time.Time) (time.Time, string) {
	if s == "" {
		return time.Time{}, "Indiquez la date du paiement."
	}
	var d time.Time
	var err error
	for _, layout := range []string{"2006-01-02", "02/01/2006", "2/1/2006"} {
		if d, err = time.ParseInLocation(layout, s, tenant.Paris); err == nil {
			break
		}
	}
	today := billing.Today(now)
	day := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC)
	switch {
	case err != nil:
		return time.Time{}, "Date invalide (exemple : 14/03/2026)."
	case day.After(today):
		return time.Time{}, "La date du paiement ne peut pas être après aujourd'hui."
	case d.Year() < 2000:
		return time.Time{}, "Date invalide (exemple : 14/03/2026)."
	case day.Equal(today):
		return now, ""
	}
	return d, ""
}
