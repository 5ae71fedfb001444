package billing

import (
	"context"
	"database/sql"
	"errors"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/regie/regie/tenant"
)

const familyColumns = `tenant_id, id, ref, name, address, postal_code, city, created_at, updated_at`

// SaveFamily creates the family with f.Ref or updates its name, address and
// e-mail addresses (the list replaces the old one). It returns the stored
// family.
func SaveFamily(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, f Family) (Family, error) {
	if err := f.Validate(); err != nil {
		return Family{}, err
	}
	const upsert = `INSERT INTO families (tenant_id, ref, name, address, postal_code, city)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (tenant_id, ref) DO UPDATE
		SET name = excluded.name, address = excluded.address, postal_code = excluded.postal_code,
			city = excluded.city, updated_at = now()
		WHERE (families.name, families.address, families.postal_code, families.city)
			IS DISTINCT FROM (excluded.name, excluded.address, excluded.postal_code, excluded.city)
		RETURNING ` + familyColumns
	var out Family
	err := sqlx.GetContext(ctx, q, &out, upsert, tid, f.Ref, f.Name, f.Address, f.PostalCode, f.City)
	if errors.Is(err, sql.ErrNoRows) {
		// the family exists unchanged: the WHERE skipped the update
		out, err = FamilyByRef(ctx, q, tid, f.Ref)
	}
	if err != nil {
		return Family{}, mapErr(err)
	}
	const syncEmails = `WITH wanted AS (SELECT unnest($3::text[]) AS email),
		gone AS (DELETE FROM family_emails WHERE tenant_id = $1 AND family_id = $2
			AND email NOT IN (SELECT email FROM wanted))
		INSERT INTO family_emails (tenant_id, family_id, email)
		SELECT $1, $2, email FROM wanted ON CONFLICT DO NOTHING`
	if _, err := q.ExecContext(ctx, syncEmails, tid, out.ID, pq.StringArray(f.Emails)); err != nil {
		return Family{}, mapErr(err)
	}
	out.Emails = append([]string(nil), f.Emails...)
	return out, nil
}

// FamilyByRef returns the family with the commune's family id ref, with its
// addresses.
func FamilyByRef(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, ref string) (Family, error) {
	const sel = `SELECT ` + familyColumns + ` FROM families WHERE tenant_id = $1 AND ref = $2`
	var f Family
	if err := sqlx.GetContext(ctx, q, &f, sel, tid, ref); err != nil {
		return Family{}, mapErr(err)
	}
	return f, loadEmails(ctx, q, tid, []*Family{&f})
}

// FamilyByID returns a family with its addresses.
func FamilyByID(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, id int64) (Family, error) {
	const sel = `SELECT ` + familyColumns + ` FROM families WHERE tenant_id = $1 AND id = $2`
	var f Family
	if err := sqlx.GetContext(ctx, q, &f, sel, tid, id); err != nil {
		return Family{}, mapErr(err)
	}
	return f, loadEmails(ctx, q, tid, []*Family{&f})
}

// FamiliesByEmail returns the families of the commune that list the
// (normalised) address, by name: what an account with that address sees.
func FamiliesByEmail(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, email string) ([]Family, error) {
	const sel = `SELECT f.tenant_id, f.id, f.ref, f.name, f.address, f.postal_code, f.city, f.created_at, f.updated_at
		FROM family_emails e JOIN families f ON f.tenant_id = e.tenant_id AND f.id = e.family_id
		WHERE e.tenant_id = $1 AND e.email = $2
		ORDER BY f.name, f.id`
	var fs []Family
	if err := sqlx.SelectContext(ctx, q, &fs, sel, tid, email); err != nil {
		return nil, err
	}
	ptrs := make([]*Family, len(fs))
	for i := range fs {
		ptrs[i] = &fs[i]
	}
	return fs, loadEmails(ctx, q, tid, ptrs)
}

// EmailKnown reports whether a family of the commune lists the (normalised)
// address.
func EmailKnown(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, email string) (bool, error) {
	const sel = `SELECT EXISTS (SELECT 1 FROM family_emails WHERE tenant_id = $1 AND email = $2)`
	var ok bool
	err := sqlx.GetContext(ctx, q, &ok, sel, tid, email)
	return ok, err
}

// loadEmails fills the addresses of several families in one query.
func loadEmails(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, fs []*Family) error {
	if len(fs) == 0 {
		return nil
	}
	ids := make([]int64, len(fs))
	byID := map[int64]*Family{}
	for i, f := range fs {
		ids[i] = f.ID
		byID[f.ID] = f
		f.Emails = nil
	}
	const sel = `SELECT family_id, email FROM family_emails
		WHERE tenant_id = $1 AND family_id = ANY($2) ORDER BY created_at, email`
	var rows []struct {
		FamilyID int64  `db:"family_id"`
		Email    string `db:"email"`
	}
	if err := sqlx.SelectContext(ctx, q, &rows, sel, tid, pq.Int64Array(ids)); err != nil {
		return err
	}
	for _, r := range rows {
		byID[r.FamilyID].Emails = append(byID[r.FamilyID].Emails, r.Email)
	}
	return nil
}
