package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/alexedwards/argon2id"

	"github.com/regie/regie/cmd/regie/internal/bench"
	"github.com/regie/regie/portal/account"
)

// publishFigures is the publication of a month's batch, end to end.
type publishFigures struct {
	Invoices, Lines, Mails int
	ImportSeconds          float64 // regie import of the file, not published
	PublishSeconds         float64 // regie publish: numbering and the notification job, committed
	MailedSeconds          float64 // from the start of regie publish to the last mail accepted by the SMTP sink
	Duplicates             int64   // mails the sink got beyond one per address
	WorkerPeakRSSMB        float64
	Command                string
}

// publishFamilies is the size of the published commune: one invoice each.
const publishFamilies = 100_000

// publish imports a month of 100,000 invoices into a commune of its own
// with `regie import`, gives two addresses in three an account, then times
// `regie publish` and the mails that follow: a `regie worker` process
// works the notification job and the mail jobs, and sends to an SMTP sink
// that counts. PDFs are rendered on first request (the invoices issue's
// choice), so publication renders none; their first request is measured
// with the pages.
func (b *benchRun) publish() error {
	env := func(k string) string {
		if k == "REGIE_DATABASE_URL" {
			return b.dbURL
		}
		return b.env(k)
	}
	var out, errs bytes.Buffer
	cli := func(args ...string) error {
		out.Reset()
		errs.Reset()
		if err := run(b.ctx, args, env, &out, &errs); err != nil {
			return fmt.Errorf("regie %v: %w (%s)", args, err, errs.String())
		}
		return nil
	}
	const slug = "publication"
	if err := cli("tenant", "create", "--slug", slug, "--name", "Mairie de Publication", "--numcli", "999001", "--mode", "production"); err != nil {
		return err
	}
	if err := cli("series", "create", "--tenant", slug, "--code", "RS", "--label", "Restauration scolaire", "--pattern", "{exer}-RS-{numero:7}"); err != nil {
		return err
	}
	csvPath := filepath.Join(b.dir, "publication.csv")
	f, err := os.Create(csvPath)
	if err != nil {
		return err
	}
	lines, addresses, err := bench.WritePublicationCSV(f, publishFamilies)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	p := &b.r.Publish
	*p = publishFigures{Invoices: publishFamilies, Lines: lines, Mails: addresses}
	began := time.Now()
	if err := cli("import", "--tenant", slug, csvPath); err != nil {
		return err
	}
	p.ImportSeconds = time.Since(began).Seconds()
	db, err := b.openBenchDB()
	if err != nil {
		return err
	}
	defer db.Close()
	var tid, batch int64
	if err := db.QueryRowxContext(b.ctx, `SELECT t.id, ib.id FROM tenants t JOIN import_batches ib ON ib.tenant_id = t.id
		WHERE t.slug = $1 AND ib.status = 'imported'`, slug).Scan(&tid, &batch); err != nil {
		return fmt.Errorf("the imported batch: %w", err)
	}
	// Families with an account get "facture disponible", the others an
	// invitation to open one: two addresses in three have one.
	hash, err := argon2id.CreateHash(bench.Password, account.HashParams)
	if err != nil {
		return err
	}
	if _, err := db.ExecContext(b.ctx, `INSERT INTO family_accounts (tenant_id, email, password_hash)
		SELECT DISTINCT tenant_id, email, $2 FROM family_emails WHERE tenant_id = $1 AND family_id % 3 <> 0`, tid, hash); err != nil {
		return err
	}

	sink, err := bench.StartSink()
	if err != nil {
		return err
	}
	defer sink.Close()
	worker, _, err := b.startProcess("worker", b.dbURL, []string{"worker"}, sink.URL())
	if err != nil {
		return err
	}
	defer worker.stop()
	b.log("publishing %d invoices (%d addresses)", publishFamilies, addresses)
	began = time.Now()
	if err := cli("publish", "--tenant", slug, "--batch", strconv.FormatInt(batch, 10)); err != nil {
		return err
	}
	p.PublishSeconds = time.Since(began).Seconds()
	deadline := began.Add(30 * time.Minute)
	for sink.Count() < int64(addresses) {
		if time.Now().After(deadline) {
			return fmt.Errorf("publication: %d of %d mails after 30 minutes (see %s)", sink.Count(), addresses, worker.log.Name())
		}
		select {
		case <-b.ctx.Done():
			return b.ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	p.MailedSeconds = time.Since(began).Seconds()
	p.WorkerPeakRSSMB = procStatusMB(worker.cmd.Process.Pid, "VmHWM:")
	// a mail sent twice would show up by now
	time.Sleep(2 * time.Second)
	p.Duplicates = sink.Count() - int64(addresses)
	p.Command = fmt.Sprintf("regie import --tenant %s publication.csv (%d families, %d lines); regie publish --tenant %s --batch %d, "+
		"with `regie worker` sending to an SMTP sink", slug, publishFamilies, lines, slug, batch)
	b.log("published %d invoices in %.1f s, %d mails sent %.1f s after the start", publishFamilies, p.PublishSeconds, addresses, p.MailedSeconds)
	return nil
}
