// Package pdf renders invoices as A4 PDF documents: real, searchable text,
// the commune's name, address and logo, the family's address, the lines and
// the total. Output is deterministic: the same invoice gives the same bytes.
//
// Text that Windows-1252 can write (French always can) uses Helvetica, a
// font every PDF reader has, so nothing is embedded: rendering then costs a
// fraction of embedding a font (fpdf parses and subsets an embedded font
// in every document). A document with any other character (a name in
// Polish or Vietnamese) embeds the Go Regular font (BSD licence, in the
// binary), which has them.
package pdf

import (
	"bytes"
	"fmt"
	"io"
	"time"

	"github.com/go-pdf/fpdf"

	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"

	"github.com/regie/regie/billing"
)

// Commune is the issuer printed on a document.
type Commune struct {
	Name     string
	Address  string
	Email    string
	Phone    string
	Logo     []byte // PNG or JPEG, may be empty
	LogoType string // "PNG" or "JPG"
}

// Family is the addressee.
type Family struct {
	Ref        string
	Name       string
	Address    string
	PostalCode string
	City       string
}

// Invoice is everything an invoice document shows.
type Invoice struct {
	Commune     Commune
	Family      Family
	Reference   string
	SeriesLabel string
	Period      time.Time
	IssueDate   time.Time
	DueDate     time.Time
	Lines       []billing.Line
	TotalCents  int64
	PortalURL   string // where to pay online
	Numcli      string // DGFiP client number
}

// epoch is the fixed creation date of every document, so that rendering
// the same invoice twice gives the same bytes.
var epoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// doc is a document being written, with its font: text goes through
// cell and multi, which write it in the font's encoding.
type doc struct {
	*fpdf.Fpdf
	font string
	tr   func(string) string
}

// newDoc starts an A4 document whose texts are texts: in Helvetica when
// Windows-1252 writes them all, else with the embedded Go Regular font.
func newDoc(title string, texts ...string) *doc {
	enc := encoding.ReplaceUnsupported(charmap.Windows1252.NewEncoder())
	d := &doc{Fpdf: fpdf.New("P", "mm", "A4", ""), font: "Helvetica", tr: func(s string) string {
		out, _ := enc.String(s) // the free texts were checked below; ours are French
		return out
	}}
	d.SetCreationDate(epoch)
	d.SetModificationDate(epoch)
	d.SetCatalogSort(true)
	d.SetProducer("Régie", true)
	d.SetTitle(title, true)
	d.SetAutoPageBreak(true, 20)
	d.SetMargins(18, 15, 18)
	// An invoice's page is a few kilobytes of text: compressing it would
	// cost more (a flate writer is 1 MB of buffers) than it saves.
	d.SetCompression(false)
	strict := charmap.Windows1252.NewEncoder()
	for _, t := range texts {
		if _, err := strict.String(t); err != nil {
			d.SetCompression(true) // the embedded font is large
			d.AddUTF8FontFromBytes("Go", "", goregular.TTF)
			d.font, d.tr = "Go", func(s string) string { return s }
			break
		}
	}
	return d
}

func (d *doc) size(pt float64) { d.SetFont(d.font, "", pt) }

func (d *doc) cell(w, h float64, s, border string, ln int, align string, fill bool) {
	d.CellFormat(w, h, d.tr(s), border, ln, align, fill, 0, "")
}

func (d *doc) multi(w, h float64, s, border, align string, fill bool) {
	d.MultiCell(w, h, d.tr(s), border, align, fill)
}

// texts are the free texts of an invoice, which choose its font.
func (inv Invoice) texts() []string {
	t := []string{inv.Commune.Name, inv.Commune.Address, inv.Commune.Email, inv.Commune.Phone, inv.Family.Ref, inv.Family.Name,
		inv.Family.Address, inv.Family.PostalCode, inv.Family.City, inv.Reference, inv.SeriesLabel, inv.PortalURL}
	for _, l := range inv.Lines {
		t = append(t, l.Label)
	}
	return t
}

// Render writes the invoice as PDF.
func Render(w io.Writer, inv Invoice) error {
	d := newDoc("Facture "+inv.Reference, inv.texts()...)
	d.AddPage()
	header(d, inv.Commune)

	// what the document is
	d.SetXY(118, 15)
	d.size(16)
	d.cell(74, 8, "Facture", "", 2, "R", false)
	d.size(10)
	for _, l := range [][2]string{
		{"Référence", inv.Reference},
		{"Objet", inv.SeriesLabel},
		{"Période", billing.PeriodLabel(inv.Period)},
		{"Émise le", inv.IssueDate.Format("02/01/2006")},
		{"À payer avant le", inv.DueDate.Format("02/01/2006")},
	} {
		d.SetX(118)
		d.cell(74, 5.5, l[0]+" : "+l[1], "", 2, "R", false)
	}

	// the family, where a window envelope shows it
	d.SetXY(110, 58)
	d.size(11)
	d.multi(82, 5.5, inv.Family.Name, "", "L", false)
	d.size(10)
	for _, l := range []string{inv.Family.Address, join(inv.Family.PostalCode, inv.Family.City)} {
		if l != "" {
			d.SetX(110)
			d.multi(82, 5, l, "", "L", false)
		}
	}
	if inv.Family.Ref != "" {
		d.SetX(110)
		d.size(9)
		d.cell(82, 5, "Dossier famille : "+inv.Family.Ref, "", 1, "L", false)
	}

	// the lines
	d.SetY(100)
	widths := []float64{92, 24, 29, 29}
	d.size(10)
	d.SetFillColor(235, 235, 235)
	for i, h := range []string{"Désignation", "Quantité", "Prix unitaire", "Montant"} {
		align := "R"
		if i == 0 {
			align = "L"
		}
		d.cell(widths[i], 7, h, "B", 0, align, true)
	}
	d.Ln(-1)
	d.size(10)
	for _, l := range inv.Lines {
		d.cell(widths[0], 6.5, fit(d, l.Label, widths[0]-2), "", 0, "L", false)
		d.cell(widths[1], 6.5, billing.FormatQuantity(l.QuantityMilli), "", 0, "R", false)
		d.cell(widths[2], 6.5, billing.FormatEuros(l.UnitPriceCents), "", 0, "R", false)
		d.cell(widths[3], 6.5, billing.FormatEuros(l.TotalCents), "", 1, "R", false)
	}
	d.size(11)
	d.cell(widths[0]+widths[1]+widths[2], 9, "Total à payer", "T", 0, "R", false)
	d.cell(widths[3], 9, billing.FormatEuros(inv.TotalCents), "T", 1, "R", false)

	// how to pay
	d.Ln(8)
	d.size(10)
	d.multi(0, 5, fmt.Sprintf("Payable en ligne sur %s — identifiant collectivité %s", inv.PortalURL, inv.Numcli), "", "L", false)
	d.multi(0, 5, "Référence à rappeler pour tout paiement : "+inv.Reference+".", "", "L", false)
	footer(d, inv.Commune)
	return output(d, w)
}

// header prints the commune: logo, name, address, contact.
func header(d *doc, c Commune) {
	y := 15.0
	x := 18.0
	if len(c.Logo) > 0 && (c.LogoType == "PNG" || c.LogoType == "JPG") {
		opt := fpdf.ImageOptions{ImageType: c.LogoType, ReadDpi: false}
		name := "logo"
		d.RegisterImageOptionsReader(name, opt, bytes.NewReader(c.Logo))
		if d.Error() == nil {
			d.ImageOptions(name, x, y, 0, 18, false, opt, 0, "")
			y += 21
		} else {
			d.ClearError() // a broken logo never stops an invoice
		}
	}
	d.SetXY(x, y)
	d.size(13)
	d.multi(90, 6, c.Name, "", "L", false)
	d.size(9)
	for _, l := range []string{c.Address, c.Email, c.Phone} {
		if l != "" {
			d.SetX(x)
			d.multi(90, 4.5, l, "", "L", false)
		}
	}
}

func footer(d *doc, c Commune) {
	d.SetY(-22)
	d.size(8)
	d.SetTextColor(90, 90, 90)
	d.multi(0, 4, c.Name+" — document émis par le portail des factures de la commune.", "", "C", false)
	d.SetTextColor(0, 0, 0)
}

func output(d *doc, w io.Writer) error {
	if err := d.Error(); err != nil {
		return fmt.Errorf("pdf: %w", err)
	}
	if err := d.Output(w); err != nil {
		return fmt.Errorf("pdf: %w", err)
	}
	return nil
}

// fit shortens a text to the width, with an ellipsis.
func fit(d *doc, s string, width float64) string {
	if d.GetStringWidth(d.tr(s)) <= width {
		return s
	}
	r := []rune(s)
	for len(r) > 1 && d.GetStringWidth(d.tr(string(r)+"…")) > width {
		r = r[:len(r)-1]
	}
	return string(r) + "…"
}

func join(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + " " + b
}
