package main

import (
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
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
