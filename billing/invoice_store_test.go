package billing_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/billing"
)

// accountFixture is a commune where parent@ is an address of two families
// (Dupont and Martin), with invoices published, paid, cancelled and still
// in draft, and a third family (Roux) that parent@ must not see.
type accountFixture struct {
	fixture
	dupontSep, dupontOct, martinGA, martinAug, rouxOct, dupontDraft billing.Invoice
}

const parent = "parent@exemple.fr"

func newAccountFixture(t *testing.T, prefix string) accountFixture {
	t.Helper()
	f := accountFixture{fixture: newFixture(t, prefix)}
	jobs := jobsClient(t, f.db)
	dupont := meal("F1", "Dupont").with(func(r *csvRow) { r.Email = parent + " dupont@exemple.fr" })
	martin := meal("F2", "Martin").with(func(r *csvRow) { r.Email = "Parent@Exemple.fr" })
	roux := meal("F3", "Roux")
	published := f.mustImport(t, csvFile(
		dupont.with(func(r *csvRow) { r.Periode, r.Echeance = "2026-09", "15/10/2026" }),
		dupont,
		martin.with(func(r *csvRow) { r.Serie, r.Libelle = "GA", "Garderie" }),
		roux,
		martin.with(func(r *csvRow) { r.Periode, r.Echeance = "2026-08", "15/09/2026" }),
	))
	f.mustPublish(t, jobs, published.BatchID)
	f.mustImport(t, csvFile(dupont.with(func(r *csvRow) { r.Periode, r.Echeance = "2026-11", "15/12/2026" })))

	f.dupontSep = f.invoiceOf(t, "F1", f.rs, "2026-09")
	f.dupontOct = f.invoiceOf(t, "F1", f.rs, "2026-10")
	f.martinGA = f.invoiceOf(t, "F2", f.ga, "2026-10")
	f.martinAug = f.invoiceOf(t, "F2", f.rs, "2026-08")
	f.rouxOct = f.invoiceOf(t, "F3", f.rs, "2026-10")
	f.dupontDraft = f.invoiceOf(t, "F1", f.rs, "2026-11")
	f.inTx(t, func(tx *sqlx.Tx) error {
		if _, err := tx.Exec(`UPDATE invoices SET status = 'paid', paid_at = now() WHERE tenant_id = $1 AND id = $2`, f.tid, f.dupontSep.ID); err != nil {
			return err
		}
		_, err := billing.CancelInvoice(context.Background(), tx, f.tid, f.martinAug.Ref(), "facturée deux fois", publishedAt)
		return err
	})
	return f
}

func TestInvoiceByID(t *testing.T) {
	ctx := context.Background()
	f := newAccountFixture(t, "invoicebyid")
	f.inTx(t, func(tx *sqlx.Tx) error {
		t.Run("OK", func(t *testing.T) {
			got, err := billing.InvoiceByID(ctx, tx, f.tid, f.dupontOct.ID)
			if err != nil || got.ID != f.dupontOct.ID || got.TenantID != f.tid || got.SeriesID != f.rs.ID || got.Ref() != "2026-RS-00-8001518" ||
				got.TotalCents != 3750 || got.Status != billing.Published {
				t.Errorf("InvoiceByID = %+v, %v; want Dupont's published October invoice 2026-RS-00-8001518", got, err)
			}
		})
		t.Run("Draft", func(t *testing.T) {
			got, err := billing.InvoiceByID(ctx, tx, f.tid, f.dupontDraft.ID)
			if err != nil || got.Status != billing.Draft || got.Reference != nil {
				t.Errorf("InvoiceByID(draft) = %+v, %v; want the unnumbered draft", got, err)
			}
		})
		t.Run("ErrNotFound", func(t *testing.T) {
			got, err := billing.InvoiceByID(ctx, tx, f.tid, f.dupontOct.ID+1_000_000)
			mustNotFound(t, "InvoiceByID(unknown)", got, err)
		})
		return nil
	})
}

func TestInvoiceByReference(t *testing.T) {
	ctx := context.Background()
	f := newAccountFixture(t, "invoicebyref")
	f.inTx(t, func(tx *sqlx.Tx) error {
		t.Run("OK", func(t *testing.T) {
			got, err := billing.InvoiceByReference(ctx, tx, f.tid, f.martinGA.Ref())
			if err != nil || got.ID != f.martinGA.ID || got.Ref() != "GA202610-0001" {
				t.Errorf("InvoiceByReference(GA202610-0001) = %+v, %v; want Martin's GA invoice", got, err)
			}
		})
		t.Run("ErrNotFound", func(t *testing.T) {
			for _, ref := range []string{"GA2026100001", "ga202610-0001", "", "2026-RS-00-9999999"} {
				got, err := billing.InvoiceByReference(ctx, tx, f.tid, ref)
				mustNotFound(t, "InvoiceByReference("+ref+")", got, err)
			}
		})
		return nil
	})
}

func TestInvoiceLines(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "invoicelines")
	d := meal("F1", "Dupont")
	f.mustImport(t, csvFile(
		d.with(func(r *csvRow) { r.Libelle = "Repas" }),
		meal("F2", "Martin"),
		d.with(func(r *csvRow) { r.Libelle, r.Quantite, r.Prix = "Majoration retard", "1", "5" }),
		d.with(func(r *csvRow) { r.Libelle, r.Quantite, r.Prix = "Remise", "1", "-2,50" }),
	))
	inv := f.invoiceOf(t, "F1", f.rs, "2026-10")
	f.inTx(t, func(tx *sqlx.Tx) error {
		got, err := billing.InvoiceLines(ctx, tx, f.tid, inv.ID)
		want := []billing.Line{
			{Position: 1, Label: "Repas", QuantityMilli: 15000, UnitPriceCents: 250, TotalCents: 3750},
			{Position: 2, Label: "Majoration retard", QuantityMilli: 1000, UnitPriceCents: 500, TotalCents: 500},
			{Position: 3, Label: "Remise", QuantityMilli: 1000, UnitPriceCents: -250, TotalCents: -250},
		}
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("InvoiceLines = %+v, %v; want %+v", got, err, want)
		}
		if inv.TotalCents != 4000 {
			t.Errorf("invoice total = %d, want 4000", inv.TotalCents)
		}
		none, err := billing.InvoiceLines(ctx, tx, f.tid, inv.ID+1_000_000)
		if err != nil || len(none) != 0 {
			t.Errorf("InvoiceLines(unknown) = %+v, %v; want none", none, err)
		}
		return nil
	})
}

func TestAccountInvoices(t *testing.T) {
	ctx := context.Background()
	f := newAccountFixture(t, "accountinvoices")
	// Another commune lists the same address for a family of its own.
	other := newFixture(t, "accountinvoices-other")
	other.mustPublish(t, jobsClient(t, other.db), other.mustImport(t, csvFile(meal("F1", "Autre").with(func(r *csvRow) { r.Email = parent }))).BatchID)

	ids := func(invs []billing.AccountInvoice) []int64 {
		var out []int64
		for _, i := range invs {
			out = append(out, i.ID)
		}
		return out
	}
	f.inTx(t, func(tx *sqlx.Tx) error {
		t.Run("TwoFamilies", func(t *testing.T) {
			got, err := billing.AccountInvoices(ctx, tx, f.tid, parent, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			// newest period first; in one period the newest invoice first
			want := []int64{f.martinGA.ID, f.dupontOct.ID, f.dupontSep.ID, f.martinAug.ID}
			if !slices.Equal(ids(got), want) {
				t.Fatalf("AccountInvoices(parent@) = %v, want Martin GA, Dupont Oct, Dupont Sep (paid), Martin Aug (cancelled) %v; not the draft %d nor Roux's %d",
					ids(got), want, f.dupontDraft.ID, f.rouxOct.ID)
			}
			if got[0].FamilyName != "Martin" || got[0].SeriesLabel != "Garderie" || got[1].FamilyName != "Dupont" || got[1].SeriesLabel != "Restauration scolaire" {
				t.Errorf("names = %q/%q, %q/%q; want Martin/Garderie, Dupont/Restauration scolaire", got[0].FamilyName, got[0].SeriesLabel, got[1].FamilyName, got[1].SeriesLabel)
			}
			if got[2].Status != billing.Paid || got[3].Status != billing.Cancelled || got[3].CancelReason != "facturée deux fois" {
				t.Errorf("statuses = %s, %s (%q); want paid, then cancelled with its reason", got[2].Status, got[3].Status, got[3].CancelReason)
			}
			// the list scans its columns by hand: each row must read as
			// AccountInvoiceByID, through sqlx's names, reads it
			for _, g := range got {
				one, err := billing.AccountInvoiceByID(ctx, tx, f.tid, parent, g.ID, time.Time{})
				if err != nil {
					t.Fatal(err)
				}
				if listed(g) != listed(one) {
					t.Errorf("invoice %d listed as\n%s\nread alone as\n%s", g.ID, listed(g), listed(one))
				}
			}
		})
		t.Run("OneFamily", func(t *testing.T) {
			got, err := billing.AccountInvoices(ctx, tx, f.tid, "dupont@exemple.fr", time.Time{})
			if want := []int64{f.dupontOct.ID, f.dupontSep.ID}; err != nil || !slices.Equal(ids(got), want) {
				t.Errorf("AccountInvoices(dupont@) = %v, %v; want %v", ids(got), err, want)
			}
		})
		t.Run("None", func(t *testing.T) {
			got, err := billing.AccountInvoices(ctx, tx, f.tid, "inconnu@exemple.fr", time.Time{})
			if err != nil || len(got) != 0 {
				t.Errorf("AccountInvoices(inconnu@) = %v, %v; want none", ids(got), err)
			}
		})
		return nil
	})

	t.Run("ByID", func(t *testing.T) {
		otherInv := other.invoiceOf(t, "F1", other.rs, "2026-10")
		f.inTx(t, func(tx *sqlx.Tx) error {
			got, err := billing.AccountInvoiceByID(ctx, tx, f.tid, parent, f.martinGA.ID, time.Time{})
			if err != nil || got.ID != f.martinGA.ID || got.FamilyName != "Martin" || got.SeriesLabel != "Garderie" || got.Ref() != "GA202610-0001" {
				t.Errorf("AccountInvoiceByID(parent@, Martin GA) = %+v, %v", got, err)
			}
			for _, tc := range []struct {
				name  string
				email string
				id    int64
			}{
				{"AnotherFamily", parent, f.rouxOct.ID},
				{"Draft", parent, f.dupontDraft.ID},
				{"OtherAddress", "f3@exemple.fr", f.dupontOct.ID},
				{"AnotherCommune", parent, otherInv.ID},
				{"Unknown", parent, f.dupontOct.ID + 1_000_000},
			} {
				got, err := billing.AccountInvoiceByID(ctx, tx, f.tid, tc.email, tc.id, time.Time{})
				mustNotFound(t, tc.name, got, err)
			}
			return nil
		})
	})
}

func TestSetPDFKey(t *testing.T) {
	ctx := context.Background()
	f := newAccountFixture(t, "setpdfkey")
	key := "tenants/1/invoices/2.pdf"
	f.inTx(t, func(tx *sqlx.Tx) error { return billing.SetPDFKey(ctx, tx, f.tid, f.dupontOct.ID, key) })
	if got := f.invoice(t, f.dupontOct.ID).PDFKey; got != key {
		t.Errorf("PDFKey = %q, want %q", got, key)
	}
	if got := f.invoice(t, f.martinGA.ID).PDFKey; got != "" {
		t.Errorf("another invoice's PDFKey = %q, want none", got)
	}
}

func TestStatusFor(t *testing.T) {
	due := date(2026, 11, 15)
	inv := func(s billing.InvoiceStatus, test bool) billing.Invoice {
		return billing.Invoice{Status: s, DueDate: due, PaidTest: test}
	}
	for _, tc := range []struct {
		name   string
		inv    billing.Invoice
		today  time.Time
		paying bool
		want   billing.FamilyStatus
	}{
		{"Due", inv(billing.Published, false), date(2026, 11, 1), false, "À payer"},
		{"DueOnTheDay", inv(billing.Published, false), due, false, "À payer"},
		{"Late", inv(billing.Published, false), date(2026, 11, 16), false, "En retard"},
		{"Paying", inv(billing.Published, false), date(2026, 11, 1), true, "Paiement en cours"},
		{"PayingLate", inv(billing.Published, false), date(2026, 12, 1), true, "Paiement en cours"},
		{"Paid", inv(billing.Paid, false), date(2026, 12, 1), false, "Payée"},
		{"PaidWhilePaying", inv(billing.Paid, false), date(2026, 11, 1), true, "Payée"},
		{"PaidTest", inv(billing.Paid, true), date(2026, 11, 1), false, "Payée (test)"},
		{"Cancelled", inv(billing.Cancelled, false), date(2026, 12, 1), false, "Annulée"},
		{"CancelledWhilePaying", inv(billing.Cancelled, false), date(2026, 11, 1), true, "Annulée"},
	} {
		if got := billing.StatusFor(tc.inv, tc.today, tc.paying); got != tc.want {
			t.Errorf("%s: StatusFor = %q, want %q", tc.name, got, tc.want)
		}
	}
	// The six words of DESIGN.md, exactly.
	want := []billing.FamilyStatus{"À payer", "En retard", "Paiement en cours", "Payée", "Payée (test)", "Annulée"}
	got := []billing.FamilyStatus{billing.StatusDue, billing.StatusLate, billing.StatusPending, billing.StatusPaid, billing.StatusPaidTest, billing.StatusCancelled}
	if !slices.Equal(got, want) {
		t.Errorf("statuses = %q, want %q", got, want)
	}
}

// listed writes the fields of an invoice that "Mes factures" reads.
func listed(i billing.AccountInvoice) string {
	day := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return t.Format(time.DateOnly)
	}
	ref := "-"
	if i.Reference != nil {
		ref = *i.Reference
	}
	return fmt.Sprintf("commune %d id %d family %d series %d period %s ref %s issued %s due %s total %d status %s test %v cancel %q family %q series %q paying %v",
		i.TenantID, i.ID, i.FamilyID, i.SeriesID, i.Period.Format(time.DateOnly), ref, day(i.IssueDate), day(&i.DueDate),
		i.TotalCents, i.Status, i.PaidTest, i.CancelReason, i.FamilyName, i.SeriesLabel, i.Paying)
}
