package payments

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/payments/payfip"
	"github.com/regie/regie/tenant"
	"github.com/regie/regie/tenant/pgdb"
)

// Service takes payments. Its callers are portal's pages and callbacks and
// the reconciliation jobs.
type Service struct {
	DB      *sqlx.DB
	Jobs    *river.Client[*sql.Tx]
	PayFiP  *payfip.Client
	BaseURL *url.URL // the platform's; DGFiP calls back paiement.<host>
	Log     *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// paymentHost returns a URL on the platform's fixed callback host,
// paiement.<base host>.
func (s *Service) paymentHost(path string, q url.Values) string {
	u := *s.BaseURL
	u.Host = "paiement." + u.Host
	u.Path = path
	u.RawQuery = q.Encode()
	return u.String()
}

// Payable says whether an invoice can be paid online by a protocol now,
// and if not why, in French.
func Payable(inv billing.Invoice, p tenant.Protocol) error {
	switch {
	case inv.Status == billing.Paid:
		return &NotPayableError{"Cette facture est déjà payée."}
	case inv.Status == billing.Cancelled:
		return &NotPayableError{"Cette facture est annulée : elle n'est pas à payer."}
	case inv.Status != billing.Published:
		return &NotPayableError{"Cette facture n'est pas encore publiée."}
	case inv.TotalCents < MinAmount:
		return &NotPayableError{"Le paiement en ligne n'est possible qu'à partir de 1,00 € : réglez cette facture auprès de la mairie."}
	case inv.TotalCents > MaxAmount(p):
		return &NotPayableError{fmt.Sprintf("Au-delà de %s, le paiement en ligne n'est pas possible : réglez cette facture auprès de la mairie.", billing.FormatEuros(MaxAmount(p)))}
	}
	return nil
}

// Start begins paying an invoice for a payer and returns where the payer's
// browser goes (DGFiP's page). While an earlier attempt may still complete
// it returns ErrInProgress; an invoice that cannot be paid online gives a
// *NotPayableError; DGFiP refusing or failing gives an error wrapping
// ErrUnavailable or a *payfip.Fault.
func (s *Service) Start(ctx context.Context, t tenant.Tenant, invoiceID int64, payerEmail string) (string, error) {
	now := s.now()
	var a Attempt
	err := tenant.WithTx(ctx, s.DB, t.ID, func(tx *sqlx.Tx) error {
		inv, err := billing.LockInvoice(ctx, tx, t.ID, invoiceID)
		if err != nil {
			return err
		}
		if err := Payable(inv, t.Protocol); err != nil {
			return err
		}
		earlier, err := InvoiceAttempts(ctx, tx, t.ID, inv.ID)
		if err != nil {
			return err
		}
		for _, e := range earlier {
			if e.MayStillComplete(now) {
				return ErrInProgress
			}
		}
		series, err := billing.SeriesByID(ctx, tx, t.ID, inv.SeriesID)
		if err != nil {
			return err
		}
		status := Created
		if t.Protocol == tenant.ProtocolTIPI {
			status = Pending // no operation to create: the page is a URL
		}
		const ins = `INSERT INTO payment_attempts (tenant_id, invoice_id, protocol, mode, saisie, numcli, refdet, exer,
				amount_cents, payer_email, status, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) RETURNING ` + attemptColumns
		err = tx.GetContext(ctx, &a, ins, t.ID, inv.ID, t.Protocol, t.Mode, Saisie(t.Protocol, t.Mode),
			series.NumcliOr(t.Numcli), inv.RefdetOrEmpty(), inv.Exer(), inv.TotalCents, payerEmail, status, now)
		if err != nil {
			return err
		}
		if t.Protocol == tenant.ProtocolPayFiP {
			return s.scheduleCheck(ctx, tx, a, now)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	objet := "Facture " + a.Refdet + " " + t.Name
	if t.Protocol == tenant.ProtocolTIPI {
		return s.PayFiP.TIPIURL(payfip.TIPIRequest{
			Numcli: a.Numcli, Exer: a.Exer, Refdet: a.Refdet, Montant: a.AmountCents, Mel: a.PayerEmail, Objet: objet,
			URLCL: s.paymentHost("/tipi", url.Values{"tentative": {strconv.FormatInt(a.ID, 10)}}), Saisie: a.Saisie,
		}), nil
	}
	cctx, cancel := context.WithTimeout(ctx, payfip.Timeout)
	defer cancel()
	idOp, err := s.PayFiP.CreatePayment(cctx, payfip.CreateRequest{
		Exer: a.Exer, Mel: a.PayerEmail, Montant: a.AmountCents, Numcli: a.Numcli, Objet: objet, Refdet: a.Refdet,
		Saisie: a.Saisie, URLNotif: s.paymentHost("/notification", nil),
		URLRedirect: tenant.PortalURL(s.BaseURL, t, "/paiement/retour"),
	})
	if err != nil {
		s.fail(context.WithoutCancel(ctx), t.ID, a.ID, err)
		var f *payfip.Fault
		if errors.As(err, &f) && !f.Technical() {
			return "", err
		}
		return "", fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	err = tenant.WithTx(context.WithoutCancel(ctx), s.DB, t.ID, func(tx *sqlx.Tx) error {
		const upd = `UPDATE payment_attempts SET idop = $3, status = 'pending', updated_at = $4
			WHERE tenant_id = $1 AND id = $2 AND status = 'created'`
		res, err := tx.ExecContext(ctx, upd, t.ID, a.ID, idOp, s.now())
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			// ended meanwhile (the reconciliation gave up on an operation
			// slow to come): the payer must not pay an operation the
			// platform does not know
			return cmp.Or(err, fmt.Errorf("%w: attempt %d ended before its operation %s was recorded", ErrUnavailable, a.ID, idOp))
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	tenant.Logger(ctx, s.Log).Info("payment started", "commune", t.Slug, "attempt", a.ID, "invoice", a.InvoiceID, "idop", idOp, "saisie", a.Saisie)
	return s.PayFiP.PaymentPageURL(idOp), nil
}

// fail ends an attempt whose operation DGFiP did not create.
func (s *Service) fail(ctx context.Context, tid tenant.ID, id int64, cause error) {
	err := tenant.WithTx(ctx, s.DB, tid, func(tx *sqlx.Tx) error {
		const upd = `UPDATE payment_attempts SET status = 'error', error = $3, settled_at = $4, updated_at = $4
			WHERE tenant_id = $1 AND id = $2 AND status = 'created'`
		_, err := tx.ExecContext(ctx, upd, tid, id, cause.Error(), s.now())
		return err
	})
	if err != nil {
		tenant.Logger(ctx, s.Log).Error("record failed payment attempt", "attempt", id, "err", err)
	}
	tenant.Logger(ctx, s.Log).Warn("payment not started", "attempt", id, "err", cause)
}

// look asks DGFiP about attempt a, as its caller has just read it, waiting
// at most wait for the answer, and applies the answer. source says who asked
// (the payer's return, a notification, the reconciliation); earlier are
// notes received before the lookup, logged in the same statement as its
// answer.
func (s *Service) look(ctx context.Context, a Attempt, wait time.Duration, source string, earlier []note) (Attempt, verdict, error) {
	tid, id := a.TenantID, a.ID
	if a.Status.Final() || a.Protocol != tenant.ProtocolPayFiP {
		return a, verdict{status: a.Status}, nil
	}
	now := s.now()
	if a.IDOp == nil {
		// DGFiP never gave an operation: nothing could be paid. A fresh
		// one may still be waiting for its answer.
		if now.Sub(a.CreatedAt) < 2*payfip.Timeout {
			return a, verdict{status: Created}, nil
		}
		var st settled
		err := tenant.WithTx(ctx, s.DB, tid, func(tx *sqlx.Tx) (err error) {
			st, err = settle(ctx, tx, s.Jobs, a, outcome{status: Failed}, now)
			return err
		})
		if err != nil || st.attempt == nil { // started or settled meanwhile: the next look sees it
			return a, verdict{status: a.Status}, err
		}
		st.count()
		return *st.attempt, verdict{status: Failed}, nil
	}
	cctx, cancel := context.WithTimeout(ctx, wait)
	d, lookErr := s.PayFiP.PaymentDetails(cctx, *a.IDOp)
	cancel()
	v := judge(d, lookErr, now.Sub(a.CreatedAt))
	fields := map[string]string{"resultrans": d.Resultrans, "numauto": d.Numauto, "montant": strconv.FormatInt(d.Montant, 10),
		"dattrans": d.Dattrans, "heurtrans": d.Heurtrans, "refdet": d.Refdet, "numcli": d.Numcli, "saisie": d.Saisie}
	if lookErr != nil {
		fields = map[string]string{"error": lookErr.Error()}
	}
	notes := append(earlier, note{At: now, Source: source, Fields: fields})
	var st settled
	err := tenant.WithTx(ctx, s.DB, tid, func(tx *sqlx.Tx) error {
		if !v.retry && v.status.Final() {
			// one UPDATE logs the answer and settles the attempt
			o := outcome{status: v.status, resultrans: d.Resultrans, numauto: d.Numauto, transactionAt: d.TransactionTime(), amount: d.Montant,
				notes: notes, lookups: 1}
			var err error
			if st, err = settle(ctx, tx, s.Jobs, a, o, now); err != nil {
				return err
			}
			if st.attempt != nil {
				a = *st.attempt
				return nil
			}
			// final meanwhile (a duplicate, another lookup): logged only
		}
		var err error
		a, err = record(ctx, tx, tid, id, notes, 1, now)
		return err
	})
	if err == nil {
		st.count()
	}
	if lookErr != nil && v.retry {
		tenant.Logger(ctx, s.Log).Warn("payment lookup failed", "attempt", id, "source", source, "err", lookErr)
	}
	return a, v, err
}

// Return handles the payer's browser coming back from DGFiP with an
// operation id (on the commune's own host): it looks the attempt up at once,
// notes the return (a payer who cancelled may start again at once), and
// has the reconciliation look again within a minute.
func (s *Service) Return(ctx context.Context, t tenant.Tenant, idOp string) (Attempt, error) {
	var a Attempt
	err := tenant.WithTx(ctx, s.DB, t.ID, func(tx *sqlx.Tx) error {
		var err error
		a, err = AttemptByIDOp(ctx, tx, t.ID, idOp)
		return err
	})
	if err != nil {
		return a, err
	}
	a, v, err := s.look(ctx, a, payfip.Timeout, "retour", nil)
	if err != nil {
		return a, err
	}
	now := s.now()
	err = tenant.WithTx(ctx, s.DB, t.ID, func(tx *sqlx.Tx) error {
		const upd = `UPDATE payment_attempts SET returned_at = $3, returned_cancelled = returned_cancelled OR $4
			WHERE tenant_id = $1 AND id = $2`
		cancelled := v.details.Resultrans == "A" || v.status == Abandoned
		if _, err := tx.ExecContext(ctx, upd, t.ID, a.ID, now, cancelled); err != nil {
			return err
		}
		a.ReturnedAt, a.ReturnedCancelled = &now, a.ReturnedCancelled || cancelled
		if a.Status.Final() {
			return nil
		}
		// the waiting check may be minutes away: bring it forward, it then
		// looks again 10, 30 and 60 seconds after this return
		return s.checkNow(ctx, tx, a)
	})
	return a, err
}

// Notify handles DGFiP's notification of an operation: it carries no
// result, so the attempt is looked up at once, within notifyLookup so that
// the notifier gets its answer quickly; when DGFiP does not answer in time
// or the attempt is not final yet, the reconciliation job looks again. An
// unknown operation gives ErrNotFound.
func (s *Service) Notify(ctx context.Context, idOp string) error {
	a, err := ownerAttemptByIDOp(ctx, s.DB, idOp)
	if err != nil {
		return err
	}
	tid, id := a.TenantID, a.ID
	notified := []note{{At: s.now(), Source: "notification", Fields: map[string]string{"idop": idOp}}}
	if a.Status.Final() { // a duplicate: kept in the log only
		return tenant.WithTx(ctx, s.DB, tid, func(tx *sqlx.Tx) error {
			_, err := record(ctx, tx, tid, id, notified, 0, s.now())
			return err
		})
	}
	// the notification is logged with the lookup's answer, in one
	// statement; should this process die meanwhile, the reconciliation
	// still looks the pending attempt up
	a, _, err = s.look(ctx, a, notifyLookup, "notification-lookup", notified)
	if err == nil && a.Status.Final() {
		return nil
	}
	if err != nil {
		tenant.Logger(ctx, s.Log).Warn("notification: lookup failed, the reconciliation will look again", "attempt", id, "err", err)
	}
	return tenant.WithTx(ctx, s.DB, tid, func(tx *sqlx.Tx) error {
		a, err := AttemptByID(ctx, tx, tid, id)
		if err != nil || a.Status.Final() {
			return err
		}
		return s.checkNow(ctx, tx, a)
	})
}

// notifyLookup bounds the lookup a notification makes before it answers.
const notifyLookup = 3 * time.Second

// ownerAttemptByIDOp returns the attempt of an operation, whichever
// commune's. Owner-level on purpose: DGFiP's callbacks reach one platform
// host, before any commune is known; the operation id, random and global,
// says which.
func ownerAttemptByIDOp(ctx context.Context, db *sqlx.DB, idOp string) (Attempt, error) {
	var a Attempt
	err := db.GetContext(ctx, &a, pgdb.Prepared+`SELECT `+attemptColumns+` FROM payment_attempts WHERE idop = $1`, idOp)
	return a, mapErr(err)
}
