package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/regie/regie/billing/docstore"
	"github.com/regie/regie/migrations"
)

// A backup is a folder:
//
//	manifest.json    written last: a folder without it is an unfinished backup
//	database.dump    pg_dump --format=custom of the whole database, as its owner
//	documents.jsonl  one line per document: key, size, SHA-256, content type
//	documents/<key>  the documents of REGIE_STORAGE_URL
//
// The database is dumped first, then the documents are copied: every
// document the dump names was stored before the dump began (PDFs are
// stored before their key is recorded), so the copy holds them all.
const (
	backupFormat    = "regie-backup-1"
	backupManifest  = "manifest.json"
	backupDump      = "database.dump"
	backupDocList   = "documents.jsonl"
	backupDocFolder = "documents"
)

// backupManifestData is manifest.json.
type backupManifestData struct {
	Format       string    `json:"format"`
	CreatedAt    time.Time `json:"created_at"`
	DumpSHA256   string    `json:"database_sha256"`
	DumpSize     int64     `json:"database_size"`
	Documents    int       `json:"documents"`
	DocumentSize int64     `json:"documents_size"`
}

// backupDoc is one line of documents.jsonl.
type backupDoc struct {
	Key         string `json:"key"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	ContentType string `json:"content_type"`
}

// cmdBackup writes a backup of the database and the documents into a new
// folder. It needs REGIE_DATABASE_URL (the schema's owner) and
// REGIE_STORAGE_URL, and pg_dump on the PATH or in /usr/lib/postgresql.
func cmdBackup(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("backup", stderr)
	out := fs.String("out", "", "new or empty folder to write the backup into")
	if err := parseFlags(fs, args, 0, ""); err != nil {
		return err
	}
	if *out == "" {
		return usageError("backup needs --out DIR")
	}
	cfg, err := loadConfig(env, needDatabase|needStorage)
	if err != nil {
		return err
	}
	if err := newDir(*out); err != nil {
		return err
	}
	docs, err := docstore.Open(ctx, cfg.StorageURL)
	if err != nil {
		return err
	}
	walker, ok := docs.(docstore.Walker)
	if !ok {
		return fmt.Errorf("backup: the document store %T cannot list its documents", docs)
	}
	start := time.Now()
	m := backupManifestData{Format: backupFormat, CreatedAt: start.UTC()}

	dumpPath := filepath.Join(*out, backupDump)
	if err := runPG(ctx, "pg_dump", cfg.DatabaseURL, "--format=custom", "--file="+dumpPath); err != nil {
		return err
	}
	if m.DumpSHA256, m.DumpSize, err = fileSum(dumpPath); err != nil {
		return err
	}

	list, err := os.Create(filepath.Join(*out, backupDocList))
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer list.Close()
	lines := bufio.NewWriter(list)
	enc := json.NewEncoder(lines)
	err = walker.Walk(ctx, func(key string) error {
		d, err := backupDocument(ctx, docs, key, *out)
		if err != nil {
			return err
		}
		m.Documents++
		m.DocumentSize += d.Size
		return enc.Encode(d)
	})
	if err == nil {
		err = lines.Flush()
	}
	if err == nil {
		err = list.Close()
	}
	if err != nil {
		return fmt.Errorf("backup: documents: %w", err)
	}

	b, _ := json.MarshalIndent(m, "", "  ")
	if err := os.WriteFile(filepath.Join(*out, backupManifest), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(stdout, "backup written to %s in %s: database %s, %d documents (%s)\n",
		*out, time.Since(start).Round(time.Millisecond), byteSize(m.DumpSize), m.Documents, byteSize(m.DocumentSize))
	return nil
}

// backupDocument copies one document into the backup folder.
func backupDocument(ctx context.Context, docs docstore.Store, key, dir string) (backupDoc, error) {
	p, err := docPath(dir, key)
	if err != nil {
		return backupDoc{}, err
	}
	rc, info, err := docs.Get(ctx, key)
	if err != nil {
		return backupDoc{}, err
	}
	defer rc.Close()
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return backupDoc{}, err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return backupDoc{}, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), rc)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return backupDoc{}, fmt.Errorf("%s: %w", key, err)
	}
	return backupDoc{Key: key, Size: n, SHA256: hex.EncodeToString(h.Sum(nil)), ContentType: info.ContentType}, nil
}

// cmdRestore restores a backup into an empty database and the document
// store: REGIE_DATABASE_URL names the new database (its role becomes the
// owner of everything restored; the regie_app role is created if the
// cluster lacks it) and REGIE_STORAGE_URL the store the documents go to.
// Every file is checked against its SHA-256 before anything is restored.
func cmdRestore(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("restore", stderr)
	from := fs.String("from", "", "folder written by regie backup")
	if err := parseFlags(fs, args, 0, ""); err != nil {
		return err
	}
	if *from == "" {
		return usageError("restore needs --from DIR")
	}
	cfg, err := loadConfig(env, needDatabase|needStorage)
	if err != nil {
		return err
	}
	start := time.Now()
	m, err := readBackup(*from)
	if err != nil {
		return err
	}

	db, err := openDB(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	var tables int
	if err := db.GetContext(ctx, &tables, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if tables > 0 {
		return fmt.Errorf("restore: the database %s already has %d tables: restore into a new, empty database", redactURL(cfg.DatabaseURL), tables)
	}
	// Roles are cluster-wide and not in the dump: the grants it holds
	// need regie_app, and the restoring role must be able to use it.
	// (PostgreSQL checks the right to create a role before whether it
	// exists: only ask when it does not.)
	if _, err := db.ExecContext(ctx, `DO $$
		BEGIN
			IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'regie_app') THEN
				CREATE ROLE regie_app NOLOGIN;
			END IF;
		END $$`); err != nil {
		return fmt.Errorf("restore: create role regie_app: %w", err)
	}
	if _, err := db.ExecContext(ctx, `DO $$
		BEGIN
			IF NOT pg_has_role(current_user, 'regie_app', 'MEMBER') THEN
				EXECUTE format('GRANT regie_app TO %I', current_user);
			END IF;
		END $$`); err != nil {
		return fmt.Errorf("restore: grant regie_app: %w", err)
	}
	if err := runPG(ctx, "pg_restore", cfg.DatabaseURL, "--no-owner", "--exit-on-error", "--single-transaction",
		filepath.Join(*from, backupDump)); err != nil {
		return err
	}
	if err := migrations.Check(ctx, db.DB); err != nil {
		// an older backup restores fine; the server then asks for migrate
		fmt.Fprintf(stderr, "restore: %v\n", err)
	}

	store, err := docstore.Open(ctx, cfg.StorageURL)
	if err != nil {
		return err
	}
	err = eachBackupDoc(*from, func(d backupDoc, p string) error {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		return store.Put(ctx, d.Key, f, d.Size, d.ContentType)
	})
	if err != nil {
		return fmt.Errorf("restore: documents: %w", err)
	}
	fmt.Fprintf(stdout, "restored %s in %s: database %s (backup of %s), %d documents (%s)\n", *from,
		time.Since(start).Round(time.Millisecond), byteSize(m.DumpSize), m.CreatedAt.Format(time.RFC3339), m.Documents, byteSize(m.DocumentSize))
	return nil
}

// readBackup reads a backup's manifest and checks every file against it
// and the document list, so that a damaged backup is refused before
// anything is written.
func readBackup(dir string) (backupManifestData, error) {
	var m backupManifestData
	b, err := os.ReadFile(filepath.Join(dir, backupManifest))
	if errors.Is(err, os.ErrNotExist) {
		return m, fmt.Errorf("restore: %s has no %s: not a backup, or an unfinished one", dir, backupManifest)
	}
	if err != nil {
		return m, fmt.Errorf("restore: %w", err)
	}
	if err := json.Unmarshal(b, &m); err != nil || m.Format != backupFormat {
		return m, fmt.Errorf("restore: %s is not a %s manifest", filepath.Join(dir, backupManifest), backupFormat)
	}
	if sum, size, err := fileSum(filepath.Join(dir, backupDump)); err != nil || sum != m.DumpSHA256 || size != m.DumpSize {
		return m, fmt.Errorf("restore: %s is missing or damaged (%v)", backupDump, err)
	}
	n := 0
	err = eachBackupDoc(dir, func(d backupDoc, p string) error {
		if sum, size, err := fileSum(p); err != nil || sum != d.SHA256 || size != d.Size {
			return fmt.Errorf("document %s is missing or damaged (%v)", d.Key, err)
		}
		n++
		return nil
	})
	if err != nil {
		return m, fmt.Errorf("restore: %w", err)
	}
	if n != m.Documents {
		return m, fmt.Errorf("restore: %s lists %d documents, the manifest %d", backupDocList, n, m.Documents)
	}
	return m, nil
}

// eachBackupDoc calls fn with each document of the list and its file,
// streaming: a platform's documents do not fit in memory.
func eachBackupDoc(dir string, fn func(d backupDoc, file string) error) error {
	list, err := os.Open(filepath.Join(dir, backupDocList))
	if err != nil {
		return err
	}
	defer list.Close()
	dec := json.NewDecoder(bufio.NewReader(list))
	for {
		var d backupDoc
		if err := dec.Decode(&d); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("%s: %w", backupDocList, err)
		}
		p, err := docPath(dir, d.Key)
		if err != nil {
			return err
		}
		if err := fn(d, p); err != nil {
			return err
		}
	}
}

// docPath is where a document lives in a backup folder; keys that would
// leave documents/ are refused.
func docPath(dir, key string) (string, error) {
	if key == "" || path.Clean("/"+key) != "/"+key || strings.Contains(key, "\\") {
		return "", fmt.Errorf("document key %q cannot be a file name", key)
	}
	return filepath.Join(dir, backupDocFolder, filepath.FromSlash(key)), nil
}

// newDir makes sure dir is a new or empty folder.
func newDir(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("backup: %w", err)
	case len(entries) > 0:
		return fmt.Errorf("backup: %s is not empty: give a new folder", dir)
	}
	return nil
}

// runPG runs pg_dump or pg_restore on the database of dsn. The password
// goes through PGPASSWORD, not the command line, which other users of the
// machine can read.
func runPG(ctx context.Context, prog, dsn string, args ...string) error {
	bin, err := pgTool(prog)
	if err != nil {
		return err
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return fmt.Errorf("%s: REGIE_DATABASE_URL: %w", prog, err)
	}
	environ := os.Environ()
	if pw, ok := u.User.Password(); ok {
		environ = append(environ, "PGPASSWORD="+pw)
		u.User = url.User(u.User.Username())
	}
	cmd := exec.CommandContext(ctx, bin, append([]string{"--no-password", "--dbname=" + u.String()}, args...)...)
	cmd.Env = environ
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w: %s", prog, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// pgTool finds a PostgreSQL client program: on the PATH, else the newest
// in /usr/lib/postgresql (Debian's layout).
func pgTool(prog string) (string, error) {
	if p, err := exec.LookPath(prog); err == nil {
		return p, nil
	}
	best, bestVersion := "", -1
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + prog)
	for _, p := range found {
		if v, err := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(p)))); err == nil && v > bestVersion {
			best, bestVersion = p, v
		}
	}
	if best == "" {
		return "", fmt.Errorf("%s not found: install the PostgreSQL client of the server's major version or newer (apt-get install postgresql-client)", prog)
	}
	return best, nil
}

// fileSum returns the SHA-256 and size of a file.
func fileSum(p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	return hex.EncodeToString(h.Sum(nil)), n, err
}

// byteSize writes a size for people.
func byteSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
