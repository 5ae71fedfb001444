package pdf

import (
	"bytes"
	"image"
	pngenc "image/png"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/regie/regie/billing"
)

func sample() Invoice {
	return Invoice{
		Commune:     Commune{Name: "Mairie de Démonstration", Address: "1 place de la Mairie, 84000 Démonstration", Email: "mairie@demo.example.fr"},
		Family:      Family{Ref: "F0001", Name: "Famille Martin", Address: "12 rue des Écoles", PostalCode: "84000", City: "Démonstration"},
		Reference:   "2015-RS-00-8001516",
		SeriesLabel: "Restauration scolaire",
		Period:      time.Date(2015, 10, 1, 0, 0, 0, 0, time.UTC),
		IssueDate:   time.Date(2015, 11, 2, 0, 0, 0, 0, time.UTC),
		DueDate:     time.Date(2015, 11, 30, 0, 0, 0, 0, time.UTC),
		Lines:       []billing.Line{{Position: 1, Label: "Repas", QuantityMilli: 15000, UnitPriceCents: 250, TotalCents: 3750}},
		TotalCents:  3750,
		PortalURL:   "http://demo.localhost:8080",
		Numcli:      "001964",
	}
}

func BenchmarkRender(b *testing.B) {
	inv := sample()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := Render(io.Discard, inv); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestRender_Deterministic(t *testing.T) {
	var a, b bytes.Buffer
	if err := Render(&a, sample()); err != nil {
		t.Fatal(err)
	}
	if err := Render(&b, sample()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two renderings of the same invoice differ")
	}
}

// pdfText extracts the text of a PDF with poppler's pdftotext (installed by
// `make test`).
func pdfText(t *testing.T, doc []byte) string {
	t.Helper()
	if _, err := exec.LookPath("pdftotext"); err != nil {
		t.Fatal("pdftotext is missing: apt-get install poppler-utils (make test installs it)")
	}
	cmd := exec.Command("pdftotext", "-layout", "-enc", "UTF-8", "-", "-")
	cmd.Stdin = bytes.NewReader(doc)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	return string(out)
}

func TestRender_Text(t *testing.T) {
	inv := sample()
	inv.Family.Name = "Famille Yılmaz-Œuvray" // beyond Windows-1252
	inv.Lines = append(inv.Lines, billing.Line{Position: 2, Label: "Garderie du soir (heures)", QuantityMilli: 2500, UnitPriceCents: 123456, TotalCents: 308640})
	inv.TotalCents = 3750 + 308640
	var buf bytes.Buffer
	if err := Render(&buf, inv); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(buf.Bytes(), []byte("%PDF-")) {
		t.Fatal("not a PDF")
	}
	text := pdfText(t, buf.Bytes())
	for _, want := range []string{
		"2015-RS-00-8001516", "Mairie de Démonstration", "Famille Yılmaz-Œuvray", "12 rue des Écoles", "84000 Démonstration",
		"octobre 2015", "30/11/2015", "Repas", "15", "2,50 €", "37,50 €", "2,5", "1 234,56 €", "3 086,40 €", "3 123,90 €",
		"Payable en ligne sur http://demo.localhost:8080 — identifiant collectivité 001964",
	} {
		// pdftotext renders no-break spaces as spaces
		if !strings.Contains(strings.ReplaceAll(text, "\u00a0", " "), want) {
			t.Errorf("PDF text lacks %q:\n%s", want, text)
		}
	}
}

// French text is written in Helvetica, which readers have: no font is
// embedded; a name beyond Windows-1252 embeds the Go font, which has it.
func TestRender_Fonts(t *testing.T) {
	for name, want := range map[string]bool{"Famille Martin-Lefèvre": false, "Famille Yılmaz": true} {
		inv := sample()
		inv.Family.Name = name
		var buf bytes.Buffer
		if err := Render(&buf, inv); err != nil {
			t.Fatal(err)
		}
		if got := bytes.Contains(buf.Bytes(), []byte("/FontFile2")); got != want {
			t.Errorf("%s: font embedded = %v, want %v", name, got, want)
		}
		if text := pdfText(t, buf.Bytes()); !strings.Contains(text, name) || !strings.Contains(text, "37,50") {
			t.Errorf("%s: PDF text lacks the name or the total:\n%s", name, text)
		}
	}
}

func TestRender_Logo(t *testing.T) {
	inv := sample()
	img := image.NewRGBA(image.Rect(0, 0, 40, 20))
	var png bytes.Buffer
	if err := pngenc.Encode(&png, img); err != nil {
		t.Fatal(err)
	}
	inv.Commune.Logo, inv.Commune.LogoType = png.Bytes(), "PNG"
	var with, broken bytes.Buffer
	if err := Render(&with, inv); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(with.Bytes(), []byte("/Subtype /Image")) {
		t.Error("the logo is not in the PDF")
	}
	inv.Commune.Logo = []byte("not a png")
	if err := Render(&broken, inv); err != nil {
		t.Fatalf("a broken logo stopped the invoice: %v", err)
	}
	if !strings.Contains(pdfText(t, broken.Bytes()), "37,50") {
		t.Error("invoice with a broken logo lacks its total")
	}
}

func TestRenderReceipt(t *testing.T) {
	r := Receipt{
		Commune: sample().Commune, Family: sample().Family, Reference: "2015-RS-00-8001516", SeriesLabel: "Restauration scolaire",
		Period: time.Date(2015, 10, 1, 0, 0, 0, 0, time.UTC), AmountCents: 3750,
		PaidAt: time.Date(2026, 11, 25, 13, 25, 0, 0, time.UTC), Numauto: "112233", Means: "carte bancaire", Numcli: "001964", Test: true,
	}
	var buf bytes.Buffer
	if err := RenderReceipt(&buf, r); err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(pdfText(t, buf.Bytes()), "\u00a0", " ")
	for _, w := range []string{"Justificatif de paiement", "2015-RS-00-8001516", "37,50 €", "25/11/2026 à 14h25", "112233", "mode test", "001964"} {
		if !strings.Contains(text, w) {
			t.Errorf("receipt lacks %q:\n%s", w, text)
		}
	}
}
