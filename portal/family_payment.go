package portal

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/payments"
	"github.com/regie/regie/payments/payfip"
	"github.com/regie/regie/tenant"
)

// tipiView is the data of the invoice's payment page, in the words of the
// commune guide.
type tipiView struct {
	Page
	InvoiceID  int64
	Numcli     string
	Amount     string
	Reference  string
	Test       bool
	NotPayable string // why the invoice cannot be paid online, if so
	InProgress bool   // an earlier attempt may still complete
	Problem    string // what went wrong with the last click
}

// tipiData loads what the payment page shows, and whether paying is
// possible now.
func (s *Server) tipiData(c *gin.Context) (tipiView, error) {
	ctx := c.Request.Context()
	t, _ := tenant.FromContext(ctx)
	var v tipiView
	err := s.accountInvoice(c, func(tx *sqlx.Tx, inv billing.AccountInvoice) error {
		series, err := billing.SeriesByID(ctx, tx, t.ID, inv.SeriesID)
		if err != nil {
			return err
		}
		v = tipiView{Page: s.page(c, "Paiement de la facture "+inv.Ref()), InvoiceID: inv.ID, Numcli: series.NumcliOr(t.Numcli),
			Amount: billing.FormatEuros(inv.TotalCents), Reference: inv.Ref(), Test: t.Mode == tenant.ModeTest}
		if err := payments.Payable(inv.Invoice, t.Protocol); err != nil {
			var np *payments.NotPayableError
			errors.As(err, &np)
			v.NotPayable = np.Reason
			return nil
		}
		v.InProgress = inv.Paying
		return nil
	})
	return v, err
}

// tipiPage shows "Identifiant collectivité", "Montant de la facture",
// "Référence de la facture", "Tester l'accès au portail TIPI" and "Accès à
// l'écran de paiement TIPI".
func (s *Server) tipiPage(c *gin.Context) {
	v, err := s.tipiData(c)
	if err != nil {
		s.renderError(c, err)
		return
	}
	s.render(c, http.StatusOK, "tipi.html", v)
}

// startPayment creates the attempt and its DGFiP operation and sends the
// browser there in the same window (303): no pop-up.
func (s *Server) startPayment(c *gin.Context) {
	ctx := c.Request.Context()
	t, _ := tenant.FromContext(ctx)
	sess, _ := familyFrom(c)
	v, err := s.tipiData(c)
	if err != nil {
		s.renderError(c, err)
		return
	}
	if v.NotPayable != "" {
		s.render(c, http.StatusConflict, "tipi.html", v)
		return
	}
	target, err := s.payments.Start(ctx, t, v.InvoiceID, sess.Email)
	var fault *payfip.Fault
	var np *payments.NotPayableError
	switch {
	case err == nil:
		c.Redirect(http.StatusSeeOther, target)
		return
	case errors.Is(err, payments.ErrInProgress):
		v.InProgress = true
		s.render(c, http.StatusConflict, "tipi.html", v)
		return
	case errors.As(err, &np):
		v.NotPayable = np.Reason
		s.render(c, http.StatusConflict, "tipi.html", v)
		return
	case errors.As(err, &fault) && !fault.Technical():
		logger(ctx).Warn("DGFiP refused a payment", "code", fault.Code, "label", fault.Label)
		v.Problem = fault.French() + " Contactez votre mairie."
	case errors.Is(err, payments.ErrUnavailable):
		logger(ctx).Warn("DGFiP unavailable", "err", err)
		v.Problem = "Le service de paiement de la DGFiP ne répond pas pour le moment. Réessayez dans quelques minutes."
	default:
		s.renderError(c, err)
		return
	}
	v.InProgress = false
	s.render(c, http.StatusServiceUnavailable, "tipi.html", v)
}

// tipiTestView is the data of "Tester l'accès au portail TIPI".
type tipiTestView struct {
	Page
	InvoiceID int64
	Numcli    string
	Available bool
	Label     string // DGFiP's name for the numcli
	Problem   string
}

// tipiTest checks from the server that DGFiP answers for the invoice's
// client number, and says in plain French whether payment is possible now.
func (s *Server) tipiTest(c *gin.Context) {
	ctx := c.Request.Context()
	v, err := s.tipiData(c)
	if err != nil {
		s.renderError(c, err)
		return
	}
	tv := tipiTestView{Page: s.page(c, "Test de l'accès au portail TIPI"), InvoiceID: v.InvoiceID, Numcli: v.Numcli}
	info, err := s.dgfip.check(ctx, s.payments.PayFiP, v.Numcli)
	var fault *payfip.Fault
	switch {
	case err == nil:
		tv.Available, tv.Label = true, firstNonEmpty(info.Label2, info.Label1, info.Label3)
	case errors.As(err, &fault) && !fault.Technical():
		tv.Problem = fault.French()
	default:
		logger(ctx).Warn("DGFiP check failed", "numcli", v.Numcli, "err", err)
		tv.Problem = "Le service de paiement de la DGFiP ne répond pas pour le moment."
	}
	s.render(c, http.StatusOK, "tipi_test.html", tv)
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// dgfipChecks caches DGFiP's answer about a client number for a minute (a
// failure for 10 seconds), so that families testing the access do not
// flood DGFiP.
type dgfipChecks struct {
	mu sync.Mutex
	m  map[string]dgfipCheck
}

type dgfipCheck struct {
	info payfip.ClientInfo
	err  error
	at   time.Time
}

func (d *dgfipChecks) check(ctx context.Context, client *payfip.Client, numcli string) (payfip.ClientInfo, error) {
	d.mu.Lock()
	e, ok := d.m[numcli]
	d.mu.Unlock()
	// an answer is kept a minute; a failure only 10 seconds, so that
	// families are told soon that DGFiP is back
	if ok && (time.Since(e.at) < 10*time.Second || e.err == nil && time.Since(e.at) < time.Minute) {
		return e.info, e.err
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second) // a family is waiting
	defer cancel()
	info, err := client.ClientDetails(cctx, numcli)
	d.mu.Lock()
	d.m[numcli] = dgfipCheck{info, err, time.Now()}
	d.mu.Unlock()
	return info, err
}

// returnView is the data of the page the payer comes back to from DGFiP.
type returnView struct {
	Page
	Status    payments.Status
	Cancelled bool // the payer pressed Annuler on DGFiP's page
	Reference string
	Amount    string
	Numauto   string
	PaidAt    string
	InvoiceID int64
	Test      bool
}

// paymentReturn is where DGFiP sends the payer's browser back (idop): it
// looks the payment up at once and shows the outcome; while DGFiP has no
// final answer the page refreshes itself. On a suspended commune the
// result is still recorded, then the suspended page shown.
func (s *Server) paymentReturn(c *gin.Context) {
	ctx := c.Request.Context()
	t, _ := tenant.FromContext(ctx)
	idOp := c.Query("idop")
	if idOp == "" {
		idOp = c.Query("idOp")
	}
	if idOp == "" || len(idOp) > 64 {
		s.renderError(c, errNotFound)
		return
	}
	a, err := s.payments.Return(ctx, t, idOp)
	if errors.Is(err, payments.ErrNotFound) {
		s.renderError(c, errNotFound)
		return
	}
	if err != nil {
		s.renderError(c, err)
		return
	}
	if t.Suspended() {
		s.blockSuspended(c)
		return
	}
	v := returnView{Page: s.page(c, "Résultat du paiement"), Status: a.Status, Cancelled: a.ReturnedCancelled,
		Amount: billing.FormatEuros(a.AmountCents), Numauto: a.Numauto, InvoiceID: a.InvoiceID, Test: a.Test()}
	if a.TransactionAt != nil {
		v.PaidAt = parisTime(*a.TransactionAt)
	}
	err = tenant.WithTx(ctx, s.db, t.ID, func(tx *sqlx.Tx) error {
		inv, err := billing.InvoiceByID(ctx, tx, t.ID, a.InvoiceID)
		v.Reference = inv.Ref()
		return err
	})
	if err != nil {
		s.renderError(c, err)
		return
	}
	if !a.Status.Final() && !a.ReturnedCancelled {
		c.Header("Refresh", "5") // also a meta refresh in the page
	}
	s.render(c, http.StatusOK, "payment_return.html", v)
}

// notification is DGFiP's server-to-server call with an operation id (idOp
// or idop, query or form, GET or POST). It carries no result: the attempt
// is looked up again by a job, and DGFiP gets its 200 at once, whatever the
// id (an unknown one is only logged).
func (s *Server) notification(c *gin.Context) {
	ctx := c.Request.Context()
	idOp := formValueFold(c, "idop")
	if idOp == "" || len(idOp) > 64 {
		logger(ctx).Info("notification without operation id")
		c.String(http.StatusOK, "OK")
		return
	}
	if err := s.payments.Notify(ctx, idOp); err != nil {
		if errors.Is(err, payments.ErrNotFound) {
			logger(ctx).Info("notification for an unknown operation", "idop", idOp)
		} else {
			logger(ctx).Error("notification", "idop", idOp, "err", err)
			c.String(http.StatusServiceUnavailable, "retry")
			return
		}
	}
	c.String(http.StatusOK, "OK")
}

// tipiResult takes DGFiP's TIPI result (POST, or GET) on the platform's
// payment host. A GET without a result is the payer's browser following
// "Retour au site": it goes back to its invoice.
func (s *Server) tipiResult(c *gin.Context) {
	ctx := c.Request.Context()
	if err := c.Request.ParseForm(); err != nil {
		c.String(http.StatusBadRequest, "bad form")
		return
	}
	fields, err := payments.TIPIFields(c.Request.Form)
	if err != nil {
		// an ambiguous result is believed for no attempt; DGFiP gets its 200
		logger(ctx).Warn("TIPI result ignored", "err", err)
		c.String(http.StatusOK, "OK")
		return
	}
	if fields["resultrans"] == "" {
		id, err := strconv.ParseInt(fields["tentative"], 10, 64)
		if err != nil {
			s.renderError(c, errNotFound)
			return
		}
		tid, invoiceID, err := payments.TIPIAttemptCommune(ctx, s.db, id)
		if err != nil {
			s.renderError(c, errNotFound)
			return
		}
		t, err := s.tenants.ByID(ctx, tid)
		if err != nil {
			s.renderError(c, err)
			return
		}
		c.Redirect(http.StatusSeeOther, s.communeURL(t, "/factures/"+itoa(invoiceID)))
		return
	}
	if !s.tipiSenderAllowed(c.ClientIP()) {
		logger(ctx).Warn("TIPI result from an address not allowed", "ip", c.ClientIP())
		c.String(http.StatusForbidden, "forbidden")
		return
	}
	a, err := s.payments.TIPIResult(ctx, fields)
	switch {
	case errors.Is(err, payments.ErrNotFound):
		logger(ctx).Warn("TIPI result matching no pending attempt (ignored)", "numcli", fields["numcli"], "refdet", fields["refdet"], "montant", fields["montant"])
	case err != nil:
		logger(ctx).Error("TIPI result", "err", err)
		c.String(http.StatusServiceUnavailable, "retry")
		return
	default:
		logger(ctx).Info("TIPI result", "attempt", a.ID, "status", a.Status)
	}
	c.String(http.StatusOK, "OK")
}
