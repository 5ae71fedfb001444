package billing_test

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/billing"
)

// wantGroups compares an import's groups, their periods with Equal.
func wantGroups(t *testing.T, got, want []billing.ImportGroup) {
	t.Helper()
	if !slices.EqualFunc(got, want, func(a, b billing.ImportGroup) bool {
		return a.SeriesCode == b.SeriesCode && a.Period.Equal(b.Period) && a.Invoices == b.Invoices && a.TotalCents == b.TotalCents
	}) {
		t.Errorf("Groups = %+v, want %+v", got, want)
	}
}

func TestImport_Results(t *testing.T) {
	f := newFixture(t, "import-results")
	dupont := meal("F1", "Dupont").with(func(r *csvRow) { r.Email = "a@exemple.fr b@exemple.fr" })
	martin := meal("F2", "Martin").with(func(r *csvRow) { r.Email, r.Adresse = "c@exemple.fr,d@exemple.fr", "9 quai Ceineray" })
	data := csvFile(
		dupont.with(func(r *csvRow) { r.Quantite, r.Prix = "2,5", "1,25" }),                        // 2: 3,125 → 3,13
		dupont.with(func(r *csvRow) { r.Libelle, r.Quantite, r.Prix = "Goûter", "0,333", "0,10" }), // 3: 0,0333 → 0,03
		dupont, // 4: 37,50
		martin.with(func(r *csvRow) { r.Quantite = "10" }),                                                     // 5: 25,00
		martin.with(func(r *csvRow) { r.Serie, r.Libelle, r.Quantite, r.Prix = "GA", "Garderie", "1,5", "3" }), // 6: 4,50
		dupont.with(func(r *csvRow) {
			r.Email, r.Periode, r.Quantite, r.Echeance = "A@Exemple.fr", "11/2026", "12", "15/12/2026"
		}), // 7: 30,00
	)
	res := f.mustImport(t, data)

	t.Run("Counts", func(t *testing.T) {
		if res.BatchID == 0 || res.Rows != 6 || res.NewInvoices != 4 || res.ReplacedInvoices != 0 || res.UnchangedInvoices != 0 ||
			res.NewFamilies != 2 || res.UpdatedFamilies != 0 || res.TotalCents != 4066+2500+450+3000 || len(res.Errors) != 0 || res.NothingToDo() {
			t.Errorf("result = %+v, want batch, 6 rows, 4 new invoices, 2 new families, total 100,16 €", res)
		}
	})

	t.Run("Groups", func(t *testing.T) {
		wantGroups(t, res.Groups, []billing.ImportGroup{
			{SeriesCode: "GA", Period: date(2026, 10, 1), Invoices: 1, TotalCents: 450},
			{SeriesCode: "RS", Period: date(2026, 10, 1), Invoices: 2, TotalCents: 4066 + 2500},
			{SeriesCode: "RS", Period: date(2026, 11, 1), Invoices: 1, TotalCents: 3000},
		})
	})

	t.Run("InvoiceAndLines", func(t *testing.T) {
		inv := f.invoiceOf(t, "F1", f.rs, "2026-10")
		if inv.TotalCents != 4066 || inv.Status != billing.Draft || inv.BatchID != res.BatchID || inv.Reference != nil || inv.Number != nil ||
			inv.Refdet != nil || inv.OwnReference || inv.IssueDate != nil || !inv.DueDate.Equal(date(2026, 11, 15)) || !inv.Period.Equal(date(2026, 10, 1)) {
			t.Errorf("F1's October invoice = %+v, want an unnumbered draft of 40,66 € due 15/11/2026 in batch %d", inv, res.BatchID)
		}
		want := []billing.Line{
			{Position: 1, Label: "Repas", QuantityMilli: 2500, UnitPriceCents: 125, TotalCents: 313},
			{Position: 2, Label: "Goûter", QuantityMilli: 333, UnitPriceCents: 10, TotalCents: 3},
			{Position: 3, Label: "Repas", QuantityMilli: 15000, UnitPriceCents: 250, TotalCents: 3750},
		}
		if got := f.lines(t, inv.ID); !slices.Equal(got, want) {
			t.Errorf("lines = %+v, want %+v", got, want)
		}
		for _, inv := range f.invoices(t) {
			var sum int64
			for _, l := range f.lines(t, inv.ID) {
				sum += l.TotalCents
			}
			if sum != inv.TotalCents {
				t.Errorf("invoice %d: total %d, sum of its lines %d", inv.ID, inv.TotalCents, sum)
			}
		}
		if ga := f.invoiceOf(t, "F2", f.ga, "2026-10"); ga.TotalCents != 450 {
			t.Errorf("F2's GA invoice total = %d, want 450", ga.TotalCents)
		}
	})

	t.Run("Batch", func(t *testing.T) {
		var b struct {
			Filename string `db:"filename"`
			Status   string `db:"status"`
			Rows     int    `db:"rows"`
			Invoices int    `db:"invoices"`
			Total    int64  `db:"total_cents"`
		}
		f.inTx(t, func(tx *sqlx.Tx) error {
			return tx.Get(&b, `SELECT filename, status, rows, invoices, total_cents FROM import_batches WHERE tenant_id = $1 AND id = $2`, f.tid, res.BatchID)
		})
		if b.Filename != "factures.csv" || b.Status != "imported" || b.Rows != 6 || b.Invoices != 4 || b.Total != 10016 {
			t.Errorf("batch = %+v, want factures.csv, imported, 6 rows, 4 invoices, 10016 cents", b)
		}
	})

	t.Run("Families", func(t *testing.T) {
		d := mustByRef(t, f.db, f.tid, "F1")
		if d.Name != "Dupont" || d.Address != "1 rue de la Mairie" || d.PostalCode != "44000" || d.City != "Nantes" ||
			!slices.Equal(sorted(d.Emails), []string{"a@exemple.fr", "b@exemple.fr"}) {
			t.Errorf("F1 = %+v, want Dupont with a@ and b@ (A@ of line 7 is a@)", d)
		}
		m := mustByRef(t, f.db, f.tid, "F2")
		if m.Name != "Martin" || m.Address != "9 quai Ceineray" || !slices.Equal(sorted(m.Emails), []string{"c@exemple.fr", "d@exemple.fr"}) {
			t.Errorf("F2 = %+v, want Martin with c@ and d@", m)
		}
	})

	t.Run("FamilyUpdatedAndEmailsAdded", func(t *testing.T) {
		renamed := strings.ReplaceAll(strings.ReplaceAll(data, ";Martin;", ";Martin-Roux;"), "c@exemple.fr,d@exemple.fr", "e@exemple.fr")
		res2 := f.mustImport(t, renamed)
		if res2.UpdatedFamilies != 1 || res2.NewFamilies != 0 || res2.UnchangedInvoices != 4 || !res2.NothingToDo() || res2.BatchID != 0 {
			t.Errorf("result = %+v, want 1 updated family, 4 unchanged invoices, nothing to do", res2)
		}
		m := mustByRef(t, f.db, f.tid, "F2")
		if m.Name != "Martin-Roux" || !slices.Equal(sorted(m.Emails), []string{"c@exemple.fr", "d@exemple.fr", "e@exemple.fr"}) {
			t.Errorf("F2 = %+v, want Martin-Roux with e@ added to c@ and d@", m)
		}
	})
}

func TestImport_Identical(t *testing.T) {
	f := newFixture(t, "import-identical")
	jobs := jobsClient(t, f.db)
	data := csvFile(
		meal("F1", "Dupont"),
		meal("F1", "Dupont").with(func(r *csvRow) { r.Libelle, r.Quantite, r.Prix = "Goûter", "4", "0,80" }),
		meal("F2", "Martin"),
		meal("F2", "Martin").with(func(r *csvRow) { r.Serie, r.Libelle = "GA", "Garderie" }),
	)
	first := f.mustImport(t, data)
	if first.NewInvoices != 3 {
		t.Fatalf("first import: %+v, want 3 new invoices", first)
	}
	before := f.counts(t)
	invoicesBefore := f.invoices(t)

	again := func(t *testing.T) {
		t.Helper()
		res := f.mustImport(t, data)
		if !res.NothingToDo() || res.BatchID != 0 || res.UnchangedInvoices != 3 || res.NewInvoices != 0 || res.ReplacedInvoices != 0 ||
			res.NewFamilies != 0 || res.UpdatedFamilies != 0 || res.TotalCents != 0 || len(res.Groups) != 0 || res.Rows != 4 {
			t.Errorf("identical import = %+v, want nothing to do, 3 unchanged, no batch", res)
		}
		if after := f.counts(t); !maps.Equal(after, before) {
			t.Errorf("rows after an identical import %v, before %v", after, before)
		}
	}

	t.Run("Draft", func(t *testing.T) {
		again(t)
		for i, inv := range f.invoices(t) {
			if old := invoicesBefore[i]; inv.ID != old.ID || inv.BatchID != first.BatchID || !inv.UpdatedAt.Equal(old.UpdatedAt) {
				t.Errorf("invoice %d after an identical import: batch %d, updated %v; was batch %d, updated %v", inv.ID, inv.BatchID, inv.UpdatedAt, old.BatchID, old.UpdatedAt)
			}
		}
	})

	t.Run("Published", func(t *testing.T) {
		f.mustPublish(t, jobs, first.BatchID)
		published := f.invoices(t)
		again(t)
		for i, inv := range f.invoices(t) {
			if inv.Status != billing.Published || inv.Ref() != published[i].Ref() || !inv.UpdatedAt.Equal(published[i].UpdatedAt) {
				t.Errorf("published invoice %d after an identical import: %+v", inv.ID, inv)
			}
		}
		if n := publishedJobs(t, f.db, f.tid, first.BatchID); n != 1 {
			t.Errorf("%d publication jobs, want 1", n)
		}
	})
}

func TestImport_ReplaceDraft(t *testing.T) {
	f := newFixture(t, "import-replace")
	jobs := jobsClient(t, f.db)
	first := f.mustImport(t, csvFile(meal("F1", "Dupont"), meal("F2", "Martin").with(func(r *csvRow) { r.Quantite = "10" })))
	f1 := f.invoiceOf(t, "F1", f.rs, "2026-10")
	f2 := f.invoiceOf(t, "F2", f.rs, "2026-10")

	res := f.mustImport(t, csvFile(
		meal("F1", "Dupont").with(func(r *csvRow) { r.Quantite, r.Echeance = "16", "30/11/2026" }),
		meal("F1", "Dupont").with(func(r *csvRow) { r.Libelle, r.Quantite, r.Prix, r.Echeance = "Goûter", "4", "0,80", "30/11/2026" }),
		meal("F2", "Martin").with(func(r *csvRow) { r.Quantite = "10" }),
		meal("F3", "Roux"),
	))
	if res.ReplacedInvoices != 1 || res.UnchangedInvoices != 1 || res.NewInvoices != 1 || res.NewFamilies != 1 ||
		res.TotalCents != 4320+3750 || res.BatchID == 0 || res.BatchID == first.BatchID || res.NothingToDo() {
		t.Fatalf("result = %+v, want 1 replaced, 1 unchanged, 1 new in a new batch, total 80,70 €", res)
	}
	wantGroups(t, res.Groups, []billing.ImportGroup{{SeriesCode: "RS", Period: date(2026, 10, 1), Invoices: 2, TotalCents: 8070}})

	got := f.invoice(t, f1.ID)
	if got.BatchID != res.BatchID || got.TotalCents != 4320 || got.Status != billing.Draft || !got.DueDate.Equal(date(2026, 11, 30)) || got.ContentHash == f1.ContentHash {
		t.Errorf("replaced invoice = %+v, want the same id in batch %d, 43,20 € due 30/11/2026 with a new hash", got, res.BatchID)
	}
	wantLines := []billing.Line{
		{Position: 1, Label: "Repas", QuantityMilli: 16000, UnitPriceCents: 250, TotalCents: 4000},
		{Position: 2, Label: "Goûter", QuantityMilli: 4000, UnitPriceCents: 80, TotalCents: 320},
	}
	if lines := f.lines(t, f1.ID); !slices.Equal(lines, wantLines) {
		t.Errorf("replaced lines = %+v, want %+v", lines, wantLines)
	}
	if got := f.invoice(t, f2.ID); got.BatchID != first.BatchID {
		t.Errorf("unchanged invoice moved to batch %d, want %d", got.BatchID, first.BatchID)
	}
	if n := f.count(t, "invoices"); n != 3 {
		t.Errorf("%d invoices, want 3", n)
	}
	if n := f.count(t, "invoice_lines"); n != 4 {
		t.Errorf("%d lines, want 4: the replaced invoice's old line must be gone", n)
	}

	// Each batch publishes what it holds now.
	if n := f.mustPublish(t, jobs, first.BatchID); n != 1 {
		t.Errorf("first batch published %d invoices, want 1 (F2)", n)
	}
	if n := f.mustPublish(t, jobs, res.BatchID); n != 2 {
		t.Errorf("second batch published %d invoices, want 2 (F1, F3)", n)
	}
}

func TestImport_PublishedInvoice(t *testing.T) {
	f := newFixture(t, "import-published")
	jobs := jobsClient(t, f.db)
	data := csvFile(meal("F1", "Dupont"), meal("F2", "Martin"))
	first := f.mustImport(t, data)
	f.mustPublish(t, jobs, first.BatchID) // Dupont 8001516, Martin 8001517
	changed := csvFile(meal("F1", "Dupont"), meal("F2", "Martin").with(func(r *csvRow) { r.Quantite = "14" }))
	martin := f.invoiceOf(t, "F2", f.rs, "2026-10")
	if martin.Ref() != "2026-RS-00-8001517" {
		t.Fatalf("Martin's reference = %q, want 2026-RS-00-8001517", martin.Ref())
	}

	t.Run("ChangeRefused", func(t *testing.T) {
		wantInvalid(t, f, changed, []string{
			"ligne 3 (colonne famille) : la facture 2026-RS-00-8001517 (10/2026) est déjà publiée : annulez-la avant d'en importer une autre version",
		})
		if lines := f.lines(t, martin.ID); len(lines) != 1 || lines[0].QuantityMilli != 15000 {
			t.Errorf("published lines = %+v, want the 15 meals unchanged", lines)
		}
	})

	t.Run("NewInvoiceInPublishedPeriod", func(t *testing.T) {
		res := f.mustImport(t, data+meal("F3", "Roux").String()+"\n")
		if res.NewInvoices != 1 || res.UnchangedInvoices != 2 || res.BatchID == 0 {
			t.Fatalf("result = %+v, want 1 new and 2 unchanged", res)
		}
		f.mustPublish(t, jobs, res.BatchID)
		if got := f.invoiceOf(t, "F3", f.rs, "2026-10").Ref(); got != "2026-RS-00-8001518" {
			t.Errorf("Roux's reference = %q, want the next number 2026-RS-00-8001518", got)
		}
	})

	t.Run("PaidChangeRefused", func(t *testing.T) {
		f.inTx(t, func(tx *sqlx.Tx) error {
			_, err := tx.Exec(`UPDATE invoices SET status = 'paid', paid_at = now() WHERE tenant_id = $1 AND id = $2`, f.tid, martin.ID)
			return err
		})
		wantInvalid(t, f, changed, []string{
			"ligne 3 (colonne famille) : la facture 2026-RS-00-8001517 (10/2026) est déjà publiée et payée : annulez-la avant d'en importer une autre version",
		})
	})

	t.Run("AfterCancellation", func(t *testing.T) {
		dupont := f.invoiceOf(t, "F1", f.rs, "2026-10")
		f.inTx(t, func(tx *sqlx.Tx) error {
			_, err := billing.CancelInvoice(context.Background(), tx, f.tid, dupont.Ref(), "erreur de quantité", publishedAt)
			return err
		})
		res := f.mustImport(t, csvFile(meal("F1", "Dupont").with(func(r *csvRow) { r.Quantite = "12" })))
		if res.NewInvoices != 1 || res.BatchID == 0 {
			t.Fatalf("corrected invoice after cancellation: %+v, want 1 new", res)
		}
		if got := f.invoiceOf(t, "F1", f.rs, "2026-10"); got.ID == dupont.ID || got.Status != billing.Draft || got.TotalCents != 3000 {
			t.Errorf("corrected invoice = %+v, want a new draft of 30,00 €", got)
		}
	})
}

func TestImport_OwnReference(t *testing.T) {
	f := newFixture(t, "import-ownref")
	jobs := jobsClient(t, f.db)
	own := meal("F1", "Dupont").with(func(r *csvRow) { r.Reference = "2026-CANT-000123" })
	data := csvFile(own, own.with(func(r *csvRow) { r.Libelle, r.Quantite = "Goûter", "2" }), meal("F2", "Martin"))
	res := f.mustImport(t, data)
	if res.NewInvoices != 2 {
		t.Fatalf("result = %+v, want 2 new invoices", res)
	}
	mine := f.invoiceOf(t, "F1", f.rs, "2026-10")
	if mine.Ref() != "2026-CANT-000123" || mine.RefdetOrEmpty() != "2026CANT000123" || !mine.OwnReference || mine.Number != nil || mine.TotalCents != 4250 {
		t.Fatalf("own-reference invoice = %+v, want 2026-CANT-000123 (refdet 2026CANT000123), own, unnumbered, 42,50 €", mine)
	}

	if n := f.mustPublish(t, jobs, res.BatchID); n != 2 {
		t.Fatalf("published %d, want 2", n)
	}
	mine = f.invoice(t, mine.ID)
	if mine.Ref() != "2026-CANT-000123" || mine.Number != nil || mine.Status != billing.Published {
		t.Errorf("own-reference invoice after publication = %+v, want its reference kept and no number", mine)
	}
	if got := f.invoiceOf(t, "F2", f.rs, "2026-10"); got.Ref() != "2026-RS-00-8001516" || deref(got.Number) != "8001516" {
		t.Errorf("Martin's invoice = %+v, want the series' first number 8001516", got)
	}
	if got := f.series(t, "RS").NextNumber; got != rsNext+1 {
		t.Errorf("next_number = %d, want %d: the own reference takes no number", got, rsNext+1)
	}
	if again := f.mustImport(t, data); !again.NothingToDo() || again.UnchangedInvoices != 2 {
		t.Errorf("identical import of own references = %+v, want nothing to do", again)
	}

	t.Run("ChangedAfterCancellation", func(t *testing.T) {
		f.inTx(t, func(tx *sqlx.Tx) error {
			_, err := billing.CancelInvoice(context.Background(), tx, f.tid, "2026-CANT-000123", "erreur", publishedAt)
			return err
		})
		wantInvalid(t, f, csvFile(own.with(func(r *csvRow) { r.Quantite = "3" })), []string{
			"ligne 2 (colonne famille) : la facture 2026-CANT-000123 est annulée : donnez une nouvelle référence à la facture corrigée",
		})
		res := f.mustImport(t, csvFile(own.with(func(r *csvRow) { r.Quantite, r.Reference = "3", "2026-CANT-000124" })))
		if res.NewInvoices != 1 {
			t.Errorf("corrected invoice under a new reference = %+v, want 1 new", res)
		}
	})
}

func TestImport_RefdetUniqueness(t *testing.T) {
	a := newFixture(t, "import-refdet-a")
	b := newFixture(t, "import-refdet-b")
	const ref = "2026-RS-00-0000042"
	a.mustImport(t, csvFile(meal("F1", "Dupont").with(func(r *csvRow) { r.Reference = ref })))

	t.Run("CollidesWithExisting", func(t *testing.T) {
		wantInvalid(t, a, csvFile(meal("F2", "Martin").with(func(r *csvRow) { r.Reference = "2026RS00/0000042" })), []string{
			"ligne 2 (colonne reference) : la référence 2026RS00/0000042 se confond pour la DGFiP avec la facture existante 2026-RS-00-0000042",
		})
	})

	t.Run("TakenByAnotherFamily", func(t *testing.T) {
		wantInvalid(t, a, csvFile(meal("F2", "Martin").with(func(r *csvRow) { r.Reference = ref })), []string{
			"ligne 2 (colonne reference) : la référence 2026-RS-00-0000042 appartient déjà à la famille F1",
		})
	})

	t.Run("CollideInFile", func(t *testing.T) {
		wantInvalid(t, a, csvFile(
			meal("F2", "Martin").with(func(r *csvRow) { r.Reference = "ABC-123456" }),
			meal("F3", "Roux").with(func(r *csvRow) { r.Reference = "ABC123456" }),
		), []string{
			"ligne 3 (colonne reference) : les références ABC123456 et ABC-123456 (ligne 2) se confondent pour la DGFiP",
		})
	})

	t.Run("SameReferenceInAnotherCommune", func(t *testing.T) {
		res := b.mustImport(t, csvFile(meal("F9", "Autre").with(func(r *csvRow) { r.Reference = ref })))
		if res.NewInvoices != 1 {
			t.Fatalf("result = %+v, want 1 new invoice", res)
		}
		if got := b.invoiceOf(t, "F9", b.rs, "2026-10"); got.Ref() != ref || got.RefdetOrEmpty() != "2026RS000000042" {
			t.Errorf("commune B's invoice = %+v, want %s", got, ref)
		}
	})
}

func TestImportResult_NothingToDo(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    billing.ImportResult
		want bool
	}{
		{"AllUnchanged", billing.ImportResult{UnchangedInvoices: 3, UpdatedFamilies: 1}, true},
		{"New", billing.ImportResult{NewInvoices: 1, UnchangedInvoices: 3}, false},
		{"Replaced", billing.ImportResult{ReplacedInvoices: 1}, false},
		{"Errors", billing.ImportResult{Errors: []billing.LineError{{Line: 2, Column: "-", Message: "x"}}}, false},
	} {
		if got := tc.r.NothingToDo(); got != tc.want {
			t.Errorf("%s: NothingToDo() = %v, want %v", tc.name, got, tc.want)
		}
	}
}
