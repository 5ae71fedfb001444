package billing_test

import (
	"errors"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/regie/regie/billing"
)

// seriesCodes are the series of the communes of the CSV tests.
var seriesCodes = []string{"RS", "GA"}

// readAll reads every row of an import file that has a usable header.
func readAll(t *testing.T, data string) ([]billing.ImportRow, []billing.LineError) {
	t.Helper()
	src, headErrs, err := billing.NewCSVSource(strings.NewReader(data), seriesCodes)
	if err != nil {
		t.Fatalf("NewCSVSource: %v %v", err, lineErrors(headErrs))
	}
	var rows []billing.ImportRow
	var errs []billing.LineError
	for {
		row, rowErrs, err := src.Next()
		if err == io.EOF {
			return rows, errs
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if len(rowErrs) == 0 {
			rows = append(rows, row)
		}
		errs = append(errs, rowErrs...)
	}
}

func TestLineError_String(t *testing.T) {
	e := billing.LineError{Line: 12, Column: "prix_unitaire", Message: "valeur obligatoire"}
	if got, want := e.String(), "ligne 12 (colonne prix_unitaire) : valeur obligatoire"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestNewCSVSource_Header(t *testing.T) {
	const missing = "colonne obligatoire absente (colonnes attendues : famille, nom, email, adresse, code_postal, ville, serie, periode, libelle, quantite, prix_unitaire, echeance ; séparateur ; ou ,)"
	for _, tc := range []struct {
		name string
		data string
		want []string
	}{
		{"MissingColumn", strings.Replace(csvHeader, ";echeance", "", 1) + "\n",
			[]string{"ligne 1 (colonne echeance) : " + missing}},
		{"TwoMissingColumns", "famille;nom;email;adresse;code_postal;ville;serie;periode;libelle;quantite\n",
			[]string{"ligne 1 (colonne prix_unitaire) : " + missing, "ligne 1 (colonne echeance) : " + missing}},
		{"DuplicateColumn", csvHeader + ";Courriel\n",
			[]string{"ligne 1 (colonne Courriel) : colonne en double"}},
		{"DuplicateAccentedColumn", csvHeader + ";Échéance\n",
			[]string{"ligne 1 (colonne Échéance) : colonne en double"}},
		{"Empty", "",
			[]string{"ligne 1 (colonne -) : fichier vide ou illisible : la première ligne doit nommer les colonnes"}},
		{"UnclosedQuoteInHeader", `famille;"nom;email` + "\n",
			[]string{"ligne 1 (colonne -) : fichier vide ou illisible : la première ligne doit nommer les colonnes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, errs, err := billing.NewCSVSource(strings.NewReader(tc.data), seriesCodes)
			if !errors.Is(err, billing.ErrBadFile) || src != nil {
				t.Fatalf("NewCSVSource = %v, %v; want ErrBadFile", src, err)
			}
			if got := lineErrors(errs); !slices.Equal(got, tc.want) {
				t.Errorf("errors =\n%q\nwant\n%q", got, tc.want)
			}
		})
	}

	t.Run("WrongSeparator", func(t *testing.T) {
		_, errs, err := billing.NewCSVSource(strings.NewReader(strings.ReplaceAll(csvHeader, ";", "\t")+"\n"), seriesCodes)
		if !errors.Is(err, billing.ErrBadFile) || len(errs) != 12 {
			t.Fatalf("tab-separated header: %v with %d errors %q, want ErrBadFile and the 12 required columns missing", err, len(errs), lineErrors(errs))
		}
	})

	t.Run("IgnoredColumns", func(t *testing.T) {
		src, errs, err := billing.NewCSVSource(strings.NewReader("Commentaire;"+csvHeader+"; ;Classe\n"), seriesCodes)
		if err != nil {
			t.Fatalf("NewCSVSource: %v %q", err, lineErrors(errs))
		}
		if want := []string{"Commentaire", "Classe"}; !slices.Equal(src.Ignored, want) {
			t.Errorf("Ignored = %q, want %q", src.Ignored, want)
		}
	})
}

func TestCSVSource_RowErrors(t *testing.T) {
	ok := meal("F1", "Dupont")
	bad := func(fn func(r *csvRow)) string { return meal("F3", "Durand").with(fn).String() }
	long := func(n int) string { return strings.Repeat("x", n) }
	for _, tc := range []struct {
		name string
		line string // line 3, after the valid line 2
		want []string
	}{
		{"EmptyFamille", bad(func(r *csvRow) { r.Famille = "" }), []string{"ligne 3 (colonne famille) : valeur obligatoire"}},
		{"BlankNom", bad(func(r *csvRow) { r.Nom = "   " }), []string{"ligne 3 (colonne nom) : valeur obligatoire"}},
		{"EmptyLibelle", bad(func(r *csvRow) { r.Libelle = "" }), []string{"ligne 3 (colonne libelle) : valeur obligatoire"}},
		{"EmptySerie", bad(func(r *csvRow) { r.Serie = "" }), []string{"ligne 3 (colonne serie) : valeur obligatoire"}},
		{"EmptyPeriode", bad(func(r *csvRow) { r.Periode = "" }), []string{"ligne 3 (colonne periode) : valeur obligatoire (AAAA-MM ou MM/AAAA)"}},
		{"EmptyEcheance", bad(func(r *csvRow) { r.Echeance = "" }), []string{"ligne 3 (colonne echeance) : valeur obligatoire (JJ/MM/AAAA)"}},
		{"EmptyQuantite", bad(func(r *csvRow) { r.Quantite = "" }), []string{"ligne 3 (colonne quantite) : valeur obligatoire"}},
		{"EmptyPrix", bad(func(r *csvRow) { r.Prix = "" }), []string{"ligne 3 (colonne prix_unitaire) : valeur obligatoire"}},
		{"UnknownSeries", bad(func(r *csvRow) { r.Serie = "XX" }),
			[]string{"ligne 3 (colonne serie) : série inconnue « XX » (séries de la commune : GA, RS)"}},
		{"BadPeriodMonth13", bad(func(r *csvRow) { r.Periode = "13/2026" }),
			[]string{"ligne 3 (colonne periode) : période « 13/2026 » illisible : écrivez AAAA-MM ou MM/AAAA (ex. 2026-10 ou 10/2026)"}},
		{"BadPeriodWords", bad(func(r *csvRow) { r.Periode = "octobre 2026" }),
			[]string{"ligne 3 (colonne periode) : période « octobre 2026 » illisible : écrivez AAAA-MM ou MM/AAAA (ex. 2026-10 ou 10/2026)"}},
		{"BadDate", bad(func(r *csvRow) { r.Echeance = "31/02/2026" }),
			[]string{"ligne 3 (colonne echeance) : date « 31/02/2026 » illisible : écrivez JJ/MM/AAAA (ex. 15/11/2026)"}},
		{"BadDateTwoDigitYear", bad(func(r *csvRow) { r.Echeance = "15/11/26" }),
			[]string{"ligne 3 (colonne echeance) : date « 15/11/26 » illisible : écrivez JJ/MM/AAAA (ex. 15/11/2026)"}},
		{"QuantityZero", bad(func(r *csvRow) { r.Quantite = "0" }),
			[]string{"ligne 3 (colonne quantite) : quantité « 0 » invalide : un nombre positif, 3 décimales au plus (ex. 15 ou 2,5)"}},
		{"QuantityNegative", bad(func(r *csvRow) { r.Quantite = "-2" }),
			[]string{"ligne 3 (colonne quantite) : quantité « -2 » invalide : un nombre positif, 3 décimales au plus (ex. 15 ou 2,5)"}},
		{"QuantityFourDecimals", bad(func(r *csvRow) { r.Quantite = "1,2345" }),
			[]string{"ligne 3 (colonne quantite) : quantité « 1,2345 » invalide : un nombre positif, 3 décimales au plus (ex. 15 ou 2,5)"}},
		{"QuantityText", bad(func(r *csvRow) { r.Quantite = "beaucoup" }),
			[]string{"ligne 3 (colonne quantite) : quantité « beaucoup » invalide : un nombre positif, 3 décimales au plus (ex. 15 ou 2,5)"}},
		{"PriceThreeDecimals", bad(func(r *csvRow) { r.Prix = "2,505" }),
			[]string{"ligne 3 (colonne prix_unitaire) : prix « 2,505 » invalide : un montant en euros, 2 décimales au plus (ex. 2,50)"}},
		{"PriceText", bad(func(r *csvRow) { r.Prix = "gratuit" }),
			[]string{"ligne 3 (colonne prix_unitaire) : prix « gratuit » invalide : un montant en euros, 2 décimales au plus (ex. 2,50)"}},
		{"BadEmail", bad(func(r *csvRow) { r.Email = "pas-une-adresse" }),
			[]string{"ligne 3 (colonne email) : adresse de messagerie invalide : « pas-une-adresse »"}},
		{"BadSecondEmail", bad(func(r *csvRow) { r.Email = "a@exemple.fr, b@" }),
			[]string{"ligne 3 (colonne email) : adresse de messagerie invalide : « b@ »"}},
		{"LongFamille", bad(func(r *csvRow) { r.Famille = long(65) }), []string{"ligne 3 (colonne famille) : 64 caractères au plus"}},
		{"LongNom", bad(func(r *csvRow) { r.Nom = long(201) }), []string{"ligne 3 (colonne nom) : 200 caractères au plus"}},
		{"LongAdresse", bad(func(r *csvRow) { r.Adresse = long(301) }), []string{"ligne 3 (colonne adresse) : 300 caractères au plus"}},
		{"LongCodePostal", bad(func(r *csvRow) { r.CodePostal = long(11) }), []string{"ligne 3 (colonne code_postal) : 10 caractères au plus"}},
		{"LongVille", bad(func(r *csvRow) { r.Ville = long(101) }), []string{"ligne 3 (colonne ville) : 100 caractères au plus"}},
		{"LongLibelle", bad(func(r *csvRow) { r.Libelle = long(201) }), []string{"ligne 3 (colonne libelle) : 200 caractères au plus"}},
		{"LongSerie", bad(func(r *csvRow) { r.Serie = "ABCDEFGHIJK" }), []string{
			"ligne 3 (colonne serie) : 10 caractères au plus",
			"ligne 3 (colonne serie) : série inconnue « ABCDEFGHIJK » (séries de la commune : GA, RS)"}},
		{"LongReference", bad(func(r *csvRow) { r.Reference = long(41) }), []string{
			"ligne 3 (colonne reference) : 40 caractères au plus",
			"ligne 3 (colonne reference) : la référence doit compter de 6 à 30 lettres et chiffres pour la DGFiP (« " + long(41) + " » en compte 41)"}},
		{"ShortReference", bad(func(r *csvRow) { r.Reference = "AB-12" }),
			[]string{"ligne 3 (colonne reference) : la référence doit compter de 6 à 30 lettres et chiffres pour la DGFiP (« AB-12 » en compte 4)"}},
		{"NulInName", bad(func(r *csvRow) { r.Nom = "Du\x00rand" }), []string{"ligne 3 (colonne nom) : caractères illisibles"}},
		{"UnclosedQuote", "F3;Durand;f3@exemple.fr;1 rue;44000;Nantes;RS;2026-10;\"Repas;15;2,50;15/11/2026;\nF4;Petit;;;;;RS;2026-10;Repas;1;1;15/11/2026;",
			[]string{"ligne 3 (colonne -) : ligne CSV mal formée (guillemets non fermés ?)"}},
		{"ManyOnOneRow", bad(func(r *csvRow) { r.Nom, r.Quantite, r.Prix = "", "0", "x" }), []string{
			"ligne 3 (colonne nom) : valeur obligatoire",
			"ligne 3 (colonne quantite) : quantité « 0 » invalide : un nombre positif, 3 décimales au plus (ex. 15 ou 2,5)",
			"ligne 3 (colonne prix_unitaire) : prix « x » invalide : un montant en euros, 2 décimales au plus (ex. 2,50)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, errs := readAll(t, csvFile(ok)+tc.line+"\n")
			if got := lineErrors(errs); !slices.Equal(got, tc.want) {
				t.Errorf("errors =\n%q\nwant\n%q", got, tc.want)
			}
			if len(rows) != 1 || rows[0].Line != 2 {
				t.Errorf("accepted rows = %+v, want only line 2", rows)
			}
		})
	}

	t.Run("BareQuoteThenMoreRows", func(t *testing.T) {
		data := csvFile(ok) +
			"F3;Durand;;;;;RS;2026-10;Re\"pas;15;2,50;15/11/2026;\n" + // line 3
			meal("F4", "Petit").String() + "\n" + // line 4: fine
			meal("F5", "Roux").with(func(r *csvRow) { r.Quantite = "0" }).String() + "\n" // line 5
		rows, errs := readAll(t, data)
		want := []string{
			"ligne 3 (colonne -) : ligne CSV mal formée (guillemets non fermés ?)",
			"ligne 5 (colonne quantite) : quantité « 0 » invalide : un nombre positif, 3 décimales au plus (ex. 15 ou 2,5)",
		}
		if got := lineErrors(errs); !slices.Equal(got, want) {
			t.Errorf("errors =\n%q\nwant\n%q", got, want)
		}
		if len(rows) != 2 || rows[1].Line != 4 || rows[1].FamilyRef != "F4" {
			t.Errorf("accepted rows = %+v, want lines 2 and 4", rows)
		}
	})

	t.Run("ErrorRowKeepsWhatItCould", func(t *testing.T) {
		src, _, err := billing.NewCSVSource(strings.NewReader(csvFile(meal("F3", "Durand").with(func(r *csvRow) { r.Quantite = "0" }))), seriesCodes)
		if err != nil {
			t.Fatal(err)
		}
		row, errs, err := src.Next()
		if err != nil || len(errs) != 1 {
			t.Fatalf("Next = %v, %v; want one error", errs, err)
		}
		if row.Line != 2 || row.FamilyRef != "F3" || row.SeriesCode != "RS" || row.Period != date(2026, 10, 1) {
			t.Errorf("row with an error = %+v, want line 2 of F3 in RS 2026-10", row)
		}
	})
}

func TestCSVSource_Next(t *testing.T) {
	data := csvFile(meal("F1", "Dupont").with(func(r *csvRow) {
		r.Email = " Jean@Exemple.FR, marie@exemple.fr;jean@exemple.fr\tpaul@exemple.fr "
		r.Serie, r.Quantite, r.Prix, r.Reference = "rs", "2,5", "-1,25", "2026-CANT-000123"
	}))
	rows, errs := readAll(t, data)
	if len(errs) != 0 || len(rows) != 1 {
		t.Fatalf("rows %+v, errors %q; want one row", rows, lineErrors(errs))
	}
	want := billing.ImportRow{
		Line: 2, FamilyRef: "F1", Name: "Dupont",
		Emails:  []string{"jean@exemple.fr", "marie@exemple.fr", "paul@exemple.fr"},
		Address: "1 rue de la Mairie", PostalCode: "44000", City: "Nantes",
		SeriesCode: "RS", Period: date(2026, 10, 1), Label: "Repas",
		QuantityMilli: 2500, UnitPriceCents: -125, DueDate: date(2026, 11, 15), Reference: "2026-CANT-000123",
	}
	if got := rows[0]; !equalRows(got, want) {
		t.Errorf("row =\n%+v\nwant\n%+v", got, want)
	}
}

// equalRows compares rows, their dates with time.Time.Equal.
func equalRows(a, b billing.ImportRow) bool {
	if !a.Period.Equal(b.Period) || !a.DueDate.Equal(b.DueDate) {
		return false
	}
	a.Period, b.Period, a.DueDate, b.DueDate = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

// cp1252 is an import file as Excel saves it on a French Windows: the
// header and values in Windows-1252 (é = E9, É = C9, è = E8, ê = EA, û = FB,
// € = 80), separator ;, decimal comma, CRLF.
const cp1252 = "Famille;Nom;Pr\xe9nom;Email;Adresse;Code postal;Ville;S\xe9rie;P\xe9riode;Libell\xe9;Quantit\xe9;Prix unitaire;\xc9ch\xe9ance\r\n" +
	"F1;Lef\xe8vre;H\xe9l\xe8ne;lefevre@exemple.fr;2 all\xe9e des Ch\xeanes;44000;Nantes;RS;10/2026;Go\xfbter;2,5;2,50 \x80;15/11/2026\r\n"

func TestCSVSource_Formats(t *testing.T) {
	for _, tc := range []struct {
		name    string
		data    string
		want    billing.ImportRow // the fields compared: see check
		ignored []string
	}{
		{"Windows1252", cp1252,
			billing.ImportRow{Line: 2, FamilyRef: "F1", Name: "Lefèvre", Address: "2 allée des Chênes", Label: "Goûter",
				QuantityMilli: 2500, UnitPriceCents: 250, Period: date(2026, 10, 1), DueDate: date(2026, 11, 15)},
			[]string{"Prénom"}},
		{"UTF8WithBOM", "\xef\xbb\xbf" + csvFile(meal("F1", "Lefèvre")),
			billing.ImportRow{Line: 2, FamilyRef: "F1", Name: "Lefèvre", Address: "1 rue de la Mairie", Label: "Repas",
				QuantityMilli: 15000, UnitPriceCents: 250, Period: date(2026, 10, 1), DueDate: date(2026, 11, 15)}, nil},
		{"AccentedUpperCaseHeaders",
			"FAMILLE;Nom;E-mail;Adresse;CP;Ville;Série;PÉRIODE;Libellé;Quantité;PRIX UNITAIRE;Échéance;Référence\n" +
				"F1;Lefèvre;;3 rue Émile Zola;44000;Nantes;GA;2026-1;Garderie;1,5;3;5/1/2026;GA-2026-000001\n",
			billing.ImportRow{Line: 2, FamilyRef: "F1", Name: "Lefèvre", Address: "3 rue Émile Zola", Label: "Garderie",
				QuantityMilli: 1500, UnitPriceCents: 300, Period: date(2026, 1, 1), DueDate: date(2026, 1, 5), Reference: "GA-2026-000001"}, nil},
		{"CommaAndDecimalPoint",
			strings.ReplaceAll(csvHeader, ";", ",") + "\n" +
				"F1,Dupont,a@exemple.fr b@exemple.fr,\"1, rue de la Mairie\",44000,Nantes,RS,2026-10,Repas,2.5,2.50,2026-11-15,\n",
			billing.ImportRow{Line: 2, FamilyRef: "F1", Name: "Dupont", Address: "1, rue de la Mairie", Label: "Repas",
				QuantityMilli: 2500, UnitPriceCents: 250, Period: date(2026, 10, 1), DueDate: date(2026, 11, 15)}, nil},
		{"CommaAndQuotedDecimalComma",
			strings.ReplaceAll(csvHeader, ";", ",") + "\n" +
				"F1,Dupont,,,,,RS,10/2026,Repas,\"2,5\",\"1 234,56 €\",15/11/2026,\n",
			billing.ImportRow{Line: 2, FamilyRef: "F1", Name: "Dupont", Label: "Repas",
				QuantityMilli: 2500, UnitPriceCents: 123456, Period: date(2026, 10, 1), DueDate: date(2026, 11, 15)}, nil},
		{"ThousandsWithNoBreakSpace", csvFile(meal("F1", "Dupont").with(func(r *csvRow) { r.Prix = "1\u00a0234,56\u00a0€"; r.Periode = "1/2027" })),
			billing.ImportRow{Line: 2, FamilyRef: "F1", Name: "Dupont", Address: "1 rue de la Mairie", Label: "Repas",
				QuantityMilli: 15000, UnitPriceCents: 123456, Period: date(2027, 1, 1), DueDate: date(2026, 11, 15)}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, headErrs, err := billing.NewCSVSource(strings.NewReader(tc.data), seriesCodes)
			if err != nil {
				t.Fatalf("NewCSVSource: %v %q", err, lineErrors(headErrs))
			}
			if !slices.Equal(src.Ignored, tc.ignored) {
				t.Errorf("Ignored = %q, want %q", src.Ignored, tc.ignored)
			}
			got, errs, err := src.Next()
			if err != nil || len(errs) != 0 {
				t.Fatalf("Next: %v %q", err, lineErrors(errs))
			}
			w := tc.want
			if got.Line != w.Line || got.FamilyRef != w.FamilyRef || got.Name != w.Name || got.Address != w.Address ||
				got.Label != w.Label || got.QuantityMilli != w.QuantityMilli || got.UnitPriceCents != w.UnitPriceCents ||
				!got.Period.Equal(w.Period) || !got.DueDate.Equal(w.DueDate) || got.Reference != w.Reference {
				t.Errorf("row =\n%+v\nwant\n%+v", got, w)
			}
			if _, _, err := src.Next(); err != io.EOF {
				t.Errorf("after the only row: err = %v, want io.EOF", err)
			}
		})
	}
}

func TestCSVSource_LineNumbers(t *testing.T) {
	data := csvHeader + "\n" +
		meal("F1", "Dupont").String() + "\n" + // 2
		"\n" + // 3: empty
		";;;;;;;;;;;;\n" + // 4: empty cells
		" ; ;\t; ; ; ; ; ; ; ; ; ; \n" + // 5: blank cells
		meal("F2", "Martin").with(func(r *csvRow) { r.Adresse = "Résidence des Lilas\nBâtiment B\nEscalier 3" }).String() + "\n" + // 6 to 8
		meal("F3", "Roux").String() + "\r\n" + // 9, CRLF
		meal("F4", "Petit").with(func(r *csvRow) { r.Quantite = "0" }).String() + "\n" + // 10
		"\n\n" + // 11, 12
		meal("F5", "Blanc").with(func(r *csvRow) { r.Prix = "x" }).String() // 13, no final newline
	rows, errs := readAll(t, data)
	var lines []int
	for _, r := range rows {
		lines = append(lines, r.Line)
	}
	if want := []int{2, 6, 9}; !slices.Equal(lines, want) {
		t.Errorf("accepted rows on lines %v, want %v", lines, want)
	}
	if len(rows) > 1 && rows[1].Address != "Résidence des Lilas\nBâtiment B\nEscalier 3" {
		t.Errorf("multi-line address = %q", rows[1].Address)
	}
	want := []string{
		"ligne 10 (colonne quantite) : quantité « 0 » invalide : un nombre positif, 3 décimales au plus (ex. 15 ou 2,5)",
		"ligne 13 (colonne prix_unitaire) : prix « x » invalide : un montant en euros, 2 décimales au plus (ex. 2,50)",
	}
	if got := lineErrors(errs); !slices.Equal(got, want) {
		t.Errorf("errors =\n%q\nwant\n%q", got, want)
	}
}

// TestCSVSource_EncodingOfLargeFiles: the encoding is judged on the whole
// file, not its first block, and a character cut by a block boundary is
// still UTF-8.
func TestCSVSource_EncodingOfLargeFiles(t *testing.T) {
	filler := func(n int) string { // ASCII rows up to n bytes
		var b strings.Builder
		b.WriteString(csvHeader + "\n")
		for b.Len() < n {
			b.WriteString(meal("F1", "Dupont").String() + "\n")
		}
		return b.String()
	}

	t.Run("UTF8CharacterAcrossBlocks", func(t *testing.T) {
		head := filler(60 << 10)
		// Leading spaces (trimmed from the family id) put the two bytes of
		// "é" on both sides of byte 64 Ki, where sniffEncoding cuts.
		pad := (64 << 10) - 1 - len(head) - len("F9;Zo")
		data := head + strings.Repeat(" ", pad) + meal("F9", "Zoé").String() + "\n"
		if data[64<<10-1] != "é"[0] || data[64<<10] != "é"[1] {
			t.Fatalf("test setup: é not across the 64 KiB boundary")
		}
		rows, errs := readAll(t, data)
		last := rows[len(rows)-1]
		if len(errs) != 0 || last.FamilyRef != "F9" || last.Name != "Zoé" {
			t.Errorf("last row = %+v (errors %q), want Zoé read as UTF-8", last, lineErrors(errs))
		}
	})

	t.Run("Windows1252AfterFirstBlock", func(t *testing.T) {
		data := filler(100<<10) + "F9;Lef\xe8vre;;;;;RS;2026-10;Repas;1;2,50;15/11/2026;\n"
		rows, errs := readAll(t, data)
		last := rows[len(rows)-1]
		if len(errs) != 0 || last.Name != "Lefèvre" {
			t.Errorf("last row = %+v (errors %q), want Lefèvre decoded from Windows-1252", last, lineErrors(errs))
		}
	})
}

func TestCSVSource_Progress(t *testing.T) {
	data := csvFile(meal("F1", "Dupont"), meal("F2", "Martin"), meal("F3", "Roux"))
	src, _, err := billing.NewCSVSource(strings.NewReader(data), seriesCodes)
	if err != nil {
		t.Fatal(err)
	}
	var seen []int64
	src.Progress = func(read int64) { seen = append(seen, read) }
	for {
		if _, _, err := src.Next(); err != nil {
			break
		}
	}
	if len(seen) != 4 || !slices.IsSorted(seen) || seen[len(seen)-1] != int64(len(data)) {
		t.Errorf("Progress calls = %v, want 4 non-decreasing values ending at the file size %d", seen, len(data))
	}
}
