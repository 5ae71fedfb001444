package billing

import (
	"context"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/tenant"
)

const seriesColumns = `tenant_id, id, code, label, pattern, numcli, next_number, created_at, updated_at`

// CreateSeries stores a new series. It returns a *ValidationError for bad
// fields and ErrConflict when the code exists.
func CreateSeries(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, s Series) (Series, error) {
	if s.NextNumber == 0 {
		s.NextNumber = 1
	}
	if err := s.Validate(); err != nil {
		return Series{}, err
	}
	const ins = `INSERT INTO series (tenant_id, code, label, pattern, numcli, next_number)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING ` + seriesColumns
	var out Series
	err := sqlx.GetContext(ctx, q, &out, ins, tid, s.Code, s.Label, s.Pattern, s.Numcli, s.NextNumber)
	return out, mapErr(err)
}

// SeriesByCode returns the series with that code.
func SeriesByCode(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, code string) (Series, error) {
	const sel = `SELECT ` + seriesColumns + ` FROM series WHERE tenant_id = $1 AND code = $2`
	var s Series
	err := sqlx.GetContext(ctx, q, &s, sel, tid, code)
	return s, mapErr(err)
}

// ListSeries returns the commune's series by code.
func ListSeries(ctx context.Context, q sqlx.ExtContext, tid tenant.ID) ([]Series, error) {
	const sel = `SELECT ` + seriesColumns + ` FROM series WHERE tenant_id = $1 ORDER BY code`
	var ss []Series
	err := sqlx.SelectContext(ctx, q, &ss, sel, tid)
	return ss, err
}

// reserveNumbers takes the next n numbers of a series and returns the first.
// The row stays locked until the transaction ends, so concurrent publishers
// queue here; a rolled-back transaction gives its numbers back, which keeps
// the numbering gapless.
func reserveNumbers(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, seriesID int64, n int) (int64, error) {
	const upd = `UPDATE series SET next_number = next_number + $3, updated_at = now()
		WHERE tenant_id = $1 AND id = $2 RETURNING next_number - $3`
	var first int64
	err := sqlx.GetContext(ctx, q, &first, upd, tid, seriesID, n)
	return first, mapErr(err)
}

// SeriesByID returns a series.
func SeriesByID(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, id int64) (Series, error) {
	const sel = `SELECT ` + seriesColumns + ` FROM series WHERE tenant_id = $1 AND id = $2`
	var s Series
	err := sqlx.GetContext(ctx, q, &s, sel, tid, id)
	return s, mapErr(err)
}
