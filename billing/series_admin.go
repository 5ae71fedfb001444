package billing

import (
	"context"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/tenant"
)

// SeriesChange is what staff may change in a series. Its code is fixed:
// invoices and imports name the series by it.
type SeriesChange struct {
	Label      string
	Pattern    string
	Numcli     *string // nil: the commune's
	NextNumber int64
}

// UpdateSeries changes a series' label, pattern, numcli and next number,
// and returns the series before and after. The row is locked like a
// publication locks it, so the next number is compared with the one in
// force: it may stay or move forward, never back, since numbers already
// given must never be given again. It returns a *ValidationError for bad
// fields (field "next" for a number that goes back) and ErrNotFound for a
// series of another commune or none.
func UpdateSeries(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, id int64, ch SeriesChange) (before, after Series, err error) {
	const sel = `SELECT ` + seriesColumns + ` FROM series WHERE tenant_id = $1 AND id = $2 FOR UPDATE`
	if err := sqlx.GetContext(ctx, q, &before, sel, tid, id); err != nil {
		return Series{}, Series{}, mapErr(err)
	}
	next := before
	next.Label = strings.TrimSpace(ch.Label)
	next.Pattern = strings.TrimSpace(ch.Pattern)
	next.Numcli = ch.Numcli
	next.NextNumber = ch.NextNumber
	if ch.NextNumber >= 1 && ch.NextNumber < before.NextNumber {
		return before, Series{}, &ValidationError{"next", fmt.Sprintf(
			"le prochain numéro ne peut qu'avancer : les numéros jusqu'à %d ont déjà pu être donnés (saisissez %d ou plus)",
			before.NextNumber-1, before.NextNumber)}
	}
	if err := next.Validate(); err != nil {
		return before, Series{}, err
	}
	const upd = `UPDATE series SET label = $3, pattern = $4, numcli = $5, next_number = $6, updated_at = now()
		WHERE tenant_id = $1 AND id = $2 RETURNING ` + seriesColumns
	err = sqlx.GetContext(ctx, q, &after, upd, tid, id, next.Label, next.Pattern, next.Numcli, next.NextNumber)
	return before, after, mapErr(err)
}
