package billing

import (
	"context"
	"errors"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/tenant"
)

// FamilyDetails are what staff may correct of a family by hand: its name and
// postal address. (The next import that lists the family sets them again
// from the file.)
type FamilyDetails struct {
	Name       string `json:"name"`
	Address    string `json:"address"`
	PostalCode string `json:"postal_code"`
	City       string `json:"city"`
}

// Details returns the family's name and postal address.
func (f Family) Details() FamilyDetails {
	return FamilyDetails{Name: f.Name, Address: f.Address, PostalCode: f.PostalCode, City: f.City}
}

// UpdateFamilyDetails corrects a family's name and postal address, with
// the row locked, and returns the values before and after. It returns
// ErrNotFound, or a *ValidationError (Field "nom" or "adresse").
func UpdateFamilyDetails(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, id int64, d FamilyDetails) (before, after FamilyDetails, err error) {
	d = FamilyDetails{Name: strings.TrimSpace(d.Name), Address: strings.TrimSpace(d.Address),
		PostalCode: strings.TrimSpace(d.PostalCode), City: strings.TrimSpace(d.City)}
	const lock = `SELECT ` + familyColumns + ` FROM families WHERE tenant_id = $1 AND id = $2 FOR UPDATE`
	var f Family
	if err := sqlx.GetContext(ctx, q, &f, lock, tid, id); err != nil {
		return before, after, mapErr(err)
	}
	before = f.Details()
	changed := Family{Ref: f.Ref, Name: d.Name, Address: d.Address, PostalCode: d.PostalCode, City: d.City}
	if err := changed.Validate(); err != nil {
		return before, after, err
	}
	const upd = `UPDATE families SET name = $3, address = $4, postal_code = $5, city = $6, updated_at = now()
		WHERE tenant_id = $1 AND id = $2`
	if _, err := q.ExecContext(ctx, upd, tid, id, d.Name, d.Address, d.PostalCode, d.City); err != nil {
		return before, after, mapErr(err)
	}
	return before, d, nil
}

// AddFamilyEmail adds a (normalised) address to a family. It returns
// ErrConflict when the family already lists it, ErrNotFound when there is
// no such family.
func AddFamilyEmail(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, familyID int64, email string) error {
	const ins = `INSERT INTO family_emails (tenant_id, family_id, email)
		SELECT tenant_id, id, $3 FROM families WHERE tenant_id = $1 AND id = $2
		ON CONFLICT DO NOTHING RETURNING email`
	var got string
	err := sqlx.GetContext(ctx, q, &got, ins, tid, familyID, email)
	if errors.Is(mapErr(err), ErrNotFound) {
		// nothing inserted: the address was there, or the family is not
		if _, ferr := FamilyByID(ctx, q, tid, familyID); ferr != nil {
			return ferr
		}
		return ErrConflict
	}
	return mapErr(err)
}

// RemoveFamilyEmail takes an address off a family. The account of the
// address, if any, stays: it may serve other families. It returns
// ErrNotFound when the family does not list the address.
func RemoveFamilyEmail(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, familyID int64, email string) error {
	const del = `DELETE FROM family_emails WHERE tenant_id = $1 AND family_id = $2 AND email = $3`
	res, err := q.ExecContext(ctx, del, tid, familyID, email)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// ReplaceFamilyEmail corrects an address of a family in place (a typo in
// the file). It returns ErrNotFound when the family does not list old,
// ErrConflict when it already lists repl.
func ReplaceFamilyEmail(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, familyID int64, old, repl string) error {
	const upd = `UPDATE family_emails SET email = $4 WHERE tenant_id = $1 AND family_id = $2 AND email = $3`
	res, err := q.ExecContext(ctx, upd, tid, familyID, old, repl)
	if err != nil {
		return mapErr(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}
