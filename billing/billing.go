// Package billing owns what a commune bills: families and their e-mail
// addresses, invoice series and numbering, invoices and their lines, the CSV
// import, publishing and cancellation, PDF rendering (billing/pdf) and
// document storage (billing/docstore).
//
// Every function that reads or writes a commune's data takes the commune
// explicitly and a sqlx.ExtContext, which is the transaction of
// tenant.WithTx: atomic work that spans packages shares one transaction.
package billing

import (
	"database/sql"
	"errors"
	"fmt"

	"github.com/lib/pq"
)

// Errors of the package.
var (
	// ErrNotFound means no such row in this commune.
	ErrNotFound = errors.New("billing: not found")
	// ErrConflict means a unique value (family id, reference) is taken.
	ErrConflict = errors.New("billing: conflict")
)

// ValidationError is a rejected value, with a French message for the person
// who typed or imported it.
type ValidationError struct {
	Field   string
	Message string
}

func (e *ValidationError) Error() string { return e.Field + " : " + e.Message }

// mapErr turns driver errors into the package's errors, in one place.
func mapErr(err error) error {
	var pqErr *pq.Error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return ErrNotFound
	case errors.As(err, &pqErr) && pqErr.Code == "23505":
		return fmt.Errorf("%w (%s)", ErrConflict, pqErr.Constraint)
	}
	return err
}
