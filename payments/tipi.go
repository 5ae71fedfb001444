package payments

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/tenant"
)

// TIPIPost is a TIPI result as DGFiP's server posts it back, read by
// ParseTIPIResult.
type TIPIPost struct {
	Numcli     string
	Refdet     string
	Amount     int64  // cents, positive
	Saisie     string // upper-cased; "" when absent
	Resultrans string // upper-cased
	// Status is what the result says: Paid (P, V), Refused (R, Z), Pending
	// for an abandon (A: the payer may still come back and pay), Failed
	// for any other code.
	Status        Status
	Numauto       string
	TransactionAt time.Time // zero when dattrans or heurtrans is absent or unreadable
}

// ErrBadTIPIResult is a TIPI result that cannot be read: a field given
// twice with different values, a missing or malformed client number,
// reference or amount, no result code, or a value that is not text.
var ErrBadTIPIResult = errors.New("payments: malformed TIPI result")

// TIPIFields folds the parameters of a TIPI result (query and form) into
// one value per lower-cased name. A name given twice (in any case) with
// different values, or a value that is not valid UTF-8 or holds a NUL,
// makes the whole result ErrBadTIPIResult: an ambiguous result is never
// believed. Names of 32 bytes or more, or not ASCII, are ignored.
func TIPIFields(form url.Values) (map[string]string, error) {
	fields := map[string]string{}
	for k, vs := range form {
		if len(k) >= 32 || !isASCII(k) {
			continue // not a name of DGFiP's
		}
		k = strings.ToLower(k)
		for _, v := range vs {
			if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
				return nil, fmt.Errorf("%w: field %q is not text", ErrBadTIPIResult, k)
			}
			if old, ok := fields[k]; ok && old != v {
				return nil, fmt.Errorf("%w: field %q given twice", ErrBadTIPIResult, k)
			}
			fields[k] = v
		}
	}
	return fields, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

var (
	tipiNumcliRe = regexp.MustCompile(`^[0-9]{5,6}$`) // PAYFIP.md's samples have 5 digits
	tipiRefdetRe = regexp.MustCompile(`^[A-Za-z0-9]{6,30}$`)
	tipiAmountRe = regexp.MustCompile(`^[1-9][0-9]{0,14}$`)
	tipiDateRe   = regexp.MustCompile(`^[0-9]{8}$`)
	tipiHourRe   = regexp.MustCompile(`^[0-9]{4}$`)
)

// ParseTIPIResult reads a TIPI result's fields (names lower-cased, as
// TIPIFields gives them): numcli (digits), refdet (6 to 30 letters or
// digits), montant (positive cents, digits only: no sign, no leading zero)
// and resultrans are required, else ErrBadTIPIResult; saisie, numauto,
// dattrans (DDMMYYYY) and heurtrans (HHMM, Paris time) are optional.
func ParseTIPIResult(fields map[string]string) (TIPIPost, error) {
	p := TIPIPost{Numcli: fields["numcli"], Refdet: fields["refdet"], Saisie: strings.ToUpper(fields["saisie"]),
		Resultrans: strings.ToUpper(fields["resultrans"]), Numauto: fields["numauto"]}
	switch {
	case !tipiNumcliRe.MatchString(p.Numcli):
		return TIPIPost{}, fmt.Errorf("%w: numcli %q", ErrBadTIPIResult, p.Numcli)
	case !tipiRefdetRe.MatchString(p.Refdet):
		return TIPIPost{}, fmt.Errorf("%w: refdet %q", ErrBadTIPIResult, p.Refdet)
	case !tipiAmountRe.MatchString(fields["montant"]):
		return TIPIPost{}, fmt.Errorf("%w: montant %q", ErrBadTIPIResult, fields["montant"])
	case p.Resultrans == "":
		return TIPIPost{}, fmt.Errorf("%w: no resultrans", ErrBadTIPIResult)
	}
	p.Amount, _ = strconv.ParseInt(fields["montant"], 10, 64) // 15 digits at most: no overflow
	switch p.Resultrans {
	case "P", "V":
		p.Status = Paid
	case "R", "Z":
		p.Status = Refused
	case "A":
		p.Status = Pending
	default:
		p.Status = Failed
	}
	d, h := fields["dattrans"], fields["heurtrans"]
	if tipiDateRe.MatchString(d) && tipiHourRe.MatchString(h) {
		// a time that does not exist in Paris (the hour skipped in spring)
		// would be moved: unreadable
		if t, err := time.ParseInLocation("020120061504", d+h, tenant.Paris); err == nil && t.Format("020120061504") == d+h {
			p.TransactionAt = t
		}
	}
	return p, nil
}

// TIPIResult handles a result posted by DGFiP's TIPI server (unsigned).
// fields are the posted parameters, names lower-cased (TIPIFields). It is
// believed only when numcli, refdet and montant match a TIPI attempt of the
// same kind (test or real) — a pending one, else the latest, whose log then
// keeps the post without changing anything; it returns ErrNotFound when
// nothing matches (a forged or unknown result) or the result cannot be
// read (ParseTIPIResult), and the attempt otherwise. An abandon (A) keeps
// the attempt pending, marked cancelled by the payer, as the payer may
// still come back and pay within DGFiP's 20 minutes.
func (s *Service) TIPIResult(ctx context.Context, fields map[string]string) (Attempt, error) {
	post, err := ParseTIPIResult(fields)
	if err != nil {
		return Attempt{}, errors.Join(ErrNotFound, err)
	}
	tid, id, err := ownerFindTIPIAttempt(ctx, s.DB, post.Numcli, post.Refdet, post.Amount, post.Saisie)
	if err != nil {
		return Attempt{}, err
	}
	now := s.now()
	var a Attempt
	var done settled
	err = tenant.WithTx(ctx, s.DB, tid, func(tx *sqlx.Tx) error {
		locked, err := record(ctx, tx, tid, id, []note{{At: now, Source: "tipi", Fields: fields}}, 0, now)
		if err != nil {
			return err
		}
		if locked.Status.Final() {
			a = locked // a duplicate or late post: kept in the log only
			return nil
		}
		if post.Resultrans == "A" {
			const cancelled = `UPDATE payment_attempts SET returned_cancelled = true WHERE tenant_id = $1 AND id = $2`
			if _, err := tx.ExecContext(ctx, cancelled, tid, id); err != nil {
				return err
			}
			a, err = AttemptByID(ctx, tx, tid, id)
			return err
		}
		o := outcome{status: post.Status, resultrans: post.Resultrans, numauto: post.Numauto, transactionAt: post.TransactionAt, amount: post.Amount}
		if done, err = settle(ctx, tx, s.Jobs, locked, o, now); err != nil {
			return err
		}
		a = locked
		if done.attempt != nil {
			a = *done.attempt
		}
		return nil
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
