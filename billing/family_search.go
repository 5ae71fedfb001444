package billing

import (
	"context"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/tenant"
)

// FamilySearch is what the back office asks of its family search.
type FamilySearch struct {
	// Query is part of a name (accents, case and punctuation ignored), a
	// family id or its start (case ignored), or a whole e-mail address. Empty lists every
	// family.
	Query  string
	Limit  int
	Offset int
}

// SearchFamilies returns one page of the commune's families matching the
// search, with their addresses, and how many match in all. A family id
// typed exactly comes first, then families by name.
//
// Under row-level security no index can serve a substring (LIKE is not
// leakproof, see migration 00007), so the query filters the commune's
// families on their stored folded name in one pass, the address through
// family_emails_by_email; the addresses of the page come in one more
// query.
func SearchFamilies(ctx context.Context, q sqlx.ExtContext, tid tenant.ID, s FamilySearch) ([]Family, int, error) {
	query := strings.TrimSpace(s.Query)
	if s.Limit <= 0 {
		s.Limit = 50
	}
	var rows []struct {
		Family
		Total int `db:"total"`
	}
	if query == "" {
		const all = `SELECT ` + familyColumns + `, count(*) OVER () AS total FROM families
			WHERE tenant_id = $1 ORDER BY name, id LIMIT $2 OFFSET $3`
		if err := sqlx.SelectContext(ctx, q, &rows, all, tid, s.Limit, s.Offset); err != nil {
			return nil, 0, err
		}
	} else {
		// An address is looked up whole; anything else cannot be one (the
		// column's check wants an @), so "" matches nothing. family_fold
		// leaves letters, digits and spaces only: no LIKE wildcard survives
		// in the name pattern.
		email, _ := NormalizeEmail(query)
		lowered := strings.ToLower(query)
		const sel = `SELECT ` + familyColumns + `, count(*) OVER () AS total FROM families
			WHERE tenant_id = $1 AND (
				family_fold($2) <> '' AND search_name LIKE '%' || family_fold($2) || '%'
				OR lower(ref) LIKE $3
				OR id IN (SELECT family_id FROM family_emails WHERE tenant_id = $1 AND email = $4))
			ORDER BY lower(ref) = $5 DESC, name, id
			LIMIT $6 OFFSET $7`
		if err := sqlx.SelectContext(ctx, q, &rows, sel, tid, query, escapeLike(lowered)+"%", email, lowered, s.Limit, s.Offset); err != nil {
			return nil, 0, err
		}
	}
	out := make([]Family, len(rows))
	ptrs := make([]*Family, len(rows))
	total := 0
	for i := range rows {
		out[i] = rows[i].Family
		ptrs[i] = &out[i]
		total = rows[i].Total
	}
	return out, total, loadEmails(ctx, q, tid, ptrs)
}

// escapeLike makes s match itself in a LIKE pattern (backslash is LIKE's
// default escape).
func escapeLike(s string) string {
	return likeEscaper.Replace(s)
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
