package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// faultS3Server starts a versitygw of the test's own over a folder, with
// one bucket.
func faultS3Server(t *testing.T, bucket string) (*faultDaemon, string) {
	t.Helper()
	gobin, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(strings.TrimSpace(string(gobin)), "bin", "versitygw")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("versitygw is not installed (deploy/local/test-env.sh installs it): %v", err)
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, bucket), 0o755); err != nil {
		t.Fatal(err)
	}
	addr := freeLocalAddr(t)
	d := &faultDaemon{t: t, name: "versitygw", addr: addr, log: filepath.Join(t.TempDir(), "versitygw.log"),
		env:  []string{"PATH=" + os.Getenv("PATH"), "ROOT_ACCESS_KEY=regie-fault", "ROOT_SECRET_KEY=regie-fault-secret"},
		argv: []string{bin, "--port", addr, "posix", dir}}
	d.start()
	t.Cleanup(func() { d.stop(syscall.SIGKILL) })
	return d, dir
}

// TestFault_S3Outage stops the S3 server while families open invoice PDFs
// for the first time (rendered, then stored): they are told the service is
// momentarily unavailable, the invoice lists are untouched, and after the
// server's return each PDF is rendered and stored once, then served from
// S3.
func TestFault_S3Outage(t *testing.T) {
	t.Parallel()
	outage := 3 * time.Second
	if faultSoak() {
		outage = 30 * time.Second
	}
	const bucket = "regie-fault"
	s3, dir := faultS3Server(t, bucket)
	storage := fmt.Sprintf("s3://%s?endpoint=http://%s&region=us-east-1&path_style=true", bucket, s3.addr)
	s := newFaultStack(t, "panne-s3", 6, "REGIE_STORAGE_URL="+storage,
		"AWS_ACCESS_KEY_ID=regie-fault", "AWS_SECRET_ACCESS_KEY=regie-fault-secret")
	pdf := func(c *faultClient, inv int64) (int, string, error) {
		return c.do(http.MethodGet, fmt.Sprintf("/factures/%d/pdf", inv), nil)
	}
	isPDF := func(st int, body string) bool { return st == http.StatusOK && strings.HasPrefix(body, "%PDF-") }
	readers := make([]*faultClient, 4)
	for i := range readers {
		readers[i] = s.family(3 + i%3)
	}
	if st, body, err := pdf(readers[0], s.fc.families[3].invoices[0]); err != nil || !isPDF(st, body) {
		t.Fatalf("PDF before the outage: %d %v\n%s", st, err, faultExcerpt(body))
	}
	load := startFaultLoad(t, "before", faultStandardProbes(s, 3)...)
	load.waitRequests(3, 60*time.Second)

	load.setPhase("outage")
	s3.stop(syscall.SIGTERM)
	down := time.Now()
	var during, unavailableAnswers int
	for time.Since(down) < outage {
		for i := 1; i < 3; i++ {
			st, body, err := pdf(readers[i], s.fc.families[3+i].invoices[0])
			during++
			switch {
			case err == nil && faultUnavailablePage(st, body):
				unavailableAnswers++
			default:
				t.Errorf("a new PDF while S3 is down: %d %v\n%s", st, err, faultExcerpt(body))
			}
		}
		time.Sleep(200 * time.Millisecond) // a family trying again
	}
	s3.start()
	load.markRestored("recovery")
	restored := time.Now()
	for i := 1; i < 3; i++ {
		inv := s.fc.families[3+i].invoices[0]
		faultEventually(t, 30*time.Second, fmt.Sprintf("the PDF of invoice %d after S3's return", inv), func() (bool, string) {
			st, body, err := pdf(readers[i], inv)
			return err == nil && isPDF(st, body), fmt.Sprintf("%d %v %s", st, err, faultExcerpt(body))
		})
	}
	recovered := time.Since(restored)
	// again: served from S3
	for i := range 3 {
		if st, body, err := pdf(readers[i], s.fc.families[3+i].invoices[0]); err != nil || !isPDF(st, body) {
			t.Errorf("PDF %d again: %d %v", i, st, err)
		}
	}
	load.setPhase("after")
	load.waitRequests(3, 60*time.Second)
	load.finish()
	load.expect("before", true)
	load.expect("outage", true) // the lists do not need S3
	load.expect("after", true)

	// one object per PDF opened, recorded on its invoice
	objects, err := filepath.Glob(filepath.Join(dir, bucket, "tenants", fmt.Sprint(s.fc.tn.ID), "invoices", "*.pdf"))
	if err != nil {
		t.Fatal(err)
	}
	if len(objects) != 3 {
		t.Errorf("%d PDFs stored, want 3: %v", len(objects), objects)
	}
	var keys []string
	if err := s.db.Select(&keys, `SELECT pdf_key FROM invoices WHERE tenant_id = $1 AND pdf_key <> '' ORDER BY pdf_key`, s.fc.tn.ID); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 3 {
		t.Errorf("%d invoices record a PDF, want 3: %v", len(keys), keys)
	}
	t.Logf("S3 down %s: %d new-PDF requests answered 'momentanément indisponible' (%d), lists untouched (%s); PDFs served %s after S3's return; "+
		"3 PDFs stored once each; lost 0", outage, during, unavailableAnswers, load.report("outage"), recovered.Round(time.Millisecond))
}
