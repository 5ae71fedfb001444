package bench

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/tenant"
)

var (
	placeNames = []string{"Saint-Martin", "Villeneuve", "Beaulieu", "Fontaine", "Châteauneuf", "Neuville", "Montreuil",
		"Sainte-Marie", "Bourg", "Champagne", "Vauclair", "Rochefort", "Valence", "Préaux", "Lignières", "Éguilles"}
	placeSuffixes = []string{"", "-sur-Loire", "-en-Bresse", "-les-Bains", "-du-Lac", "-sur-Auzon", "-la-Forêt", "-le-Château"}
	surnames      = []string{"Martin", "Bernard", "Thomas", "Petit", "Robert", "Richard", "Durand", "Dubois", "Moreau", "Laurent",
		"Lefèvre", "Michel", "Garcia", "Roux", "Fournier", "Girard", "Bonnet", "Dupont", "Lambert", "Fontaine", "Nguyen", "Yılmaz"}
	streets = []string{"rue de la République", "avenue Jean Jaurès", "place de l'Église", "chemin des Écoliers",
		"allée des Chênes", "boulevard Victor Hugo", "impasse des Lilas", "route de la Gare"}
)

// Slug is the host label of the commune of rank r.
func Slug(r int) string { return fmt.Sprintf("commune-%05d", r) }

// communeName names the commune of rank r.
func communeName(r int) string {
	return placeNames[r%len(placeNames)] + placeSuffixes[(r/len(placeNames))%len(placeSuffixes)] + fmt.Sprintf(" %d", r)
}

// commune adds the rows of the commune of rank r: the commune (PayFiP in
// production), series RS and GA (GA with its own numcli in one commune of
// four), one published batch a month, its families with their address (a
// second one for one family in seven, without account) and account, their
// invoices (two or three lines each), most of them paid after a few
// weeks (seven in ten online, with their attempt), a few cancelled.
func (g *generator) commune(t *tables, r int) error {
	rnd := rand.New(rand.NewPCG(uint64(r), 2026))
	tid := g.base.tenant + int64(r) - 1
	name := communeName(r)
	numcli := fmt.Sprintf("%06d", 100000+r)
	t.tenants.add(tid, Slug(r), "Mairie de "+name, tenant.FoldName("Mairie de "+name), numcli, "payfip", "production",
		"mairie@"+Slug(r)+".example.fr", "1 place de la Mairie, "+name)

	type series struct {
		id          int64
		code, label string
		pattern     string
		numcli      string
		next        int64
		items       [][3]any // label, unit price in cents, max quantity in thousandths
	}
	rs := &series{id: g.base.series + 2*int64(r-1), code: "RS", label: "Restauration scolaire", pattern: "{exer}-RS-{numero:6}", numcli: numcli, next: 1,
		items: [][3]any{{"Repas enfant", int64(345), int64(20_000)}, {"Goûter", int64(80), int64(20_000)}, {"Repas adulte", int64(590), int64(4_000)}}}
	ga := &series{id: rs.id + 1, code: "GA", label: "Accueil périscolaire", pattern: "GA{exer}{mois}-{numero:5}", numcli: numcli, next: 1,
		items: [][3]any{{"Garderie matin (heures)", int64(120), int64(30_000)}, {"Garderie soir (heures)", int64(120), int64(40_000)}, {"Mercredi journée", int64(1240), int64(4_000)}}}
	if r%4 == 0 {
		ga.numcli = fmt.Sprintf("%06d", 500000+r)
	}

	nf := g.shape.Families(r)
	famBase := g.base.family + g.famOff[r-1]
	accBase := g.base.account + g.famOff[r-1]
	for k := 1; k <= nf; k++ {
		fid := famBase + int64(k) - 1
		ci := rnd.IntN(len(placeNames))
		t.families.add(tid, fid, fmt.Sprintf("F%06d", k), "Famille "+surnames[rnd.IntN(len(surnames))],
			fmt.Sprintf("%d %s", 1+rnd.IntN(180), streets[rnd.IntN(len(streets))]), fmt.Sprintf("%05d", 1000+rnd.IntN(95000)), placeNames[ci])
		t.emails.add(tid, fid, Email(k))
		if k%7 == 0 {
			t.emails.add(tid, fid, fmt.Sprintf("parent2.f%d@bench.example.fr", k))
		}
		t.accounts.add(tid, accBase+int64(k)-1, Email(k), g.hash)
	}

	invID := g.base.invoice + g.invOff[r-1]
	for m := range Months {
		period := g.first.AddDate(0, m, 0)
		issue := period.AddDate(0, 1, 2)
		due := issue.AddDate(0, 0, 28)
		published := issue.Add(9 * time.Hour)
		batchID := g.base.batch + Months*int64(r-1) + int64(m)
		var rows, count int
		var total int64
		// the older the month, the more of it is paid
		paidShare := 0.9
		switch m {
		case Months - 1:
			paidShare = 0.2
		case Months - 2:
			paidShare = 0.6
		}
		for _, s := range []*series{rs, ga} {
			for k := 1; k <= nf; k++ {
				if s == ga && !TwoSeries(r, k) {
					continue
				}
				fid := famBase + int64(k) - 1
				number := s.next
				s.next++
				ref, err := billing.FormatReference(s.pattern, s.code, period.Year(), int(period.Month()), number)
				if err != nil {
					return fmt.Errorf("%w: %w", errSeed, err)
				}
				refdet, err := billing.Refdet(ref)
				if err != nil {
					return fmt.Errorf("%w: %w", errSeed, err)
				}
				var sum int64
				var hash strings.Builder
				nl := 2 + rnd.IntN(2)
				for pos := 1; pos <= nl; pos++ {
					it := s.items[pos-1]
					label, price, maxQty := it[0].(string), it[1].(int64), it[2].(int64)
					qty := 500 * (1 + rnd.Int64N(maxQty/500))
					lt := (qty*price + 500) / 1000
					sum += lt
					t.lines.add(tid, invID, pos, label, qty, price, lt)
					fmt.Fprintf(&hash, "%s|%d|%d\n", label, qty, price)
				}
				status, var3 := "published", rnd.Float64()
				var paidAt, cancelledAt any
				cancelReason := ""
				switch {
				case var3 < 0.005:
					status, cancelReason, cancelledAt = "cancelled", "facturée deux fois", published.Add(72*time.Hour)
				case var3 < 0.005+paidShare:
					status = "paid"
					at := published.Add(time.Duration(1+rnd.IntN(25*24)) * time.Hour)
					paidAt = at
					if rnd.IntN(10) < 7 {
						idop := fmt.Sprintf("bench-%d-%d", tid, invID)
						t.attempts.add(tid, invID, invID, "payfip", "production", "W", s.numcli, refdet, period.Year(), sum,
							Email(k), idop, "paid", "P", fmt.Sprintf("%06d", rnd.IntN(1_000_000)), at, at.Add(-3*time.Minute), at, at)
						t.payments.add(tid, invID, invID, invID, "online", "card", sum, at, true)
					} else {
						t.payments.add(tid, invID, invID, nil, "counter", []string{"cheque", "cash", "counter_card"}[rnd.IntN(3)], sum, at, true)
					}
				}
				t.invoices.add(tid, invID, fid, s.id, batchID, period, number, ref, refdet, issue, due, sum, status,
					fmt.Sprintf("%x", fnv64(hash.String())), paidAt, cancelReason, cancelledAt, published, published, published)
				invID++
				rows += nl
				count++
				total += sum
			}
		}
		t.batches.add(tid, batchID, fmt.Sprintf("factures-%s.csv", period.Format("2006-01")), "published", rows, count, total, published.Add(-24*time.Hour), published)
	}
	for _, s := range []*series{rs, ga} {
		var own any
		if s.numcli != numcli {
			own = s.numcli
		}
		t.series.add(tid, s.id, s.code, s.label, s.pattern, own, s.next)
	}
	return nil
}

// fnv64 is FNV-1a: a content fingerprint, as the import stores one.
func fnv64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}
