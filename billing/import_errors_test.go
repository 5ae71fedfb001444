package billing_test

import (
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/regie/regie/billing"
)

// wantInvalid fails unless an import was refused with exactly the errors
// want, and saved nothing.
func wantInvalid(t *testing.T, f fixture, data string, want []string) {
	t.Helper()
	before := f.counts(t)
	res, err := f.importCSV(t, data)
	if !errors.Is(err, billing.ErrInvalidImport) {
		t.Fatalf("import: err = %v, want ErrInvalidImport (errors %q)", err, lineErrors(res.Errors))
	}
	if got := lineErrors(res.Errors); !slices.Equal(got, want) {
		t.Errorf("errors =\n%q\nwant\n%q", got, want)
	}
	if res.BatchID != 0 {
		t.Errorf("BatchID = %d, want 0 for a refused file", res.BatchID)
	}
	if after := f.counts(t); !maps.Equal(after, before) {
		t.Errorf("rows after a refused import %v, before %v: something was saved", after, before)
	}
}

func TestImport_CrossRowErrors(t *testing.T) {
	f := newFixture(t, "import-crossrow")
	d := meal("F1", "Dupont")
	for _, tc := range []struct {
		name string
		rows []csvRow
		want []string
	}{
		{"FamilyTwoNames", []csvRow{d, meal("F2", "Martin"), d.with(func(r *csvRow) { r.Nom, r.Serie = "Durand", "GA" })},
			[]string{"ligne 4 (colonne nom) : la famille F1 s'appelle « Dupont » à la ligne 2"}},
		{"FamilyTwoAddresses", []csvRow{d, d.with(func(r *csvRow) { r.Periode, r.Ville = "2026-11", "Rezé" })},
			[]string{"ligne 3 (colonne adresse) : la famille F1 a une autre adresse à la ligne 2"}},
		{"ReferenceTwoFamilies", []csvRow{
			d.with(func(r *csvRow) { r.Reference = "REF-000001" }),
			meal("F2", "Martin").with(func(r *csvRow) { r.Reference = "REF-000001" }),
		}, []string{"ligne 3 (colonne reference) : la facture REF-000001 a une autre famille, série ou période à la ligne 2"}},
		{"ReferenceTwoSeries", []csvRow{
			d.with(func(r *csvRow) { r.Reference = "REF-000001" }),
			d.with(func(r *csvRow) { r.Reference, r.Serie = "REF-000001", "GA" }),
		}, []string{"ligne 3 (colonne reference) : la facture REF-000001 a une autre famille, série ou période à la ligne 2"}},
		{"ReferenceTwoPeriods", []csvRow{
			d.with(func(r *csvRow) { r.Reference = "REF-000001" }),
			d.with(func(r *csvRow) { r.Reference, r.Periode = "REF-000001", "2026-11" }),
		}, []string{"ligne 3 (colonne reference) : la facture REF-000001 a une autre famille, série ou période à la ligne 2"}},
		{"TwoDueDates", []csvRow{d, meal("F2", "Martin"), d.with(func(r *csvRow) { r.Libelle, r.Echeance = "Goûter", "30/11/2026" })},
			[]string{"ligne 4 (colonne echeance) : les lignes d'une même facture doivent avoir la même échéance (voir la ligne 2)"}},
		{"NegativeTotal", []csvRow{
			meal("F2", "Martin"),
			d.with(func(r *csvRow) { r.Quantite = "2" }),
			d.with(func(r *csvRow) { r.Libelle, r.Quantite, r.Prix = "Remise", "1", "-10,00" }),
		}, []string{"ligne 3 (colonne prix_unitaire) : le total de la facture (lignes 3) doit être positif ; il vaut -500 centimes"}},
		{"ZeroTotal", []csvRow{
			d.with(func(r *csvRow) { r.Quantite, r.Prix = "1", "5" }),
			d.with(func(r *csvRow) { r.Libelle, r.Quantite, r.Prix = "Remise", "1", "-5" }),
		}, []string{"ligne 2 (colonne prix_unitaire) : le total de la facture (lignes 2) doit être positif ; il vaut 0 centimes"}},
		{"ReferencesCollide", []csvRow{
			d.with(func(r *csvRow) { r.Reference = "2026/RS/42" }),
			meal("F2", "Martin").with(func(r *csvRow) { r.Reference = "2026-RS-42" }),
		}, []string{"ligne 3 (colonne reference) : les références 2026-RS-42 et 2026/RS/42 (ligne 2) se confondent pour la DGFiP"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantInvalid(t, f, csvFile(tc.rows...), tc.want)
		})
	}

	t.Run("DiscountWithinTotalIsFine", func(t *testing.T) {
		res := f.mustImport(t, csvFile(d, d.with(func(r *csvRow) { r.Libelle, r.Quantite, r.Prix = "Remise fratrie", "1", "-10" })))
		if res.NewInvoices != 1 || res.TotalCents != 2750 {
			t.Errorf("result = %+v, want one invoice of 27,50 €", res)
		}
	})
}

func TestImport_AllErrorsAtOnce(t *testing.T) {
	f := newFixture(t, "import-allerrors")
	rows := []csvRow{
		meal("F1", "Dupont"), // 2
		meal("F2", "Martin").with(func(r *csvRow) { r.Quantite = "0" }), // 3
		meal("F3", "Roux"), // 4
		meal("F4", "Petit").with(func(r *csvRow) { r.Serie = "ZZ" }), // 5
		meal("F5", "Blanc"), // 6
		meal("F6", "Morel"), // 7
		meal("F7", "Faure"), // 8
		meal("F8", "Girard").with(func(r *csvRow) { r.Echeance = "32/01/2027" }), // 9
	}
	wantInvalid(t, f, csvFile(rows...), []string{
		"ligne 3 (colonne quantite) : quantité « 0 » invalide : un nombre positif, 3 décimales au plus (ex. 15 ou 2,5)",
		"ligne 5 (colonne serie) : série inconnue « ZZ » (séries de la commune : GA, RS)",
		"ligne 9 (colonne echeance) : date « 32/01/2027 » illisible : écrivez JJ/MM/AAAA (ex. 15/11/2026)",
	})

	t.Run("RowAndCrossRowErrorsInLineOrder", func(t *testing.T) {
		rows := append(rows[:len(rows):len(rows)], meal("F1", "Dupond").with(func(r *csvRow) { r.Serie = "GA" })) // 10
		rows[6] = rows[6].with(func(r *csvRow) { r.Quantite, r.Prix = "1", "-1" })                                // 8
		wantInvalid(t, f, csvFile(rows...), []string{
			"ligne 3 (colonne quantite) : quantité « 0 » invalide : un nombre positif, 3 décimales au plus (ex. 15 ou 2,5)",
			"ligne 5 (colonne serie) : série inconnue « ZZ » (séries de la commune : GA, RS)",
			"ligne 8 (colonne prix_unitaire) : le total de la facture (lignes 8) doit être positif ; il vaut -100 centimes",
			"ligne 9 (colonne echeance) : date « 32/01/2027 » illisible : écrivez JJ/MM/AAAA (ex. 15/11/2026)",
			"ligne 10 (colonne nom) : la famille F1 s'appelle « Dupont » à la ligne 2",
		})
	})
}

// TestImport_AllOrNothing: one bad row, and the transaction the error is
// returned from saves nothing at all.
func TestImport_AllOrNothing(t *testing.T) {
	f := newFixture(t, "import-allornothing")
	var rows []csvRow
	for _, fam := range []string{"F1", "F2", "F3", "F4", "F5"} {
		rows = append(rows, meal(fam, "Famille "+fam), meal(fam, "Famille "+fam).with(func(r *csvRow) { r.Serie, r.Libelle = "GA", "Garderie" }))
	}
	rows = append(rows, meal("F6", "Famille F6").with(func(r *csvRow) { r.Prix = "2,505" })) // line 12
	wantInvalid(t, f, csvFile(rows...), []string{
		"ligne 12 (colonne prix_unitaire) : prix « 2,505 » invalide : un montant en euros, 2 décimales au plus (ex. 2,50)",
	})
	for table, n := range f.counts(t) {
		if n != 0 {
			t.Errorf("%s: %d rows after a refused import, want 0", table, n)
		}
	}
	if got := f.series(t, "RS").NextNumber; got != rsNext {
		t.Errorf("RS next_number = %d, want %d", got, rsNext)
	}
}

func TestImport_NoRows(t *testing.T) {
	f := newFixture(t, "import-norows")
	for name, data := range map[string]string{
		"HeaderOnly":      csvHeader + "\n",
		"BlankLinesOnly":  csvHeader + "\n\n;;;;;;;;;;;;\n  \n",
		"HeaderNoNewline": csvHeader,
	} {
		t.Run(name, func(t *testing.T) {
			wantInvalid(t, f, data, []string{"ligne 2 (colonne -) : le fichier ne contient aucune ligne de facture"})
		})
	}
}
