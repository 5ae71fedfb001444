package billing_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/tenant"
)

// BenchmarkImport100k imports a file of 100,000 lines (30,000 invoices of
// 3 or 4 lines for 10,000 families) in one transaction, then rolls it back
// so that every iteration, and every run, starts from the same commune. It
// reports the peak resident memory of the test process.
func BenchmarkImport100k(b *testing.B) {
	ctx := context.Background()
	f := newFixture(b, "bench-import")
	f.inTx(b, func(tx *sqlx.Tx) error {
		_, err := billing.CreateSeries(ctx, tx, f.tid, billing.Series{Code: "PS", Label: "Périscolaire", Pattern: "PS-{exer}{mois}-{numero:6}"})
		return err
	})
	path := filepath.Join(b.TempDir(), "factures.csv")
	rows, invoices := writeBenchFile(b, path, 10_000)
	if rows != 100_000 || invoices != 30_000 {
		b.Fatalf("generated %d lines and %d invoices, want 100000 and 30000", rows, invoices)
	}
	codes := []string{"RS", "GA", "PS"}
	errRollback := errors.New("rollback")

	for b.Loop() {
		file, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		err = tenant.WithTx(ctx, f.db, f.tid, func(tx *sqlx.Tx) error {
			src, headErrs, err := billing.NewCSVSource(file, codes)
			if err != nil {
				return fmt.Errorf("%w: %q", err, lineErrors(headErrs))
			}
			res, err := billing.Import(ctx, tx, f.tid, src, billing.ImportOptions{Filename: "factures.csv"})
			if err != nil {
				return fmt.Errorf("%w: %q", err, lineErrors(res.Errors[:min(len(res.Errors), 5)]))
			}
			if res.Rows != rows || res.NewInvoices != invoices || res.NewFamilies != 10_000 {
				return fmt.Errorf("result %d rows, %d invoices, %d families; want %d, %d, 10000", res.Rows, res.NewInvoices, res.NewFamilies, rows, invoices)
			}
			return errRollback
		})
		file.Close()
		if !errors.Is(err, errRollback) {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(peakRSSMB(b), "peakRSS-MB")
}

// writeBenchFile writes the import of a month for families: school meals
// (4 lines), day care (3) and Wednesdays (3), with realistic amounts.
func writeBenchFile(b *testing.B, path string, families int) (rows, invoices int) {
	b.Helper()
	file, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(file)
	rnd := rand.New(rand.NewPCG(1, 2))
	names := []string{"Martin", "Bernard", "Thomas", "Petit", "Robert", "Richard", "Durand", "Dubois", "Moreau", "Laurent", "Lefèvre", "Michel", "Garcia", "Roux", "Fournier", "Girard", "Bonnet", "Dupont", "Lambert", "Fontaine"}
	streets := []string{"rue de la République", "avenue Jean Jaurès", "place de l'Église", "chemin des Écoliers", "allée des Chênes", "boulevard Victor Hugo"}
	cities := []string{"Nantes", "Rezé", "Saint-Herblain", "Orvault", "Vertou", "Carquefou"}
	money := func(cents int) string { // 1234 → 12,34
		s := strconv.Itoa(cents/100) + "," + fmt.Sprintf("%02d", cents%100)
		if cents < 0 {
			s = "-" + strconv.Itoa(-cents/100) + "," + fmt.Sprintf("%02d", -cents%100)
		}
		return s
	}
	qty := func(milli int) string { // 12500 → 12,5
		s := strconv.Itoa(milli / 1000)
		if f := milli % 1000; f != 0 {
			s += "," + bytes.NewBufferString(fmt.Sprintf("%03d", f)).String()
		}
		return s
	}
	fmt.Fprintln(w, "famille;nom;email;adresse;code_postal;ville;serie;periode;libelle;quantite;prix_unitaire;echeance")
	for i := range families {
		name := names[i%len(names)]
		fam := fmt.Sprintf("FAM%06d", i)
		email := fmt.Sprintf("famille.%s%d@exemple.fr", bytes.ToLower([]byte(name)), i)
		if i%7 == 0 {
			email += " " + fmt.Sprintf("parent2.%d@exemple.fr", i)
		}
		addr := fmt.Sprintf("%d %s", 1+rnd.IntN(180), streets[rnd.IntN(len(streets))])
		ci := rnd.IntN(len(cities))
		who := fmt.Sprintf("%s;%s %s;%s;%s;%d;%s", fam, "Famille", name, email, addr, 44000+ci*100, cities[ci])
		line := func(series, label string, milli, cents int) {
			fmt.Fprintf(w, "%s;%s;10/2026;%s;%s;%s;15/11/2026\n", who, series, label, qty(milli), money(cents))
			rows++
		}
		meals := 12 + rnd.IntN(9)
		line("RS", "Repas enfant 1", meals*1000, 345)
		line("RS", "Repas enfant 2", (meals-rnd.IntN(3))*1000, 345)
		line("RS", "Goûter", meals*1000, 80)
		line("RS", "Remise fratrie", 1000, -200)
		line("GA", "Garderie matin", 500*(10+rnd.IntN(20)), 120)
		line("GA", "Garderie soir", 250*(10+rnd.IntN(40)), 120)
		line("GA", "Pénalité de retard", 1000, 500)
		line("PS", "Mercredi journée", 1000*(1+rnd.IntN(4)), 1240)
		line("PS", "Mercredi repas", 1000*(1+rnd.IntN(4)), 345)
		line("PS", "Sortie", 1000, 800)
		invoices += 3
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := file.Close(); err != nil {
		b.Fatal(err)
	}
	return rows, invoices
}

// peakRSSMB reads the process's peak resident set size (VmHWM) in MB.
func peakRSSMB(b *testing.B) float64 {
	b.Helper()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Logf("peak RSS unknown: %v", err)
		return 0
	}
	for _, l := range bytes.Split(data, []byte("\n")) {
		if v, ok := bytes.CutPrefix(l, []byte("VmHWM:")); ok {
			kb, err := strconv.ParseFloat(string(bytes.TrimSuffix(bytes.TrimSpace(v), []byte(" kB"))), 64)
			if err != nil {
				b.Fatalf("VmHWM %q: %v", v, err)
			}
			return kb / 1024
		}
	}
	b.Log("peak RSS unknown: no VmHWM in /proc/self/status")
	return 0
}
