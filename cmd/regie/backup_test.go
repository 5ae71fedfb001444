package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/billing/docstore"
	"github.com/regie/regie/migrations/dbtest"
	"github.com/regie/regie/portal/account"
	"github.com/regie/regie/tenant"
)

// TestBackupRestore backs up a platform whose documents are in S3 (a
// commune with a published invoice whose PDF a family has opened, a logo,
// a second commune), restores it into a new, empty database and a folder
// store, and boots the server on the copy: the family logs in and gets the
// very same PDF, and every table has the same rows.
func TestBackupRestore(t *testing.T) {
	ctx := context.Background()
	srcURL := dbtest.NewDatabase(t)
	srcStore := newTestBucket(t)
	src := map[string]string{"REGIE_DATABASE_URL": srcURL, "REGIE_STORAGE_URL": srcStore}
	suffix := fmt.Sprint(rand.Int64N(1 << 40))
	email := "famille.sauvegarde." + suffix + "@example.fr"

	for _, args := range [][]string{
		{"tenant", "create", "--slug", "sauvegarde", "--name", "Mairie de Sauvegarde", "--numcli", "001964"},
		{"tenant", "create", "--slug", "autre-commune", "--name", "Mairie d'Ailleurs", "--numcli", "002741"},
		{"series", "create", "--tenant", "sauvegarde", "--code", "RS", "--label", "Restauration scolaire", "--pattern", "{exer}-RS-00-{numero:7}", "--next", "8001516"},
		{"import", "--tenant", "sauvegarde", "--publish", writeCSV(t, header+
			"F1;Famille Sauvegarde;"+email+";12 rue des Écoles;84000;Sauvegarde;RS;10/2015;Repas;15;2,50;30/11/2015\n")},
	} {
		if out, stderr, err := runCmd(t, src, args...); err != nil {
			t.Fatalf("%s: %v\n%s%s", args[:2], err, out, stderr)
		}
	}
	srcDB := sqlx.MustOpen("postgres", srcURL)
	defer srcDB.Close()
	var tn tenant.Tenant
	if err := srcDB.Get(&tn, `SELECT id, slug FROM tenants WHERE slug = 'sauvegarde'`); err != nil {
		t.Fatal(err)
	}
	hash, err := account.NewHasher().Hash(ctx, "mot-de-passe-sauvegarde")
	if err != nil {
		t.Fatal(err)
	}
	if err := tenant.WithTx(ctx, srcDB, tn.ID, func(tx *sqlx.Tx) error {
		_, err := account.Activate(ctx, tx, tn.ID, email, hash)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var invoiceID int64
	if err := srcDB.Get(&invoiceID, `SELECT id FROM invoices WHERE tenant_id = $1`, tn.ID); err != nil {
		t.Fatal(err)
	}
	store, err := docstore.Open(ctx, srcStore)
	if err != nil {
		t.Fatal(err)
	}
	logo := []byte("\x89PNG logo " + suffix)
	if err := store.Put(ctx, docstore.LogoKey(tn.ID, "v1"), bytes.NewReader(logo), int64(len(logo)), "image/png"); err != nil {
		t.Fatal(err)
	}

	// The family opens its invoice: the PDF is rendered and stored.
	pdfPath := "/factures/" + fmt.Sprint(invoiceID) + "/pdf"
	before := fetchAsFamily(t, src, tn.Slug, email, "mot-de-passe-sauvegarde", pdfPath)
	if !bytes.HasPrefix(before, []byte("%PDF-")) {
		t.Fatalf("the invoice PDF is %.40q", before)
	}
	var pdfKey string
	if err := srcDB.Get(&pdfKey, `SELECT pdf_key FROM invoices WHERE tenant_id = $1 AND id = $2`, tn.ID, invoiceID); err != nil || pdfKey == "" {
		t.Fatalf("the PDF's key is not recorded (%q, %v)", pdfKey, err)
	}

	dir := filepath.Join(t.TempDir(), "sauvegarde")
	out, stderr, err := runCmd(t, src, "backup", "--out", dir)
	if err != nil {
		t.Fatalf("backup: %v\n%s", err, stderr)
	}
	if !regexp.MustCompile(`backup written to .+: database \S+ \S+, 2 documents`).MatchString(out) {
		t.Fatalf("backup printed %q, want 2 documents (the PDF and the logo)", out)
	}

	// The copy is restored by an ordinary role that owns the new database,
	// as on a managed service: it becomes the owner of what it restores.
	dstURL := ownedByNewRole(t, dbtest.NewEmptyDatabase(t))
	dstDocs := t.TempDir()
	dst := map[string]string{"REGIE_DATABASE_URL": dstURL, "REGIE_STORAGE_URL": "file://" + dstDocs}

	t.Run("DamagedBackupRefusedBeforeWriting", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "abimee")
		if err := os.CopyFS(bad, os.DirFS(dir)); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(bad, "documents", filepath.FromSlash(pdfKey))
		b, _ := os.ReadFile(p)
		b[len(b)/2] ^= 1
		os.WriteFile(p, b, 0o600)
		if _, _, err := runCmd(t, dst, "restore", "--from", bad); err == nil || !strings.Contains(err.Error(), pdfKey) {
			t.Fatalf("restore of a damaged backup: %v, want an error naming %s", err, pdfKey)
		}
		os.Remove(filepath.Join(bad, backupManifest))
		if _, _, err := runCmd(t, dst, "restore", "--from", bad); err == nil || !strings.Contains(err.Error(), "unfinished") {
			t.Fatalf("restore of a backup without manifest: %v", err)
		}
		if n := tableCount(t, dstURL); n != 0 {
			t.Fatalf("%d tables written by refused restores", n)
		}
	})

	out, stderr, err = runCmd(t, dst, "restore", "--from", dir)
	if err != nil {
		t.Fatalf("restore: %v\n%s", err, stderr)
	}
	t.Logf("%s%s", out, stderr)

	t.Run("SameRows", func(t *testing.T) {
		srcRows, dstRows := tableRows(t, srcURL), tableRows(t, dstURL)
		if len(srcRows) < 20 {
			t.Fatalf("only %d tables counted", len(srcRows))
		}
		db := sqlx.MustOpen("postgres", dstURL)
		defer db.Close()
		var foreign int
		if err := db.Get(&foreign, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner <> current_user`); err != nil || foreign != 0 {
			t.Errorf("%d restored tables not owned by the restoring role (%v)", foreign, err)
		}
		for table, n := range srcRows {
			if dstRows[table] != n {
				t.Errorf("table %s: %d rows restored, %d backed up", table, dstRows[table], n)
			}
		}
	})
	t.Run("SameDocuments", func(t *testing.T) {
		got, err := os.ReadFile(filepath.Join(dstDocs, filepath.FromSlash(docstore.LogoKey(tn.ID, "v1"))))
		if err != nil || !bytes.Equal(got, logo) {
			t.Fatalf("restored logo %q, %v", got, err)
		}
	})
	t.Run("ServesTheSameInvoice", func(t *testing.T) {
		after := fetchAsFamily(t, dst, tn.Slug, email, "mot-de-passe-sauvegarde", pdfPath)
		if !bytes.Equal(after, before) {
			t.Fatalf("the restored server sends another PDF (%d bytes, was %d)", len(after), len(before))
		}
		// served from the restored store, not rendered again
		if stored, err := os.ReadFile(filepath.Join(dstDocs, filepath.FromSlash(pdfKey))); err != nil || !bytes.Equal(stored, before) {
			t.Fatalf("the restored store lacks the PDF: %v", err)
		}
	})
	t.Run("RefusesNonEmptyTargets", func(t *testing.T) {
		if _, _, err := runCmd(t, dst, "restore", "--from", dir); err == nil || !strings.Contains(err.Error(), "empty database") {
			t.Fatalf("restore over a restored database: %v", err)
		}
		if _, _, err := runCmd(t, src, "backup", "--out", dir); err == nil || !strings.Contains(err.Error(), "not empty") {
			t.Fatalf("backup into a used folder: %v", err)
		}
	})
}

// fetchAsFamily boots the whole server on env's database and store, logs
// the family in and returns the body of path.
func fetchAsFamily(t *testing.T, env map[string]string, slug, email, password, path string) []byte {
	t.Helper()
	full := validServerEnv()
	full["REGIE_BASE_URL"] = "http://localhost:8080"
	full["REGIE_REDIS_URL"] = dbtest.RedisURL(t)
	full["REGIE_TRUSTED_PROXIES"] = "127.0.0.1/32"
	for k, v := range env {
		full[k] = v
	}
	_, addr := startApp(t, full, nil)
	jar, _ := cookiejar.New(nil)
	w := &webClient{t: t, host: slug + ".localhost", ip: fmt.Sprintf("10.77.%d.%d", rand.IntN(256), 1+rand.IntN(254)),
		c: &http.Client{Jar: jar, Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: tenant.DialLocalhost},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	_, port, _ := net.SplitHostPort(addr)
	if res, body := w.submit(port, "/", "/connexion", url.Values{"email": {email}, "password": {password}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d\n%s", res.StatusCode, body)
	}
	res, body := w.do(port, http.MethodGet, path, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", path, res.StatusCode, body)
	}
	return []byte(body)
}

// ownedByNewRole gives the database of dsn to a new login role without
// any special right but membership of regie_app (which the platform's
// administrator grants once), and returns the URL that logs in as it.
func ownedByNewRole(t *testing.T, dsn string) string {
	t.Helper()
	admin := sqlx.MustOpen("postgres", dbtest.ServerURL())
	defer admin.Close()
	u, _ := url.Parse(dsn)
	role := fmt.Sprintf("regie_owner_%d", rand.Int64N(1<<40))
	for _, q := range []string{
		`CREATE ROLE ` + role + ` LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB`,
		`GRANT regie_app TO ` + role,
		`ALTER DATABASE ` + strings.TrimPrefix(u.Path, "/") + ` OWNER TO ` + role,
	} {
		if _, err := admin.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() {
		// the role goes with its database (dbtest's own clean-up, which
		// runs after this one, then finds nothing to drop)
		admin := sqlx.MustOpen("postgres", dbtest.ServerURL())
		defer admin.Close()
		if _, err := admin.Exec(`DROP DATABASE IF EXISTS ` + strings.TrimPrefix(u.Path, "/") + ` WITH (FORCE)`); err != nil {
			t.Logf("drop database: %v", err)
		}
		if _, err := admin.Exec(`DROP ROLE IF EXISTS ` + role); err != nil {
			t.Logf("drop role %s: %v", role, err)
		}
	})
	u.User = url.User(role)
	return u.String()
}

// tableRows counts the rows of every table of the public schema.
func tableRows(t *testing.T, dsn string) map[string]int {
	t.Helper()
	db := sqlx.MustOpen("postgres", dsn)
	defer db.Close()
	var tables []string
	if err := db.Select(&tables, `SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`); err != nil {
		t.Fatal(err)
	}
	rows := map[string]int{}
	for _, table := range tables {
		var n int
		if err := db.Get(&n, fmt.Sprintf(`SELECT count(*) FROM %q`, table)); err != nil {
			t.Fatal(err)
		}
		rows[table] = n
	}
	return rows
}

func tableCount(t *testing.T, dsn string) int {
	t.Helper()
	return len(tableRows(t, dsn))
}

// newTestBucket creates an empty bucket on the S3 server `make test`
// starts, removed with its objects when the test ends, and returns its
// REGIE_STORAGE_URL.
func newTestBucket(t *testing.T) string {
	t.Helper()
	raw := os.Getenv("REGIE_TEST_S3_URL")
	if raw == "" {
		t.Fatal("REGIE_TEST_S3_URL is not set: run the tests with `make test`, which starts versitygw")
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(u.Query().Get("region")))
	if err != nil {
		t.Fatal(err)
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(u.Query().Get("endpoint"))
		o.UsePathStyle = true
	})
	u.Host = fmt.Sprintf("regie-backup-%d", rand.Int64N(1<<40))
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(u.Host)}); err != nil {
		t.Fatalf("create bucket %s: %v", u.Host, err)
	}
	t.Cleanup(func() {
		st, err := docstore.Open(ctx, u.String())
		if err != nil {
			return
		}
		st.(docstore.Walker).Walk(ctx, func(key string) error { return st.Delete(ctx, key) }) //nolint:errcheck // best effort
		client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(u.Host)})           //nolint:errcheck // best effort
	})
	return u.String()
}

// TestMigrate_OwnerWithoutCreateRole: on a managed service the schema's
// owner may not create roles; once the administrator has made regie_app
// and granted it, `regie migrate` goes through.
func TestMigrate_OwnerWithoutCreateRole(t *testing.T) {
	dsn := ownedByNewRole(t, dbtest.NewEmptyDatabase(t))
	if _, stderr, err := runCmd(t, map[string]string{"REGIE_DATABASE_URL": dsn}, "migrate"); err != nil {
		t.Fatalf("migrate as an owner without CREATEROLE: %v\n%s", err, stderr)
	}
}
