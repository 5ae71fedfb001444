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
// when numcli, refdet and montant match a pending TIPI attempt; it returns
// ErrNotFound otherwise (a forged or unknown result), and the attempt it
// settled otherwise.
func (s *Service) TIPIResult(ctx context.Context, fields map[string]string) (Attempt, error) {
	numcli, refdet := fields["numcli"], fields["refdet"]
	amount, err := strconv.ParseInt(fields["montant"], 10, 64)
	if err != nil || numcli == "" || refdet == "" {
		return Attempt{}, ErrNotFound
	}
	tid, id, err := ownerFindTIPIAttempt(ctx, s.DB, numcli, refdet, amount)
	if err != nil {
		return Attempt{}, err
	}
	now := s.now()
	var a Attempt
	err = tenant.WithTx(ctx, s.DB, tid, func(tx *sqlx.Tx) error {
		locked, err := lockAttempt(ctx, tx, tid, id)
		if err != nil {
			return err
		}
		if err := record(ctx, tx, locked, "tipi", fields, now); err != nil {
			return err
		}
		st := Failed
		switch strings.ToUpper(fields["resultrans"]) {
		case "P", "V":
			st = Paid
		case "R", "Z":
			st = Refused
		case "A":
			st = Abandoned
		}
		if got := strings.ToUpper(fields["saisie"]); got != "" && (got == "T") != (locked.Saisie == "T") {
			// a real payment claimed for a test attempt, or the reverse:
			// DGFiP does not do that; keep what was posted, change nothing
			a = locked
			return nil
		}
		var txAt time.Time
		if t, err := time.ParseInLocation("020120061504", fields["dattrans"]+fields["heurtrans"], tenant.Paris); err == nil {
			txAt = t
		}
		o := outcome{status: st, resultrans: strings.ToUpper(fields["resultrans"]), numauto: fields["numauto"], transactionAt: txAt, amount: amount}
		if _, err := settle(ctx, tx, s.Jobs, locked, o, now); err != nil {
			return err
		}
		a, err = AttemptByID(ctx, tx, tid, id)
		return err
	})
	return a, err
}

// ownerFindTIPIAttempt finds the pending TIPI attempt a result is about, by
// client number, reference and amount: the oldest when there are several.
// Owner-level on purpose: TIPI posts to the platform's one host.
func ownerFindTIPIAttempt(ctx context.Context, db *sqlx.DB, numcli, refdet string, amount int64) (tenant.ID, int64, error) {
	var row struct {
		TenantID tenant.ID `db:"tenant_id"`
		ID       int64     `db:"id"`
	}
	err := db.GetContext(ctx, &row, `SELECT tenant_id, id FROM payment_attempts
		WHERE protocol = 'tipi' AND status = 'pending' AND numcli = $1 AND refdet = $2 AND amount_cents = $3
		ORDER BY created_at, id LIMIT 1`, numcli, refdet, amount)
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
