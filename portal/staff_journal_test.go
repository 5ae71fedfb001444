package portal

import (
	"encoding/csv"
	"fmt"
	"html"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"

	"github.com/regie/regie/migrations/dbtest"
	"github.com/regie/regie/portal/staff"
	"github.com/regie/regie/tenant"
	"github.com/regie/regie/tenant/tenanttest"
)

var tbodyRe = regexp.MustCompile(`(?s)<tbody>(.*?)</tbody>`)

// journalRows returns the rows of the journal's table, as HTML.
func journalRows(body string) []string {
	m := tbodyRe.FindStringSubmatch(body)
	if m == nil {
		return nil
	}
	parts := strings.Split(m[1], "<tr")
	return parts[1:]
}

func TestJournal(t *testing.T) {
	e := sharedEnv(t)
	db := dbtest.DB(t)
	sc := newMoneyScenario(t, e, "jrnl")
	other := tenanttest.MustCreate(t, db, "jrnlb")
	publishCSV(t, e, other, "B1;Famille Ailleurs;"+uniqueAddr(t, "ailleurs")+";2 rue;84570;Villes;RS;01/2026;Repas;33;3,00;15/12/2099")
	b := staffLogin(t, e, sc.tn, newMember(t, e, sc.tn, staff.Agent, false))
	oldDay := sc.old.Format(time.DateOnly)

	t.Run("Everything", func(t *testing.T) {
		res, body := b.get("/gestion/paiements")
		expect(t, res, body, http.StatusOK, "")
		rows := journalRows(body)
		// 2 attempts, 7 payments, 2 overpayments
		if len(rows) != 11 {
			t.Fatalf("%d rows, want 11:\n%s", len(rows), body)
		}
		for _, w := range []string{
			"montant différent : 5,00\u00a0€ reçus pour une facture de 15,00\u00a0€",
			"trop-perçu, la facture était déjà payée : somme à rendre à la famille.",
			"paiement d'une facture annulée : somme à rendre à la famille.",
			"Note : =1+1 rendu en espèces", "Famille Hélène Lefèvre", "Chèque", "Espèces", "Carte bancaire",
			`=HYPERLINK(&#34;http://evil.example/?x&#34;;&#34;Cliquez ici&#34;)`,
			"<caption>", `<th scope="col" class="num">Montant</th>`, `href="/gestion/paiements.csv"`,
		} {
			if !strings.Contains(body, w) && !strings.Contains(html.UnescapeString(body), w) {
				t.Errorf("journal lacks %q", w)
			}
		}
		if n := strings.Count(body, `<tr class="anomaly">`); n != 5 {
			t.Errorf("%d rows flagged, want 5 (3 payments, 2 overpayments)", n)
		}
		if n := strings.Count(body, `<span class="badge test">test</span>`); n != 2 {
			t.Errorf("%d test badges, want 2 (D4's attempt and payment)", n)
		}
		// newest first: D7's payment, three months old, comes last
		if !strings.Contains(rows[len(rows)-1], sc.refs["D7"]) {
			t.Errorf("last row is not D7's old payment: %s", rows[len(rows)-1])
		}
		if strings.Contains(body, "Ailleurs") {
			t.Error("commune B's payment shows in A's journal")
		}
	})
	t.Run("Filters", func(t *testing.T) {
		for _, c := range []struct {
			query string
			rows  int
			want  []string // each row contains one of these
		}{
			{"mode=test", 2, []string{`badge test`}},
			{"mode=reel", 9, nil},
			{"statut=anomalie", 5, []string{"Anomalie :"}},
			{"statut=applique", 4, []string{"Appliqué"}},
			{"statut=paid", 2, []string{"Tentative"}},
			{"statut=refused", 0, nil},
			{"canal=guichet", 7, []string{"Guichet"}},
			{"canal=en-ligne", 4, []string{"En ligne"}},
			{"canal=en-ligne&mode=reel", 2, []string{"Famille Martin"}},
			{"du=" + oldDay + "&au=" + oldDay, 1, []string{sc.refs["D7"]}},
			{"du=" + sc.old.Format("02/01/2006") + "&au=" + sc.old.Format("02/01/2006"), 1, []string{sc.refs["D7"]}},
			{"au=" + sc.old.AddDate(0, 0, -1).Format(time.DateOnly), 0, nil},
			{"du=" + time.Now().In(tenant.Paris).Format(time.DateOnly) + "&statut=anomalie&canal=guichet", 5, []string{"Anomalie :"}},
		} {
			res, body := b.get("/gestion/paiements?" + c.query)
			expect(t, res, body, http.StatusOK, "")
			rows := journalRows(body)
			if len(rows) != c.rows {
				t.Errorf("%s: %d rows, want %d", c.query, len(rows), c.rows)
				continue
			}
			for _, r := range rows {
				if len(c.want) > 0 && !strings.Contains(r, c.want[0]) {
					t.Errorf("%s: row lacks %q: %s", c.query, c.want[0], r)
				}
			}
			if c.rows == 0 && !strings.Contains(body, "Aucune opération ne correspond à ces filtres.") {
				t.Errorf("%s: no word for an empty selection", c.query)
			}
		}
	})
	t.Run("BadFilters", func(t *testing.T) {
		for query, msg := range map[string]string{
			"du=31/02/2026":                  "Date invalide",
			"du=2026-03-02&au=2026-03-01":    "La date de fin doit être",
			"statut=supprime":                "État inconnu",
			"mode=faux":                      "Mode inconnu",
			"canal=pigeon":                   "Canal inconnu",
			"du=demain&au=2026-01-01&mode=x": "Date invalide",
		} {
			for _, path := range []string{"/gestion/paiements?", "/gestion/paiements.csv?"} {
				res, body := b.get(path + query)
				expect(t, res, body, http.StatusUnprocessableEntity, "")
				if !strings.Contains(body, msg) || !strings.Contains(body, `aria-invalid="true"`) {
					t.Errorf("%s%s: the page lacks %q next to its field", path, query, msg)
				}
			}
		}
	})
	t.Run("EveryRole", func(t *testing.T) {
		for _, role := range staff.Roles {
			rb := staffLogin(t, e, sc.tn, newMember(t, e, sc.tn, role, false))
			for _, path := range []string{"/gestion/paiements", "/gestion/paiements.csv"} {
				res, body := rb.get(path)
				expect(t, res, body, http.StatusOK, "")
			}
		}
	})
	t.Run("OtherCommune", func(t *testing.T) {
		ob := staffLogin(t, e, other, newMember(t, e, other, staff.Admin, false))
		res, body := ob.get("/gestion/paiements")
		expect(t, res, body, http.StatusOK, "")
		if len(journalRows(body)) != 0 || !strings.Contains(body, "Aucune opération") {
			t.Errorf("B's journal shows rows:\n%s", body)
		}
		res, body = ob.get("/gestion/paiements.csv")
		expect(t, res, body, http.StatusOK, "")
		for _, leak := range []string{"Martin", "Lefèvre", "HYPERLINK", "Noir", "Leroy"} {
			if strings.Contains(body, leak) || strings.Contains(charmapDecode(t, body), leak) {
				t.Errorf("B's export shows A's %q", leak)
			}
		}
		// A's staff cookie is not sent to B's host, nor would B take it
		res, body = b.on(other).get("/gestion/paiements.csv")
		expect(t, res, body, http.StatusSeeOther, "/gestion/connexion?next=%2Fgestion%2Fpaiements.csv")
	})
	t.Run("Pages", func(t *testing.T) {
		// 55 abandoned attempts of 2001: 66 entries in all
		db.MustExec(`INSERT INTO payment_attempts (tenant_id, invoice_id, protocol, mode, saisie, numcli, refdet, exer, amount_cents,
				payer_email, status, created_at, updated_at)
			SELECT $1, $2, 'payfip', 'production', 'W', '001964', 'ABANDON1', 2026, 1000, 'a@exemple.fr', 'abandoned', t, t
			FROM generate_series(1, 55) g, LATERAL (SELECT timestamptz '2001-01-01 12:00Z' + g * interval '1 hour' AS t) x`, sc.tn.ID, sc.ids["D3"])
		res, body := b.get("/gestion/paiements")
		expect(t, res, body, http.StatusOK, "")
		if n := len(journalRows(body)); n != journalPerPage || !strings.Contains(body, `href="/gestion/paiements?page=2" rel="next"`) ||
			strings.Contains(body, `rel="prev"`) {
			t.Fatalf("first page: %d rows, or no link to the next", n)
		}
		_, body = b.get("/gestion/paiements?page=2")
		if n := len(journalRows(body)); n != 16 || !strings.Contains(body, `href="/gestion/paiements" rel="prev"`) || strings.Contains(body, `rel="next"`) {
			t.Fatalf("second page: %d rows, want 16, a link back and none forward", n)
		}
		_, body = b.get("/gestion/paiements?statut=abandoned")
		if n := len(journalRows(body)); n != journalPerPage || !strings.Contains(body, `href="/gestion/paiements?page=2&amp;statut=abandoned"`) {
			t.Fatalf("filtered first page: %d rows, or the next link lost the filter", n)
		}
		_, body = b.get("/gestion/paiements?page=2&statut=abandoned")
		if rows := journalRows(body); len(rows) != 5 || !strings.Contains(rows[4], "01/01/2001 14h00") {
			t.Fatalf("filtered second page: %d rows, the oldest last", len(rows))
		}
	})
}

func charmapDecode(t *testing.T, body string) string {
	t.Helper()
	s, err := charmap.Windows1252.NewDecoder().String(body)
	if err != nil {
		t.Fatalf("decode Windows-1252: %v", err)
	}
	return s
}

// readExport decodes an export as Excel would: Windows-1252, ";", CRLF.
func readExport(t *testing.T, res *http.Response, body string) [][]string {
	t.Helper()
	if ct := res.Header.Get("Content-Type"); ct != "text/csv; charset=windows-1252" {
		t.Fatalf("Content-Type %q", ct)
	}
	if strings.Count(body, "\n") != strings.Count(body, "\r\n") || !strings.HasSuffix(body, "\r\n") {
		t.Fatal("lines do not all end with CRLF")
	}
	text := charmapDecode(t, body)
	r := csv.NewReader(strings.NewReader(text))
	r.Comma = ';'
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatalf("read the export: %v\n%s", err, text)
	}
	if strings.Join(recs[0], ";") != "date;heure;référence;refdet;exercice;montant;numauto;idOp;mode;résultat;famille" {
		t.Fatalf("header %q", recs[0])
	}
	return recs[1:]
}

// exportTotal sums the montant column, in cents.
func exportTotal(t *testing.T, recs [][]string) int64 {
	t.Helper()
	var sum int64
	for _, r := range recs {
		if !regexp.MustCompile(`^[0-9]+,[0-9]{2}$`).MatchString(r[5]) {
			t.Fatalf("montant %q is not a number Excel FR reads", r[5])
		}
		n, _ := strconv.ParseInt(strings.Replace(r[5], ",", "", 1), 10, 64)
		sum += n
	}
	return sum
}

func TestJournalCSV(t *testing.T) {
	e := sharedEnv(t)
	db := dbtest.DB(t)
	sc := newMoneyScenario(t, e, "export")
	b := staffLogin(t, e, sc.tn, newMember(t, e, sc.tn, staff.Reader, false))
	today := time.Now().In(tenant.Paris).Format(time.DateOnly)
	dbTotal := func(where string, args ...any) int64 {
		var n int64
		if err := db.Get(&n, `SELECT coalesce(sum(amount_cents), 0) FROM payments WHERE tenant_id = $1 AND NOT test `+where,
			append([]any{sc.tn.ID}, args...)...); err != nil {
			t.Fatal(err)
		}
		return n
	}

	res, body := b.get("/gestion/paiements.csv")
	expect(t, res, body, http.StatusOK, "")
	recs := readExport(t, res, body)

	t.Run("Encoding", func(t *testing.T) {
		if utf8.ValidString(body) {
			t.Error("the export is UTF-8, want Windows-1252")
		}
		if !strings.Contains(body, "r\xe9f\xe9rence") || !strings.Contains(body, "Famille H\xe9l\xe8ne Lef\xe8vre") {
			t.Error("accents are not single Windows-1252 bytes")
		}
		want := fmt.Sprintf(`attachment; filename="paiements-%s-debut-%s.csv"`, sc.tn.Slug, today)
		if got := res.Header.Get("Content-Disposition"); got != want {
			t.Errorf("Content-Disposition %q, want %q", got, want)
		}
	})
	t.Run("MoneyReceived", func(t *testing.T) {
		// D1 online and at the counter, D2, D5, D6, D7; never D4 (test)
		if len(recs) != 6 {
			t.Fatalf("%d lines, want 6: %q", len(recs), recs)
		}
		if got, want := exportTotal(t, recs), dbTotal(""); got != want || got != 13200 {
			t.Errorf("total %d, database %d, want 13200", got, want)
		}
		for _, r := range recs {
			if r[2] == sc.refs["D4"] {
				t.Error("the test payment is exported")
			}
		}
		if strings.Contains(body, sc.refs["D4"]) {
			t.Error("the test payment's reference appears")
		}
		// oldest first: D7's, three months ago
		if r := recs[0]; r[2] != sc.refs["D7"] || r[0] != sc.old.Add(time.Hour).Format("02/01/2006") || r[1] != "12:00" ||
			r[8] != "chèque" || r[9] != "payée" || r[5] != "12,00" || r[10] != "Famille Noir" {
			t.Errorf("D7's line %q", r)
		}
	})
	t.Run("Columns", func(t *testing.T) {
		var attempt struct {
			IDOp    string `db:"idop"`
			Numauto string `db:"numauto"`
			Refdet  string `db:"refdet"`
		}
		if err := db.Get(&attempt, `SELECT idop, numauto, refdet FROM payment_attempts WHERE tenant_id = $1 AND invoice_id = $2`, sc.tn.ID, sc.ids["D1"]); err != nil {
			t.Fatal(err)
		}
		byResult := map[string][]string{}
		for _, r := range recs {
			byResult[r[9]+" "+r[8]] = r
			if !regexp.MustCompile(`^\d{2}/\d{2}/\d{4}$`).MatchString(r[0]) || !regexp.MustCompile(`^\d{2}:\d{2}$`).MatchString(r[1]) || r[4] != "2026" {
				t.Errorf("date, heure or exercice of %q", r)
			}
		}
		online := byResult["payée carte"]
		if online == nil || online[6] != attempt.Numauto || online[7] != attempt.IDOp || online[3] != attempt.Refdet || online[5] != "37,50" || online[10] != "Famille Martin" {
			t.Errorf("online line %q, want numauto %s idOp %s", online, attempt.Numauto, attempt.IDOp)
		}
		for key, want := range map[string]string{
			"trop-perçu à rembourser chèque": "Famille Martin",
			"montant différent espèces":      "Famille Hélène Lefèvre",
			"facture annulée espèces":        "Famille Leroy",
			"payée espèces":                  "'" + evilName, // neutralised, and still one cell
		} {
			if r := byResult[key]; r == nil || r[10] != want {
				t.Errorf("line %q: %q, want famille %q", key, r, want)
			}
		}
		if !strings.Contains(body, `;"'=HYPERLINK(""http://evil.example/?x"";""Cliquez ici"")"`+"\r\n") {
			t.Error("the formula is not quoted and neutralised in the file")
		}
	})
	t.Run("Filters", func(t *testing.T) {
		oldDay := sc.old.Format(time.DateOnly)
		from := time.Date(sc.old.Year(), sc.old.Month(), sc.old.Day(), 0, 0, 0, 0, tenant.Paris)
		y, m, d := time.Now().In(tenant.Paris).Date()
		todayStart := time.Date(y, m, d, 0, 0, 0, 0, tenant.Paris)
		for _, c := range []struct {
			query string
			lines int
			total int64
		}{
			{"du=" + oldDay + "&au=" + oldDay, 1, dbTotal("AND paid_at >= $2 AND paid_at < $3", from, from.AddDate(0, 0, 1))},
			{"du=" + today, 5, dbTotal("AND paid_at >= $2", todayStart)},
			{"statut=anomalie", 3, dbTotal("AND NOT applied")},
			{"statut=applique", 3, dbTotal("AND applied")},
			{"statut=paid", 1, dbTotal("AND channel = 'online'")},
			{"canal=guichet", 5, dbTotal("AND channel = 'counter'")},
			{"canal=en-ligne&mode=reel", 1, dbTotal("AND channel = 'online'")},
			{"mode=test", 0, 0},
			{"statut=refused", 0, 0},
			{"statut=paid&canal=guichet", 0, 0},
		} {
			res, body := b.get("/gestion/paiements.csv?" + c.query)
			expect(t, res, body, http.StatusOK, "")
			recs := readExport(t, res, body)
			if len(recs) != c.lines || exportTotal(t, recs) != c.total {
				t.Errorf("%s: %d lines for %d, want %d for %d", c.query, len(recs), exportTotal(t, recs), c.lines, c.total)
			}
		}
		res, _ := b.get("/gestion/paiements.csv?du=" + oldDay + "&au=" + oldDay)
		if want := fmt.Sprintf(`filename="paiements-%s-%s-%s.csv"`, sc.tn.Slug, oldDay, oldDay); !strings.Contains(res.Header.Get("Content-Disposition"), want) {
			t.Errorf("Content-Disposition %q, want %s", res.Header.Get("Content-Disposition"), want)
		}
	})
}

func TestCellText(t *testing.T) {
	for in, want := range map[string]string{
		"Dupont":               "Dupont",
		"=SUM(A1:A9)":          "'=SUM(A1:A9)",
		"+33 6 12 34 56 78":    "'+33 6 12 34 56 78",
		"-2+3":                 "'-2+3",
		"@SUM(1)":              "'@SUM(1)",
		"\t=1":                 "'\t=1",
		"\r=1":                 "'\r=1",
		"Me\u0301lanie Łukasz": "Mélanie ?ukasz", // composed, then what Windows-1252 lacks
		"Œuvre 20 €":           "Œuvre 20 €",
		"":                     "",
	} {
		if got := cellText(in); got != want {
			t.Errorf("cellText(%q) = %q, want %q", in, got, want)
		}
	}
	for cents, want := range map[int64]string{3750: "37,50", 5: "0,05", 173988: "1739,88", 100: "1,00", -250: "-2,50"} {
		if got := cellAmount(cents); got != want {
			t.Errorf("cellAmount(%d) = %q, want %q", cents, got, want)
		}
	}
}
