package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/regie/regie/cmd/regie/internal/bench"
)

func TestBench_Usage(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"NoCommand", []string{"bench"}, "missing command"},
		{"UnknownCommand", []string{"bench", "frobnicate"}, "frobnicate"},
		{"UnknownProfile", []string{"bench", "seed", "--profile", "paris"}, "paris"},
		{"UnknownLoadProfile", []string{"bench", "load", "--profile", "paris"}, "paris"},
		{"BadRate", []string{"bench", "load", "--rates", "fast"}, "fast"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runCmd(t, map[string]string{"REGIE_BASE_URL": "http://localhost:8080"}, tc.args...)
			var u usageError
			if !errors.As(err, &u) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v: %v, want a usage error naming %q", tc.args, err, tc.want)
			}
		})
	}
}

// The ceiling answers each client with the page its cookie numbers, and
// the first page to a client without one (or with a number it lacks).
func TestCeilingHandler(t *testing.T) {
	pages := [][]byte{[]byte("<!doctype html><title>Première</title>"), []byte("<!doctype html><title>Seconde</title>")}
	srv := httptest.NewServer(ceilingHandler(pages))
	defer srv.Close()
	for _, tc := range []struct {
		cookie string
		want   []byte
	}{{"", pages[0]}, {"page=1", pages[1]}, {"page=0", pages[0]}, {"page=2", pages[0]}, {"page=-1", pages[0]}, {"page=x", pages[0]}} {
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/factures", nil)
		if err != nil {
			t.Fatal(err)
		}
		if tc.cookie != "" {
			req.Header.Set("Cookie", tc.cookie)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(got) != string(tc.want) || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Errorf("GET /factures with cookie %q = %d %q %q, want 200 and %q as HTML", tc.cookie, resp.StatusCode, resp.Header.Get("Content-Type"), got, tc.want)
		}
	}
}

// The report keeps the round of the median ratio, each round's ratio
// taken against its own ceilings.
func TestBenchReport_Median(t *testing.T) {
	round := func(page, http, db float64) benchRound {
		return benchRound{Page: bench.Result{Throughput: page}, HTTP: bench.Result{Throughput: http}, DBTPS: db}
	}
	r := benchReport{Rounds: []benchRound{round(2000, 10000, 10000), round(3000, 10000, 10000), round(1000, 4000, 4000)}}
	m, ok := medianBy(r.Rounds, benchRound.ratio)
	// ratios 0.40, 0.60 and 0.50: the slow round is the median
	if !ok || m.Page.Throughput != 1000 || m.combined() != 2000 || m.ratio() != 0.5 {
		t.Errorf("median round %+v (ratio %.2f), want the one at 1000/s, 0.50 of 2000/s", m, m.ratio())
	}
	if _, ok := medianBy([]benchRound(nil), benchRound.ratio); ok {
		t.Error("a report without rounds has a median")
	}
}

// Settlement keeps the run of the median rate, with that run's other
// figures, and the report lists every run.
func TestBenchReport_SettleRuns(t *testing.T) {
	out := []byte(`goos: linux
BenchmarkNotificationsSettle-2   	    3000	   1120469 ns/op	         1.000 lookups/settled	       892.5 settled/s
BenchmarkNotificationsSettle-2   	    3000	    852027 ns/op	         1.500 lookups/settled	      1174 settled/s
BenchmarkOther-2   	    3000	    1 ns/op	         5 settled/s
BenchmarkNotificationsSettle-2   	    3000	    885107 ns/op	         1.250 lookups/settled	      1130 settled/s
PASS
`)
	runs := parseBenchRuns(out, "BenchmarkNotificationsSettle")
	if len(runs) != 3 || runs[1]["settled/s"] != 1174 || runs[2]["ns/op"] != 885107 {
		t.Fatalf("runs = %v, want the three lines of the benchmark, in order", runs)
	}
	m, _ := medianBy(runs, func(m map[string]float64) float64 { return m["settled/s"] })
	r := benchReport{Settle: goBench{Command: "go test", Metrics: m, Runs: runs}}
	var b strings.Builder
	writeProfile(func(f string, a ...any) { fmt.Fprintf(&b, f+"\n", a...) }, r)
	if want := "| 1130/s (median of 3 runs: 892, 1174, 1130), 1.25 lookups each,"; !strings.Contains(b.String(), want) {
		t.Errorf("report lacks %q:\n%s", want, b.String())
	}
}

// The scale target reads the france run's rounds, each a ratio of p50s
// taken in turn, and judges the median one.
func TestBenchReport_Scale(t *testing.T) {
	round := func(small, france time.Duration) scaleRound {
		return scaleRound{Small: bench.Result{P50: small}, Profile: bench.Result{P50: france}}
	}
	france := benchReport{Profile: "france", Scale: []scaleRound{
		round(2*time.Millisecond, 3*time.Millisecond), round(2*time.Millisecond, 2100*time.Microsecond), round(2*time.Millisecond, 1800*time.Microsecond)}}
	var b strings.Builder
	writeScale(func(f string, a ...any) { fmt.Fprintf(&b, f+"\n", a...) }, []benchReport{france})
	if want := "| 1.05 (rounds: 1.50, 1.05, 0.90) | met (target ≤ 1.10) |"; !strings.Contains(b.String(), want) {
		t.Errorf("scale section lacks %q:\n%s", want, b.String())
	}
}
