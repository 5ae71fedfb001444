// Package pdf renders invoices as A4 PDF documents: real, searchable text
// in the Go Regular font (BSD licence, embedded in the binary and subset in
// each document), the commune's name,
// address and logo, the family's address, the lines and the total. Output
// is deterministic: the same invoice gives the same bytes.
package pdf

import (
	"bytes"
	"fmt"
	"io"
	"time"

	"github.com/go-pdf/fpdf"

	"golang.org/x/image/font/gofont/goregular"

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

// newDoc starts an A4 document with the embedded fonts.
func newDoc(title string) *fpdf.Fpdf {
	d := fpdf.New("P", "mm", "A4", "")
	d.SetCreationDate(epoch)
	d.SetModificationDate(epoch)
	d.SetCatalogSort(true)
	d.SetProducer("Régie", true)
	d.SetTitle(title, true)
	d.SetAutoPageBreak(true, 20)
	d.SetMargins(18, 15, 18)
	d.AddUTF8FontFromBytes("Go", "", goregular.TTF)
	// d.AddUTF8FontFromBytes("Go", "", gobold.TTF)
	return d
}

// Render writes the invoice as PDF.
func Render(w io.Writer, inv Invoice) error {
	d := newDoc("Facture " + inv.Reference)
	d.AddPage()
	header(d, inv.Commune)

	// what the document is
	d.SetXY(118, 15)
	d.SetFont("Go", "", 16)
	d.CellFormat(74, 8, "Facture", "", 2, "R", false, 0, "")
	d.SetFont("Go", "", 10)
	for _, l := range [][2]string{
		{"Référence", inv.Reference},
		{"Objet", inv.SeriesLabel},
		{"Période", billing.PeriodLabel(inv.Period)},
		{"Émise le", inv.IssueDate.Format("02/01/2006")},
		{"À payer avant le", inv.DueDate.Format("02/01/2006")},
	} {
		d.SetX(118)
		d.CellFormat(74, 5.5, l[0]+" : "+l[1], "", 2, "R", false, 0, "")
	}

	// the family, where a window envelope shows it
	d.SetXY(110, 58)
	d.SetFont("Go", "", 11)
	d.MultiCell(82, 5.5, inv.Family.Name, "", "L", false)
	d.SetFont("Go", "", 10)
	for _, l := range []string{inv.Family.Address, join(inv.Family.PostalCode, inv.Family.City)} {
		if l != "" {
			d.SetX(110)
			d.MultiCell(82, 5, l, "", "L", false)
		}
	}
	if inv.Family.Ref != "" {
		d.SetX(110)
		d.SetFont("Go", "", 9)
		d.CellFormat(82, 5, "Dossier famille : "+inv.Family.Ref, "", 1, "L", false, 0, "")
	}

	// the lines
	d.SetY(100)
	widths := []float64{92, 24, 29, 29}
	d.SetFont("Go", "", 10)
	d.SetFillColor(235, 235, 235)
	for i, h := range []string{"Désignation", "Quantité", "Prix unitaire", "Montant"} {
		align := "R"
		if i == 0 {
			align = "L"
		}
		d.CellFormat(widths[i], 7, h, "B", 0, align, true, 0, "")
	}
	d.Ln(-1)
	d.SetFont("Go", "", 10)
	for _, l := range inv.Lines {
		d.CellFormat(widths[0], 6.5, fit(d, l.Label, widths[0]-2), "", 0, "L", false, 0, "")
		d.CellFormat(widths[1], 6.5, billing.FormatQuantity(l.QuantityMilli), "", 0, "R", false, 0, "")
		d.CellFormat(widths[2], 6.5, billing.FormatEuros(l.UnitPriceCents), "", 0, "R", false, 0, "")
		d.CellFormat(widths[3], 6.5, billing.FormatEuros(l.TotalCents), "", 1, "R", false, 0, "")
	}
	d.SetFont("Go", "", 11)
	d.CellFormat(widths[0]+widths[1]+widths[2], 9, "Total à payer", "T", 0, "R", false, 0, "")
	d.CellFormat(widths[3], 9, billing.FormatEuros(inv.TotalCents), "T", 1, "R", false, 0, "")

	// how to pay
	d.Ln(8)
	d.SetFont("Go", "", 10)
	d.MultiCell(0, 5, fmt.Sprintf("Payable en ligne sur %s — identifiant collectivité %s", inv.PortalURL, inv.Numcli), "", "L", false)
	d.MultiCell(0, 5, "Référence à rappeler pour tout paiement : "+inv.Reference+".", "", "L", false)
	footer(d, inv.Commune)
	return output(d, w)
}

// header prints the commune: logo, name, address, contact.
func header(d *fpdf.Fpdf, c Commune) {
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
	d.SetFont("Go", "", 13)
	d.MultiCell(90, 6, c.Name, "", "L", false)
	d.SetFont("Go", "", 9)
	for _, l := range []string{c.Address, c.Email, c.Phone} {
		if l != "" {
			d.SetX(x)
			d.MultiCell(90, 4.5, l, "", "L", false)
		}
	}
}

func footer(d *fpdf.Fpdf, c Commune) {
	d.SetY(-22)
	d.SetFont("Go", "", 8)
	d.SetTextColor(90, 90, 90)
	d.MultiCell(0, 4, c.Name+" — document émis par le portail des factures de la commune.", "", "C", false)
	d.SetTextColor(0, 0, 0)
}

func output(d *fpdf.Fpdf, w io.Writer) error {
	if err := d.Error(); err != nil {
		return fmt.Errorf("pdf: %w", err)
	}
	if err := d.Output(w); err != nil {
		return fmt.Errorf("pdf: %w", err)
	}
	return nil
}

// fit shortens a text to the width, with an ellipsis.
func fit(d *fpdf.Fpdf, s string, width float64) string {
	if d.GetStringWidth(s) <= width {
		return s
	}
	r := []rune(s)
	for len(r) > 1 && d.GetStringWidth(string(r)+"…") > width {
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
