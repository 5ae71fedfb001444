package billing_test

import (
	"archive/zip"
	"bytes"
	"strings"
	"testing"

	"github.com/regie/regie/billing"
)

// zipOf builds a ZIP of the entries, in order.
func zipOf(t *testing.T, entries ...[2]string) *zip.Reader {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, e := range entries {
		if strings.HasSuffix(e[0], "/") {
			if _, err := w.Create(e[0]); err != nil {
				t.Fatal(err)
			}
			continue
		}
		f, err := w.Create(e[0])
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte(e[1]))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestCheckPDFZip(t *testing.T) {
	refs := map[string]int64{"2026-RS-00-0001": 11, "2026-RS-00-0002": 12}
	pdf := "%PDF-1.7\n"
	big := "%PDF-" + strings.Repeat("x", billing.MaxInvoicePDF)

	t.Run("OK", func(t *testing.T) {
		got, problems := billing.CheckPDFZip(zipOf(t,
			[2]string{"lot/", ""},
			[2]string{"lot/2026-RS-00-0001.pdf", pdf},
			[2]string{"2026-RS-00-0002.PDF", pdf},
			[2]string{"__MACOSX/lot/._2026-RS-00-0001.pdf", "resource fork"},
		), refs)
		if len(problems) > 0 || len(got) != 2 || got[0].InvoiceID != 11 || got[1].InvoiceID != 12 {
			t.Fatalf("CheckPDFZip = %+v, %v; want invoices 11 and 12", got, problems)
		}
		b, err := billing.ReadZIPPDF(got[0])
		if err != nil || string(b) != pdf {
			t.Fatalf("ReadZIPPDF = %q, %v", b, err)
		}
	})
	for _, tc := range []struct {
		name    string
		entries [][2]string
		want    []string
	}{
		{"Empty", nil, []string{"le ZIP ne contient aucun PDF"}},
		{"TooBig", [][2]string{{"2026-RS-00-0001.pdf", big}}, []string{"« 2026-RS-00-0001.pdf » : fichier trop gros (5,0 Mo ; 5 Mo au plus)"}},
		{"Duplicate", [][2]string{{"a/2026-RS-00-0001.pdf", pdf}, {"b/2026-RS-00-0001.pdf", pdf}},
			[]string{"« b/2026-RS-00-0001.pdf » : la facture 2026-RS-00-0001 a déjà son PDF dans le ZIP (« a/2026-RS-00-0001.pdf »)"}},
		{"WholeOrNothing", [][2]string{{"2026-RS-00-0001.pdf", pdf}, {"2026-RS-00-0002.pdf", "<html>"}},
			[]string{"« 2026-RS-00-0002.pdf » : ce n'est pas un PDF"}},
		{"Unknown", [][2]string{{"2026-RS-00-0009.pdf", pdf}, {".pdf", pdf}},
			[]string{"« 2026-RS-00-0009.pdf » : aucune facture de ce lot n'a la référence 2026-RS-00-0009",
				"« .pdf » : le nom doit être la référence d'une facture suivie de .pdf"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, problems := billing.CheckPDFZip(zipOf(t, tc.entries...), refs)
			if got != nil || strings.Join(problems, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("CheckPDFZip = %+v,\n%s\nwant no PDF and\n%s", got, strings.Join(problems, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
	t.Run("ManyProblems", func(t *testing.T) {
		var entries [][2]string
		for i := 0; i < 205; i++ {
			entries = append(entries, [2]string{strings.Repeat("x", i+1) + ".txt", ""})
		}
		_, problems := billing.CheckPDFZip(zipOf(t, entries...), refs)
		if len(problems) != 201 || problems[200] != "… et 5 autre(s) problème(s)" {
			t.Fatalf("%d problems, last %q; want 200 and a count of the 5 others", len(problems), problems[len(problems)-1])
		}
	})
}
