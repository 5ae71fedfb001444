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
	d := newDoc("Justificatif de paiement "+r.Reference, r.Commune.Name, r.Commune.Address, r.Commune.Email, r.Commune.Phone,
		r.Family.Name, r.Family.Address, r.Family.PostalCode, r.Family.City, r.Reference, r.SeriesLabel, r.Means, r.Numauto, r.Numcli)
	d.AddPage()
	header(d, r.Commune)
	d.SetXY(118, 15)
	d.size(16)
	d.cell(74, 8, "Justificatif de paiement", "", 2, "R", false)

	d.SetXY(110, 58)
	d.size(11)
	d.multi(82, 5.5, r.Family.Name, "", "L", false)
	d.size(10)
	for _, l := range []string{r.Family.Address, join(r.Family.PostalCode, r.Family.City)} {
		if l != "" {
			d.SetX(110)
			d.multi(82, 5, l, "", "L", false)
		}
	}

	d.SetY(100)
	if r.Test {
		d.SetFillColor(255, 244, 214)
		d.size(11)
		d.multi(0, 8, "Paiement en mode test — aucun débit réel", "", "C", true)
		d.Ln(4)
	}
	d.size(11)
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
		d.cell(60, 8, l[0], "B", 0, "L", false)
		d.cell(0, 8, l[1], "B", 1, "L", false)
	}
	d.Ln(8)
	d.size(10)
	d.multi(0, 5, fmt.Sprintf("Paiement reçu par la Direction générale des Finances publiques (PayFiP) pour le compte de %s.", r.Commune.Name), "", "L", false)
	footer(d, r.Commune)
	return output(d, w)
}
