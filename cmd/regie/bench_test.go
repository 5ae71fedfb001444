package main

import (
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

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

func TestCeilingHandler(t *testing.T) {
	body := []byte("<!doctype html><title>Mes factures</title>")
	srv := httptest.NewServer(ceilingHandler(body))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/factures")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(got) != string(body) || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("GET /factures = %d %q %q, want 200 and the body as HTML", resp.StatusCode, resp.Header.Get("Content-Type"), got)
	}
}

// The report keeps the round of the median ratio, each round's ratio
// taken against its own ceilings.
func TestBenchReport_Median(t *testing.T) {
	round := func(page, http, db float64) benchRound {
		return benchRound{Page: bench.Result{Throughput: page}, HTTP: bench.Result{Throughput: http}, DBTPS: db}
	}
	r := benchReport{Rounds: []benchRound{round(2000, 10000, 10000), round(3000, 10000, 10000), round(1000, 4000, 4000)}}
	m, ok := r.median()
	// ratios 0.40, 0.60 and 0.50: the slow round is the median
	if !ok || m.Page.Throughput != 1000 || m.combined() != 2000 || m.ratio() != 0.5 {
		t.Errorf("median round %+v (ratio %.2f), want the one at 1000/s, 0.50 of 2000/s", m, m.ratio())
	}
	if _, ok := (benchReport{}).median(); ok {
		t.Error("a report without rounds has a median")
	}
}
