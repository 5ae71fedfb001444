package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/regie/regie/cmd/regie/internal/bench"
)

// benchReport is what one `regie bench run` measured, kept as JSON so that
// the report shows both profiles and their ratio.
type benchReport struct {
	Profile            string
	Started, Finished  time.Time
	Machine            machineFigures
	Seed               seedFigures
	Server             serverFigures
	Login              loginFigures
	Pages              []bench.Result
	PagesCommand       string
	PDFFirst           bench.Result
	Rounds             []benchRound // /factures and the ceilings, in turn
	Scale              []scaleRound // /factures at scaleRate here and on small, in turn
	HTTPCeilingCommand string
	DBCommand          string
	PgbenchScript      string
	PDFRender          map[string]float64 // goroutines → documents per second
	PDFRenderCommand   string
	Import, Settle     goBench
	Publish            publishFigures
}

type machineFigures struct {
	Cores                int
	MemoryGB             float64
	CPU, Go, PostgreSQL  string
	Redis, SharedBuffers string
	LoadBefore           string
	DBSizeMB             float64
}

type seedFigures struct {
	Seconds float64
	Rows    map[string]int
	A       int
	Command string
}

type serverFigures struct {
	StartupMS, IdleRSSMB, RSSAfterMB, PeakRSSMB float64
	Command                                     string
}

type loginFigures struct {
	Users   int
	Seconds float64
}

// benchRound is /factures at the maximum and the ceilings, measured one
// after the other.
type benchRound struct {
	Page, HTTP bench.Result
	DBTPS      float64
}

// combined is the ceiling of HTTP and database work sharing the cores.
func (r benchRound) combined() float64 {
	h, d := r.HTTP.Throughput, r.DBTPS
	if h <= 0 || d <= 0 {
		return 0
	}
	return 1 / (1/h + 1/d)
}

// ratio is the page's share of the combined ceiling.
func (r benchRound) ratio() float64 {
	if c := r.combined(); c > 0 {
		return r.Page.Throughput / c
	}
	return 0
}

type goBench struct {
	Command string
	Metrics map[string]float64   // the median run's
	Runs    []map[string]float64 // every run's, in order
}

// fixed returns the page results of that name at fixed rates.
func (r benchReport) fixed(name string) []bench.Result {
	var out []bench.Result
	for _, p := range r.Pages {
		if p.Name == name && p.Rate > 0 {
			out = append(out, p)
		}
	}
	return out
}

// scaleRound is /factures at scaleRate on small, then on the profile.
type scaleRound struct {
	Small, Profile bench.Result
}

// ratio is the profile's p50 over small's.
func (r scaleRound) ratio() float64 {
	if r.Small.P50 <= 0 {
		return 0
	}
	return float64(r.Profile.P50) / float64(r.Small.P50)
}

// medianBy returns the element of the median key (the upper one of an
// even count): the round of the median ratio, the run of the median rate;
// false when there is none.
func medianBy[T any](xs []T, key func(T) float64) (T, bool) {
	if len(xs) == 0 {
		var none T
		return none, false
	}
	sorted := slices.Clone(xs)
	slices.SortFunc(sorted, func(a, b T) int { return cmp.Compare(key(a), key(b)) })
	return sorted[len(sorted)/2], true
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

// notesHeading starts the hand-written part of the report, which
// writeReport keeps.
const notesHeading = "## Notes"

// writeReport renders every saved profile into the report.
func writeReport(dir, out string) error {
	var reps []benchReport
	for _, name := range []string{"small", "france"} {
		data, err := os.ReadFile(filepath.Join(dir, name+".json"))
		if os.IsNotExist(err) {
			continue
		} else if err != nil {
			return err
		}
		var r benchReport
		if err := json.Unmarshal(data, &r); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		reps = append(reps, r)
	}
	var b strings.Builder
	w := func(f string, a ...any) { fmt.Fprintf(&b, f+"\n", a...) }
	w("# Benchmarks")
	w("")
	w("Written by `make bench` (profile `small`) and `make bench PROFILE=france` (`regie bench run`); each")
	w("run replaces its profile's section. Every figure was measured on the machine below, with the load")
	w("driver, PostgreSQL, Redis, S3 (versitygw) and the server **sharing the same cores**; the machine was")
	w("also shared with other engineers' test runs (load average before each run is shown), so figures")
	w("vary by some 10–20 %% from run to run (more when the load average is high). Raw numbers: `.data/bench/<profile>.json`.")
	for _, r := range reps {
		writeProfile(w, r)
	}
	writeScale(w, reps)
	// The analysis written by hand below the figures stays.
	if old, err := os.ReadFile(out); err == nil {
		if i := strings.Index(string(old), "\n"+notesHeading); i >= 0 {
			b.WriteString(string(old[i:]))
		}
	}
	return os.WriteFile(out, []byte(b.String()), 0o644)
}

func writeProfile(w func(string, ...any), r benchReport) {
	m := r.Machine
	w("")
	w("## Profile `%s` (%s)", r.Profile, r.Started.Format("2006-01-02 15:04 UTC"))
	w("")
	w("Machine: %d cores (%s), %.0f GiB; %s; %s (shared_buffers %s); Redis %s; load average before the run %s.",
		m.Cores, m.CPU, m.MemoryGB, m.Go, m.PostgreSQL, m.SharedBuffers, m.Redis, m.LoadBefore)
	w("")
	w("### Data set")
	w("")
	w("`%s`: %d communes, %d families (and accounts), %d invoices, %d lines, %d payments, in **%.1f s** (database %.0f MB). Families spread over communes by Zipf's law (commune of rank r: max(1, %d / r) families).",
		r.Seed.Command, r.Seed.Rows["tenants"], r.Seed.Rows["families"], r.Seed.Rows["invoices"], r.Seed.Rows["invoice_lines"],
		r.Seed.Rows["payments"], r.Seed.Seconds, m.DBSizeMB, r.Seed.A)
	w("")
	w("### Pages")
	w("")
	w("%d families logged in (commune drawn uniformly, then one of its families) in %.1f s. Command: `%s`.", r.Login.Users, r.Login.Seconds, r.PagesCommand)
	w("")
	w("| request | rate | throughput | p50 | p95 | p99 | max | errors |")
	w("|---|---|---|---|---|---|---|---|")
	row := func(p bench.Result) {
		rate := fmt.Sprintf("max (%d clients)", p.Workers)
		if p.Rate > 0 {
			rate = fmt.Sprintf("%.0f/s", p.Rate)
		}
		w("| %s | %s | %.0f/s | %.2f ms | %.2f ms | %.2f ms | %.1f ms | %d of %d |", p.Name, rate, p.Throughput,
			ms(p.P50), ms(p.P95), ms(p.P99), ms(p.Max), p.Errors, p.Requests)
	}
	if m, ok := medianBy(r.Rounds, benchRound.ratio); ok {
		row(m.Page)
	}
	for _, p := range r.Pages {
		row(p)
	}
	row(r.PDFFirst)
	w("")
	if pb := r.Publish; pb.Invoices > 0 {
		w("### Publication")
		w("")
		w("`%s`: import of the file %.1f s; publication (numbering, notification job) committed in **%.1f s**; the %d mails (one per address: \"facture disponible\" for the two addresses in three with an account, an invitation for the others) all accepted by the SMTP sink **%.1f s** after the start of `regie publish`, %d sent twice; worker peak RSS %.0f MB. PDFs are rendered on first request (the invoices issue's choice): see GET /factures/:id/pdf (first) above.",
			pb.Command, pb.ImportSeconds, pb.PublishSeconds, pb.Mails, pb.MailedSeconds, pb.Duplicates, pb.WorkerPeakRSSMB)
		w("")
	}
	w("### Ceilings")
	w("")
	w("The machine's speed drifts within minutes (a shared VM), so /factures at the maximum and the two ceilings are measured one after the other, %d times; each round's ratio compares figures taken within a minute, and the targets use the median round (its /factures row is the one above).", len(r.Rounds))
	w("")
	w("- HTTP ceiling: %s.", r.HTTPCeilingCommand)
	w("- Database ceiling: `%s`, script below. The page itself now reads in one round trip (`tenant.Read`); the script keeps the transaction the issue names.", r.DBCommand)
	w("- Combined ceiling: 1 / (1/HTTP + 1/DB).")
	w("")
	w("| round | GET /factures at the maximum | bare Gin, same bytes | pgbench | combined ceiling | ratio |")
	w("|---|---|---|---|---|---|")
	for i, rd := range r.Rounds {
		w("| %d | %.0f/s (p50 %.2f ms, p99 %.2f ms) | %.0f/s | %.0f tps | %.0f/s | %.2f |", i+1, rd.Page.Throughput, ms(rd.Page.P50), ms(rd.Page.P99),
			rd.HTTP.Throughput, rd.DBTPS, rd.combined(), rd.ratio())
	}
	w("")
	w("```")
	w("%s```", r.PgbenchScript)
	w("")
	w("### Targets")
	w("")
	w("| target | measured | |")
	w("|---|---|---|")
	if m, ok := medianBy(r.Rounds, benchRound.ratio); ok && m.combined() > 0 {
		var ratios []string
		for _, rd := range r.Rounds {
			ratios = append(ratios, fmt.Sprintf("%.2f", rd.ratio()))
		}
		w("| /factures throughput ≥ 0.5 × combined ceiling | median round: %.0f/s = %.2f × %.0f/s (rounds: %s) | %s |", m.Page.Throughput, m.ratio(), m.combined(),
			strings.Join(ratios, ", "), verdict(m.ratio() >= 0.5))
		for _, f := range r.fixed("GET /factures") {
			if f.Rate == float64(int(m.Page.Throughput*0.5)) {
				w("| p99 ≤ 20 ms at half the maximum rate | %.2f ms at %.0f/s | %s |", ms(f.P99), f.Rate, verdict(f.P99 <= 20*time.Millisecond))
			}
		}
	}
	if pb := r.Publish; pb.Invoices > 0 && pb.MailedSeconds > 0 {
		w("| %d invoices published ≤ 60 s (mails sent) | committed in %.1f s; last mail %.1f s after the start: %.0f invoices/s, %.0f mails/s | %s |",
			pb.Invoices, pb.PublishSeconds, pb.MailedSeconds, float64(pb.Invoices)/pb.MailedSeconds, float64(pb.Mails)/pb.MailedSeconds,
			verdict(pb.MailedSeconds <= 60 && pb.Duplicates == 0))
	}
	w("| first request of a lazily rendered PDF ≤ 50 ms p99 | %.2f ms at %d/s | %s |", ms(r.PDFFirst.P99), pdfRate, verdict(r.PDFFirst.P99 <= 50*time.Millisecond && r.PDFFirst.Errors == 0))
	w("| raw PDF rendering ≥ 500/s on 2 cores | %.0f/s (1 goroutine: %.0f/s; 2 with GOGC=400: %.0f/s) — `%s` | %s |",
		r.PDFRender["2"], r.PDFRender["1"], r.PDFRender["2-gogc400"], r.PDFRenderCommand, verdict(r.PDFRender["2"] >= 500))
	w("| start-up under 1 s | %.0f ms — `%s` | %s |", r.Server.StartupMS, r.Server.Command, verdict(r.Server.StartupMS < 1000))
	w("| idle RSS under 150 MB | %.0f MB idle; %.0f MB after the load (peak %.0f MB) | %s |", r.Server.IdleRSSMB, r.Server.RSSAfterMB, r.Server.PeakRSSMB, verdict(r.Server.IdleRSSMB < 150))
	if v, ok := r.Import.Metrics["ns/op"]; ok {
		secs, rss := v/1e9, r.Import.Metrics["peakRSS-MB"]
		w("| import of 100,000 lines < 10 s, peak RSS < 200 MB | %.1f s, %.0f MB — `%s` | %s |", secs, rss, r.Import.Command, verdict(secs < 10 && rss < 200))
	}
	if v, ok := r.Settle.Metrics["settled/s"]; ok {
		runs := ""
		if len(r.Settle.Runs) > 1 {
			var vs []string
			for _, run := range r.Settle.Runs {
				vs = append(vs, fmt.Sprintf("%.0f", run["settled/s"]))
			}
			runs = fmt.Sprintf(" (median of %d runs: %s)", len(vs), strings.Join(vs, ", "))
		}
		w("| notifications settled ≥ 1,000/s, none twice | %.0f/s%s, %.2f lookups each, none applied twice (the benchmark fails otherwise) — `%s` | %s |",
			v, runs, r.Settle.Metrics["lookups/settled"], r.Settle.Command, verdict(v >= 1000))
	}
}

// writeScale compares france with small: the p50 of /factures at scaleRate
// from the france run's rounds, then the two runs' other figures.
func writeScale(w func(string, ...any), reps []benchReport) {
	var small, france *benchReport
	for i := range reps {
		switch reps[i].Profile {
		case "small":
			small = &reps[i]
		case "france":
			france = &reps[i]
		}
	}
	if france == nil || len(france.Scale) == 0 {
		return
	}
	w("")
	w("## Scale: `small` against `france`")
	w("")
	w("The france run loads /factures at %d/s on france and on small (a second server on the small profile's database, seeded afresh), in turn, %d times: the machine's speed drifts within minutes, so each round compares figures taken within half a minute, and the target uses the median round.", scaleRate, len(france.Scale))
	w("")
	w("| round | small p50 | france p50 | ratio | small p99 | france p99 |")
	w("|---|---|---|---|---|---|")
	var ratios []string
	for i, r := range france.Scale {
		w("| %d | %.2f ms | %.2f ms | %.2f | %.2f ms | %.2f ms |", i+1, ms(r.Small.P50), ms(r.Profile.P50), r.ratio(), ms(r.Small.P99), ms(r.Profile.P99))
		ratios = append(ratios, fmt.Sprintf("%.2f", r.ratio()))
	}
	m, _ := medianBy(france.Scale, scaleRound.ratio)
	w("")
	w("| | small | france | ratio | |")
	w("|---|---|---|---|---|")
	w("| GET /factures p50 at %d/s (median round) | %.2f ms | %.2f ms | %.2f (rounds: %s) | %s (target ≤ 1.10) |", scaleRate, ms(m.Small.P50), ms(m.Profile.P50),
		m.ratio(), strings.Join(ratios, ", "), verdict(m.ratio() <= 1.10))
	if small == nil {
		return
	}
	a, ok1 := medianBy(small.Rounds, benchRound.ratio)
	b, ok2 := medianBy(france.Rounds, benchRound.ratio)
	if ok1 && ok2 && a.Page.Throughput > 0 && a.DBTPS > 0 {
		w("| GET /factures maximum (median round of each run) | %.0f/s | %.0f/s | %.2f | |", a.Page.Throughput, b.Page.Throughput, b.Page.Throughput/a.Page.Throughput)
		w("| database ceiling (pgbench, same rounds) | %.0f tps | %.0f tps | %.2f | |", a.DBTPS, b.DBTPS, b.DBTPS/a.DBTPS)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
