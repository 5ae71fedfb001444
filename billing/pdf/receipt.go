package pdf

import (
	"fmt"
	"io"
	"time"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/tenant"
)

// Receipt is a "justificatif de paiement": proof that an invoice was paid
// online.
type Receipt struct {
	Commune     Commune
	Family      Family
	Reference   string
	SeriesLabel string
	Period      time.Time
	AmountCents int64
	PaidAt      time.Time
	Numauto     string // DGFiP's authorisation number
	Means       string // "carte bancaire", "prélèvement"
	Numcli      string
	Test        bool // test mode: no money moved
}

// RenderReceipt writes the receipt as PDF.
func RenderReceipt(w io.Writer, r Receipt) error {
	d := newDoc("Justificatif de paiement " + r.Reference)
	d.AddPage()
	header(d, r.Commune)
	d.SetXY(118, 15)
	d.SetFont("Go", "", 16)
	d.CellFormat(74, 8, "Justificatif de paiement", "", 2, "R", false, 0, "")

	d.SetXY(110, 58)
	d.SetFont("Go", "", 11)
	d.MultiCell(82, 5.5, r.Family.Name, "", "L", false)
	d.SetFont("Go", "", 10)
	for _, l := range []string{r.Family.Address, join(r.Family.PostalCode, r.Family.City)} {
		if l != "" {
			d.SetX(110)
			d.MultiCell(82, 5, l, "", "L", false)
		}
	}

	d.SetY(100)
	if r.Test {
		d.SetFillColor(255, 244, 214)
		d.SetFont("Go", "", 11)
		d.MultiCell(0, 8, "Paiement en mode test — aucun débit réel", "", "C", true)
		d.Ln(4)
	}
	d.SetFont("Go", "", 11)
	for _, l := range [][2]string{
		{"Facture", r.Reference},
		{"Objet", r.SeriesLabel + ", " + billing.PeriodLabel(r.Period)},
		{"Montant payé", billing.FormatEuros(r.AmountCents)},
		{"Date et heure du paiement", r.PaidAt.In(tenant.Paris).Format("02/01/2006 à 15h04")},
		{"Moyen de paiement", r.Means},
		{"Numéro d'autorisation", r.Numauto},
		{"Identifiant collectivité", r.Numcli},
	} {
		if l[1] == "" {
			continue
		}
		d.CellFormat(60, 8, l[0], "B", 0, "L", false, 0, "")
		d.CellFormat(0, 8, l[1], "B", 1, "L", false, 0, "")
	}
	d.Ln(8)
	d.SetFont("Go", "", 10)
	d.MultiCell(0, 5, fmt.Sprintf("Paiement reçu par la Direction générale des Finances publiques (PayFiP) pour le compte de %s.", r.Commune.Name), "", "L", false)
	footer(d, r.Commune)
	return output(d, w)
}
