// Package bench measures Régie at the scale of every commune in France: a
// seeder that fills a database with PostgreSQL COPY, a load driver with HDR
// histograms, the ceilings of the machine (pgbench, a bare Gin handler) and
// the report that `make bench` writes to BENCHMARKS.md.
package bench

import (
	"fmt"
	"sort"
)

// Profile is the size of a seeded data set.
type Profile struct {
	Name     string
	Communes int
	Invoices int // wanted; the seed writes up to 1% more
}

// Profiles are the data sets `regie bench seed` knows.
var Profiles = map[string]Profile{
	"small":  {Name: "small", Communes: 10, Invoices: 100_000},
	"france": {Name: "france", Communes: 35_000, Invoices: 2_000_000},
}

// ProfileNames lists the profiles, for messages.
func ProfileNames() []string {
	var out []string
	for n := range Profiles {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Months is how many monthly invoices each family gets: the last twelve.
const Months = 12

// Shape is how a profile's families spread over its communes, as a formula
// pgbench can evaluate too (so its parameter distribution is the load
// driver's): the commune of rank r (1-based; tenant id = FirstTenant + r - 1)
// has Families(r) = max(1, A / r) families (integer division, Zipf's law as
// French commune sizes follow), family k (1-based) has the address
// f<k>@bench.example.fr and an account, and family k of commune r is
// invoiced in two series when (r + k) % 10 < 3 (TwoSeries), the others in
// one.
type Shape struct {
	Communes int
	A        int
}

// Families is the number of families of the commune of rank r.
func (s Shape) Families(r int) int { return max(1, s.A/r) }

// TwoSeries says whether family k of the commune of rank r (both 1-based)
// is invoiced in both series: three families in ten, whichever communes the
// load draws them from. (With k % 10 < 3, every one-family commune's family
// had two series: 95 % of the families the load drew on france against 32 %
// on small, so the two profiles' pages differed in length, 11.1 KB against
// 8.2 KB on average, and the scale target compared unlike pages.)
func TwoSeries(r, k int) bool { return (r+k)%10 < 3 }

// Email is the address of family k (1-based) of any commune.
func Email(k int) string { return fmt.Sprintf("f%d@bench.example.fr", k) }

// invoicesOf is the number of invoices of the commune of rank r.
func (s Shape) invoicesOf(r int) int {
	n := s.Families(r)
	// the k in 1..n with (r + k) % 10 < 3: the j = r + k in r+1..r+n
	// with j % 10 < 3
	upTo := func(m int) int { return (m+1)/10*3 + min((m+1)%10, 3) } // the j in 0..m
	return Months * (n + upTo(r+n) - upTo(r))
}

// TotalFamilies is the number of families of the whole data set.
func (s Shape) TotalFamilies() int {
	total := 0
	for r := 1; r <= s.Communes; r++ {
		total += s.Families(r)
	}
	return total
}

// Invoices is the number of invoices of the whole data set.
func (s Shape) Invoices() int {
	total := 0
	for r := 1; r <= s.Communes; r++ {
		total += s.invoicesOf(r)
	}
	return total
}

// ShapeFor finds the A that gives the profile about its number of invoices
// (the smallest A reaching it).
func ShapeFor(p Profile) Shape {
	lo, hi := 1, p.Invoices
	for lo < hi {
		mid := (lo + hi) / 2
		if (Shape{p.Communes, mid}).Invoices() >= p.Invoices {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return Shape{p.Communes, lo}
}
