package payments

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/tenant"
)

// TIPIResult handles a result posted by DGFiP's TIPI server (unsigned).
// fields are the posted parameters, names lower-cased. It is believed only
// when numcli, refdet and montant match a TIPI attempt of the same kind
// (test or real) — a pending one, else the latest, whose log then keeps the
// post without changing anything; it returns ErrNotFound when nothing
// matches (a forged or unknown result), and the attempt otherwise. An
// abandon (A) keeps the attempt pending, marked cancelled by the payer, as
// the payer may still come back and pay within DGFiP's 20 minutes.
func (s *Service) TIPIResult(ctx context.Context, fields map[string]string) (Attempt, error) {
	numcli, refdet := fields["numcli"], fields["refdet"]
	amount, err := strconv.ParseInt(fields["montant"], 10, 64)
	if err != nil || numcli == "" || refdet == "" {
		return Attempt{}, ErrNotFound
	}
	tid, id, err := ownerFindTIPIAttempt(ctx, s.DB, numcli, refdet, amount, strings.ToUpper(fields["saisie"]))
	if err != nil {
		return Attempt{}, err
	}
	now := s.now()
	var a Attempt
	var done settled
	err = tenant.WithTx(ctx, s.DB, tid, func(tx *sqlx.Tx) error {
		locked, err := lockAttempt(ctx, tx, tid, id)
		if err != nil {
			return err
		}
		if err := record(ctx, tx, locked, "tipi", fields, now); err != nil {
			return err
		}
		if locked.Status.Final() {
			a = locked // a duplicate or late post: kept in the log only
			return nil
		}
		st := Failed
		switch strings.ToUpper(fields["resultrans"]) {
		case "P", "V":
			st = Paid
		case "R", "Z":
			st = Refused
		case "A":
			const cancelled = `UPDATE payment_attempts SET returned_cancelled = true WHERE tenant_id = $1 AND id = $2`
			if _, err := tx.ExecContext(ctx, cancelled, tid, id); err != nil {
				return err
			}
			a, err = AttemptByID(ctx, tx, tid, id)
			return err
		}
		var txAt time.Time
		if t, err := time.ParseInLocation("020120061504", fields["dattrans"]+fields["heurtrans"], tenant.Paris); err == nil {
			txAt = t
		}
		o := outcome{status: st, resultrans: strings.ToUpper(fields["resultrans"]), numauto: fields["numauto"], transactionAt: txAt, amount: amount}
		if done, err = settle(ctx, tx, s.Jobs, locked, o, now); err != nil {
			return err
		}
		a, err = AttemptByID(ctx, tx, tid, id)
		return err
	})
	if err == nil {
		done.count()
	}
	return a, err
}

// ownerFindTIPIAttempt finds the TIPI attempt a result is about, by client
// number, reference and amount, among attempts of the same kind (saisie T
// or not; any when saisie is empty): the oldest pending one, else the
// latest. Owner-level on purpose: TIPI posts to the platform's one host.
func ownerFindTIPIAttempt(ctx context.Context, db *sqlx.DB, numcli, refdet string, amount int64, saisie string) (tenant.ID, int64, error) {
	var row struct {
		TenantID tenant.ID `db:"tenant_id"`
		ID       int64     `db:"id"`
	}
	err := db.GetContext(ctx, &row, `SELECT tenant_id, id FROM payment_attempts
		WHERE protocol = 'tipi' AND numcli = $1 AND refdet = $2 AND amount_cents = $3
		  AND ($4 = '' OR (saisie = 'T') = ($4 = 'T'))
		ORDER BY status <> 'pending', CASE WHEN status = 'pending' THEN created_at END, created_at DESC, id DESC
		LIMIT 1`, numcli, refdet, amount, saisie)
	return row.TenantID, row.ID, mapErr(err)
}

// TIPIAttemptCommune returns the commune and invoice of an attempt, for the
// payer's browser coming back through the TIPI result address. Owner-level
// on purpose: that address is on the platform's host; attempt ids are
// global, and the answer is only where to send the browser.
func TIPIAttemptCommune(ctx context.Context, db *sqlx.DB, attemptID int64) (tenant.ID, int64, error) {
	var row struct {
		TenantID  tenant.ID `db:"tenant_id"`
		InvoiceID int64     `db:"invoice_id"`
	}
	err := db.GetContext(ctx, &row, `SELECT tenant_id, invoice_id FROM payment_attempts WHERE id = $1 AND protocol = 'tipi'`, attemptID)
	return row.TenantID, row.InvoiceID, mapErr(err)
}
