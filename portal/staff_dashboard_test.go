package portal

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/migrations/dbtest"
	"github.com/regie/regie/payments"
	"github.com/regie/regie/portal/account"
	"github.com/regie/regie/portal/staff"
	"github.com/regie/regie/tenant"
	"github.com/regie/regie/tenant/tenanttest"
)

// moneyScenario is a commune in production mode whose invoices were paid
// every way there is:
//
//	D1 Martin   37,50  paid online (real), then again at the counter: overpayment
//	D2 =HYPERLINK(…) 30,00  paid at the counter (cash)
//	D3 Petit    10,00  unpaid, overdue
//	D4 Roux     20,00  paid online in test mode
//	D5 Lefèvre  15,00  5,00 received at the counter: amount mismatch, still unpaid
//	D6 Leroy    10,00  cancelled, then paid at the counter: payment on a cancelled invoice
//	D7 Noir     12,00  published and paid at the counter three months ago
//
// D1's address has an active account, D3's a disabled one.
type moneyScenario struct {
	tn    tenant.Tenant
	ids   map[string]int64  // family ref → invoice id
	refs  map[string]string // family ref → invoice reference
	old   time.Time         // when D7 was published and paid
	evil  string            // D2's name
	mails map[string]string // family ref → address
}

const evilName = `=HYPERLINK("http://evil.example/?x";"Cliquez ici")`

func newMoneyScenario(t *testing.T, e *env, prefix string) moneyScenario {
	t.Helper()
	ctx := context.Background()
	db := dbtest.DB(t)
	sc := moneyScenario{ids: map[string]int64{}, refs: map[string]string{}, evil: evilName, mails: map[string]string{}}
	sc.tn = tenanttest.MustCreate(t, db, prefix, func(t *tenant.Tenant) { t.Mode = tenant.ModeProduction })
	row := func(ref, name, qty, price, due string) string {
		sc.mails[ref] = uniqueAddr(t, strings.ToLower(ref))
		return ref + ";" + name + ";" + sc.mails[ref] + ";1 rue de la Mairie;84000;Démo;RS;01/2026;Repas;" + qty + ";" + price + ";" + due
	}
	publishCSV(t, e, sc.tn,
		row("D1", "Famille Martin", "15", "2,50", "15/12/2099"),
		row("D2", "Famille Durand", "10", "3,00", "15/12/2099"),
		row("D3", "Famille Petit", "4", "2,50", "01/01/2020"),
		row("D4", "Famille Roux", "8", "2,50", "15/12/2099"),
		row("D5", "Famille Hélène Lefèvre", "6", "2,50", "15/12/2099"),
		row("D6", "Famille Leroy", "2", "5,00", "15/12/2099"),
	)
	publishCSV(t, e, sc.tn, row("D7", "Famille Noir", "4", "3,00", "15/12/2099"))
	for _, ref := range []string{"D1", "D2", "D3", "D4", "D5", "D6", "D7"} {
		var inv struct {
			ID        int64  `db:"id"`
			Reference string `db:"reference"`
		}
		if err := db.Get(&inv, `SELECT i.id, i.reference FROM invoices i JOIN families f ON f.tenant_id = i.tenant_id AND f.id = i.family_id
			WHERE i.tenant_id = $1 AND f.ref = $2`, sc.tn.ID, ref); err != nil {
			t.Fatalf("invoice of %s: %v", ref, err)
		}
		sc.ids[ref], sc.refs[ref] = inv.ID, inv.Reference
	}
	// owner-level: a name no import would carry, and an older publication
	y, m, _ := time.Now().In(tenant.Paris).Date()
	sc.old = time.Date(y, m-3, 14, 11, 0, 0, 0, tenant.Paris)
	db.MustExec(`UPDATE families SET name = $3 WHERE tenant_id = $1 AND ref = $2`, sc.tn.ID, "D2", sc.evil)
	db.MustExec(`UPDATE invoices SET published_at = $3 WHERE tenant_id = $1 AND id = $2`, sc.tn.ID, sc.ids["D7"], sc.old)

	sc.payOnline(t, e, sc.tn, "D1")
	test := sc.tn
	test.Mode = tenant.ModeTest
	sc.payOnline(t, e, test, "D4")

	now := time.Now()
	err := tenant.WithTx(ctx, db, sc.tn.ID, func(tx *sqlx.Tx) error {
		for _, p := range []struct {
			ref, means, note string
			cents            int64
			at               time.Time
		}{
			{"D2", "cash", "", 3000, now},
			{"D7", "cheque", "chèque n° 1234", 1200, sc.old.Add(time.Hour)},
			{"D5", "cash", "=1+1 rendu en espèces", 500, now},
			{"D1", "cheque", "", 3750, now},
		} {
			if _, err := payments.RecordCounterPayment(ctx, tx, sc.tn.ID, sc.ids[p.ref], p.cents, p.means, p.at, p.note); err != nil {
				return fmt.Errorf("%s: %w", p.ref, err)
			}
		}
		if _, err := billing.CancelInvoice(ctx, tx, sc.tn.ID, sc.refs["D6"], "Erreur de saisie", now); err != nil {
			return err
		}
		if _, err := payments.RecordCounterPayment(ctx, tx, sc.tn.ID, sc.ids["D6"], 1000, "cash", now, ""); err != nil {
			return err
		}
		if _, err := account.Activate(ctx, tx, sc.tn.ID, sc.mails["D1"], "hash"); err != nil {
			return err
		}
		_, err := account.Activate(ctx, tx, sc.tn.ID, sc.mails["D3"], "hash")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	db.MustExec(`UPDATE family_accounts SET disabled_at = now() WHERE tenant_id = $1 AND email = $2`, sc.tn.ID, sc.mails["D3"])
	return sc
}

// payOnline pays a family's invoice with a card on the DGFiP stand-in, as
// tn (whose mode says test or real), and waits for the payment.
func (sc moneyScenario) payOnline(t *testing.T, e *env, tn tenant.Tenant, ref string) {
	t.Helper()
	ctx := context.Background()
	page, err := e.pay.Start(ctx, tn, sc.ids[ref], sc.mails[ref])
	if err != nil {
		t.Fatalf("start paying %s: %v", ref, err)
	}
	back, err := url.Parse(e.browser(t, tn).payOnStandIn(t, page, "4242 4242 4242 4242"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := e.pay.Return(ctx, tn, back.Query().Get("idop"))
	if err != nil || a.Status != payments.Paid {
		t.Fatalf("pay %s online: attempt %s, %v", ref, a.Status, err)
	}
}

var (
	statRe  = regexp.MustCompile(`id="(stat-[a-z]+)"><span class="value">([^<]*)</span>(?: <span class="label">([^<]*)</span>)?`)
	monthRe = regexp.MustCompile(`(?s)<tr id="m-([0-9-]+|total)">\s*<th scope="row">([^<]*)</th>(.*?)</tr>`)
	cellRe  = regexp.MustCompile(`<td[^>]*>([^<]*)</td>`)
)

// dashboardFigures reads the dashboard's cards (value, then label) and
// its table's rows (by month key, "total" for the sum).
func dashboardFigures(body string) (cards map[string][2]string, rows map[string][]string) {
	cards, rows = map[string][2]string{}, map[string][]string{}
	for _, m := range statRe.FindAllStringSubmatch(body, -1) {
		cards[m[1]] = [2]string{m[2], m[3]}
	}
	for _, m := range monthRe.FindAllStringSubmatch(body, -1) {
		for _, c := range cellRe.FindAllStringSubmatch(m[3], -1) {
			rows[m[1]] = append(rows[m[1]], c[1])
		}
	}
	return cards, rows
}

func eur(s string) string { return strings.ReplaceAll(s, " ", "\u00a0") + "\u00a0€" }

func TestDashboard(t *testing.T) {
	e := sharedEnv(t)
	db := dbtest.DB(t)
	sc := newMoneyScenario(t, e, "dash")
	other := tenanttest.MustCreate(t, db, "dashb")
	publishCSV(t, e, other, "B1;Famille Ailleurs;"+uniqueAddr(t, "ailleurs")+";2 rue;84570;Villes;RS;01/2026;Repas;33;3,00;01/01/2020")

	b := staffLogin(t, e, sc.tn, newMember(t, e, sc.tn, staff.Reader, false))
	res, body := b.get("/gestion/")
	expect(t, res, body, http.StatusOK, "")
	cards, rows := dashboardFigures(body)
	now := time.Now().In(tenant.Paris)
	cur, old := now.Format("2006-01"), sc.old.Format("2006-01")

	t.Run("ThisMonth", func(t *testing.T) {
		// D1–D6 this month, D6 cancelled; D1 online (real), D2 at the counter;
		// D4 (test), D1's second payment, D5's 5,00 and D6's paid nothing
		for id, want := range map[string]string{
			"stat-published": "5", "stat-invoiced": eur("112,50"), "stat-online": eur("37,50"),
			"stat-counter": eur("30,00"), "stat-rate": "50\u00a0%",
		} {
			if cards[id][0] != want {
				t.Errorf("%s = %q, want %q", id, cards[id][0], want)
			}
		}
		want := []string{"5", eur("112,50"), eur("37,50"), eur("30,00"), "50\u00a0%"}
		if got := rows[cur]; strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("row %s = %q, want %q", cur, got, want)
		}
	})
	t.Run("EarlierMonth", func(t *testing.T) {
		want := []string{"1", eur("12,00"), eur("0,00"), eur("12,00"), "0\u00a0%"}
		if got := rows[old]; strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("row %s = %q, want %q", old, got, want)
		}
		if len(rows) != 13 {
			t.Errorf("%d table rows, want 12 months and the total", len(rows))
		}
	})
	t.Run("TwelveMonths", func(t *testing.T) {
		want := []string{"6", eur("124,50"), eur("37,50"), eur("42,00"), "33,3\u00a0%"}
		if got := rows["total"]; strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("total = %q, want %q", got, want)
		}
	})
	t.Run("Today", func(t *testing.T) {
		for id, want := range map[string][2]string{
			"stat-unpaid":    {"2", eur("25,00")},
			"stat-overdue":   {"1", eur("10,00")},
			"stat-refund":    {"2", eur("47,50")}, // D1's second payment, D6's
			"stat-activated": {"14,3\u00a0%", "1 sur 7"},
		} {
			if cards[id][0] != want[0] || !strings.Contains(cards[id][1], want[1]) {
				t.Errorf("%s = %q, want %q and %q", id, cards[id], want[0], want[1])
			}
		}
	})
	t.Run("MatchesTheDatabase", func(t *testing.T) {
		// the same figures straight from the tables, owner-level
		var d struct {
			Published, Invoiced, Online, Counter, Unpaid, UnpaidCents, Overdue, Refund, RefundCents int64
		}
		bounds := dashboardBounds(time.Now())
		from, to := bounds[0], bounds[len(bounds)-1]
		err := db.QueryRow(`SELECT
			(SELECT count(*) FROM invoices WHERE tenant_id = $1 AND status <> 'cancelled' AND published_at >= $2 AND published_at < $3),
			(SELECT sum(total_cents) FROM invoices WHERE tenant_id = $1 AND status <> 'cancelled' AND published_at >= $2 AND published_at < $3),
			(SELECT sum(amount_cents) FROM payments WHERE tenant_id = $1 AND channel = 'online' AND applied AND NOT test),
			(SELECT sum(amount_cents) FROM payments WHERE tenant_id = $1 AND channel = 'counter' AND applied),
			(SELECT count(*) FROM invoices WHERE tenant_id = $1 AND status = 'published'),
			(SELECT sum(total_cents) FROM invoices WHERE tenant_id = $1 AND status = 'published'),
			(SELECT count(*) FROM invoices WHERE tenant_id = $1 AND status = 'published' AND due_date < current_date),
			(SELECT count(*) FROM overpayments WHERE tenant_id = $1 AND status = 'to_refund'),
			(SELECT sum(amount_cents) FROM overpayments WHERE tenant_id = $1 AND status = 'to_refund')`, sc.tn.ID, from, to).
			Scan(&d.Published, &d.Invoiced, &d.Online, &d.Counter, &d.Unpaid, &d.UnpaidCents, &d.Overdue, &d.Refund, &d.RefundCents)
		if err != nil {
			t.Fatal(err)
		}
		total := rows["total"]
		for _, c := range []struct{ name, got, want string }{
			{"published", total[0], fmt.Sprint(d.Published)},
			{"invoiced", total[1], billing.FormatEuros(d.Invoiced)},
			{"online", total[2], billing.FormatEuros(d.Online)},
			{"counter", total[3], billing.FormatEuros(d.Counter)},
			{"unpaid", cards["stat-unpaid"][0], fmt.Sprint(d.Unpaid)},
			{"unpaid amount", cards["stat-unpaid"][1], billing.FormatEuros(d.UnpaidCents)},
			{"overdue", cards["stat-overdue"][0], fmt.Sprint(d.Overdue)},
			{"refunds", cards["stat-refund"][0], fmt.Sprint(d.Refund)},
			{"refund amount", cards["stat-refund"][1], billing.FormatEuros(d.RefundCents)},
		} {
			if !strings.Contains(c.got, c.want) {
				t.Errorf("%s: page says %q, database %q", c.name, c.got, c.want)
			}
		}
	})
	t.Run("AccessibleChart", func(t *testing.T) {
		for _, w := range []string{`<svg role="img" aria-labelledby="chart-title chart-desc"`, `<title id="chart-title">Montants facturés et encaissés par mois</title>`,
			`<desc id="chart-desc">Pour chacun des 12 derniers mois`, billing.PeriodLabel(now) + " : facturé " + eur("112,50"),
			`<caption>`, `<th scope="col">Mois</th>`, `<th scope="row">`, `>` + eur("112,50") + `</text>`, `>` + eur("67,50") + `</text>`,
			"Familles activées : parmi toutes les familles de la commune"} {
			if !strings.Contains(body, w) {
				t.Errorf("dashboard lacks %q", w)
			}
		}
		if n := strings.Count(body, `<rect `); n != 3+3*12 {
			t.Errorf("%d rects in the chart, want a legend of 3 and 3 bars a month", n)
		}
		if strings.Contains(body, "<script") || strings.Contains(body, "style=") {
			t.Error("the dashboard needs no script nor inline style")
		}
	})
	t.Run("EveryRole", func(t *testing.T) {
		for _, role := range staff.Roles {
			b := staffLogin(t, e, sc.tn, newMember(t, e, sc.tn, role, false))
			res, body := b.get("/gestion/")
			expect(t, res, body, http.StatusOK, "")
		}
	})
	t.Run("OtherCommune", func(t *testing.T) {
		ob := staffLogin(t, e, other, newMember(t, e, other, staff.Agent, false))
		res, body := ob.get("/gestion/")
		expect(t, res, body, http.StatusOK, "")
		cards, rows := dashboardFigures(body)
		if cards["stat-published"][0] != "1" || rows[cur][1] != eur("99,00") || cards["stat-overdue"][0] != "1" || cards["stat-refund"][0] != "0" {
			t.Errorf("commune B's dashboard: %v %v", cards, rows[cur])
		}
		// A's session means nothing on B's host
		res, body = b.on(other).get("/gestion/")
		expect(t, res, body, http.StatusSeeOther, "/gestion/connexion?next=%2Fgestion%2F")
	})
}

// BenchmarkDashboard measures the dashboard's queries in a commune of
// 100,000 invoices over two years (20,000 families, 70 % paid), seeded
// owner-level with INSERT … SELECT generate_series.
func BenchmarkDashboard(b *testing.B) {
	ctx := context.Background()
	db := dbtest.DB(b)
	tn := tenanttest.MustCreate(b, db, "bench")
	start := time.Now()
	for _, q := range []string{
		`INSERT INTO series (tenant_id, code, label, pattern, next_number) VALUES ($1, 'BN', 'Banc', '{exer}-BN-{numero:7}', 100001)`,
		`INSERT INTO import_batches (tenant_id, filename, status) VALUES ($1, 'banc.csv', 'published')`,
		`INSERT INTO families (tenant_id, ref, name) SELECT $1, 'B' || g, 'Famille ' || g FROM generate_series(1, 20000) g`,
		`INSERT INTO family_emails (tenant_id, family_id, email) SELECT tenant_id, id, lower(ref) || '@banc.example' FROM families WHERE tenant_id = $1`,
		`INSERT INTO family_accounts (tenant_id, email, password_hash) SELECT tenant_id, email, 'x' FROM family_emails WHERE tenant_id = $1 AND family_id % 5 < 2`,
		`WITH fam AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM families WHERE tenant_id = $1),
		      ids AS (SELECT (SELECT id FROM series WHERE tenant_id = $1) AS sid, (SELECT id FROM import_batches WHERE tenant_id = $1) AS bid)
		INSERT INTO invoices (tenant_id, family_id, series_id, batch_id, period, number, reference, refdet, issue_date, due_date,
			total_cents, status, content_hash, published_at, paid_at)
		SELECT $1, fam.id, ids.sid, ids.bid, date_trunc('month', p.at)::date, g, 'BN-' || lpad(g::text, 7, '0'), 'BN' || lpad(g::text, 7, '0'),
			p.at::date, p.at::date + 30, 1000 + g % 9000,
			CASE WHEN g % 20 = 0 THEN 'cancelled' WHEN g % 10 < 7 THEN 'paid' ELSE 'published' END, 'h' || g, p.at,
			CASE WHEN g % 20 <> 0 AND g % 10 < 7 THEN p.at + interval '9 days' END
		FROM generate_series(1, 100000) g
		CROSS JOIN LATERAL (SELECT now() - (g % 730) * interval '1 day' - interval '1 hour' AS at) p
		JOIN fam ON fam.k = g % 20000 CROSS JOIN ids`,
		`INSERT INTO payments (tenant_id, invoice_id, channel, means, amount_cents, test, paid_at, applied)
		SELECT tenant_id, id, CASE WHEN id % 3 = 0 THEN 'counter' ELSE 'online' END, CASE WHEN id % 3 = 0 THEN 'cash' ELSE 'card' END,
			total_cents, id % 50 = 1, paid_at, true
		FROM invoices WHERE tenant_id = $1 AND status = 'paid'`,
		`WITH p AS (INSERT INTO payments (tenant_id, invoice_id, channel, means, amount_cents, paid_at, applied, anomaly)
			SELECT tenant_id, id, 'counter', 'cheque', total_cents, paid_at + interval '1 day', false, 'overpayment'
			FROM invoices WHERE tenant_id = $1 AND status = 'paid' AND id % 97 = 3 RETURNING tenant_id, id, invoice_id, amount_cents)
		INSERT INTO overpayments (tenant_id, invoice_id, payment_id, amount_cents, reason)
		SELECT tenant_id, invoice_id, id, amount_cents, 'facture déjà payée' FROM p`,
	} {
		if _, err := db.ExecContext(ctx, q, tn.ID); err != nil {
			b.Fatalf("seed: %v\n%s", err, q)
		}
	}
	db.MustExecContext(ctx, `ANALYZE families, family_emails, family_accounts, invoices, payments, overpayments`)
	b.Logf("seeded 100,000 invoices in %s", time.Since(start).Round(time.Millisecond))
	now := time.Now()
	var d dashboardStats
	for b.Loop() {
		err := tenant.WithTx(ctx, db, tn.ID, func(tx *sqlx.Tx) error {
			var err error
			d, err = loadDashboard(ctx, tx, tn.ID, now)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	v := newDashboardView(Page{}, d, now)
	if v.Year.Published < 45000 || v.Activation.Families != 20000 || v.Refunds.Count == 0 || v.Receivables.OverdueCount == 0 {
		b.Fatalf("unexpected figures: %d published over 12 months, %d families, %d refunds, %d overdue",
			v.Year.Published, v.Activation.Families, v.Refunds.Count, v.Receivables.OverdueCount)
	}
}
