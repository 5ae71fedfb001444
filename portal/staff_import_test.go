package portal

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/billing/billingtest"
	"github.com/regie/regie/migrations/dbtest"
	"github.com/regie/regie/payments"
	"github.com/regie/regie/portal/staff"
	"github.com/regie/regie/tenant"
	"github.com/regie/regie/tenant/tenanttest"
)

// importPart is a file of the upload form.
type importPart struct {
	field, filename string
	data            []byte
}

// postUpload sends the multipart upload form as a browser does: the CSRF
// token first (unless withToken is false), then the files.
func importPost(t *testing.T, b *browser, withToken bool, parts ...importPart) (*http.Response, string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	if withToken {
		if b.cookie(csrfCookie) == "" {
			b.get("/gestion/connexion")
		}
		w.WriteField("csrf_token", b.e.srv.csrfToken(b.cookie(csrfCookie)))
	}
	for _, p := range parts {
		fw, err := w.CreateFormFile(p.field, p.filename)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(p.data)
	}
	w.Close()
	req, _ := http.NewRequest(http.MethodPost, b.url("/gestion/import"), &buf)
	req.Header.Set("Content-Type", w.FormDataContentType())
	return b.do(req)
}

const importHeader = "famille;nom;email;adresse;code_postal;ville;serie;periode;libelle;quantite;prix_unitaire;echeance;reference\n"

func importCSVPart(rows ...string) importPart {
	return importPart{"fichier", "factures.csv", []byte(importHeader + strings.Join(rows, "\n") + "\n")}
}

// pdfZip builds a ZIP from names and contents.
func importZIPPart(t *testing.T, files map[string]string) importPart {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, content := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(content))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return importPart{"pdfs", "pdfs.zip", buf.Bytes()}
}

// uploadOK posts files and returns the new upload's id.
func importUploadOK(t *testing.T, b *browser, parts ...importPart) int64 {
	t.Helper()
	res, body := importPost(t, b, true, parts...)
	expect(t, res, body, http.StatusSeeOther, "")
	id, err := strconv.ParseInt(strings.TrimPrefix(res.Header.Get("Location"), "/gestion/import/"), 10, 64)
	if err != nil {
		t.Fatalf("upload redirected to %q", res.Header.Get("Location"))
	}
	return id
}

// waitUpload waits until the upload reaches status want, then returns its
// page as b sees it.
func importWaitUpload(t *testing.T, b *browser, tn tenant.Tenant, id int64, want billing.UploadStatus) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		up := importLoadUpload(t, tn, id)
		if up.Status == want {
			res, body := b.get(fmt.Sprintf("/gestion/import/%d", id))
			expect(t, res, body, http.StatusOK, "")
			if strings.Contains(body, `http-equiv="refresh"`) {
				t.Fatalf("upload %d is %s, yet its page still reloads itself", id, want)
			}
			return body
		}
		if !up.Status.Running() || time.Now().After(deadline) {
			_, body := b.get(fmt.Sprintf("/gestion/import/%d", id))
			t.Fatalf("upload %d is %s (%s), want %s; page:\n%s", id, up.Status, up.Error, want, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func importLoadUpload(t *testing.T, tn tenant.Tenant, id int64) billing.Upload {
	t.Helper()
	var up billing.Upload
	err := tenant.WithTx(context.Background(), dbtest.DB(t), tn.ID, func(tx *sqlx.Tx) error {
		var err error
		up, err = billing.UploadByID(context.Background(), tx, tn.ID, id)
		return err
	})
	if err != nil {
		t.Fatalf("upload %d: %v", id, err)
	}
	return up
}

func importLoadBatch(t *testing.T, tn tenant.Tenant, id int64) billing.Batch {
	t.Helper()
	var b billing.Batch
	err := tenant.WithTx(context.Background(), dbtest.DB(t), tn.ID, func(tx *sqlx.Tx) error {
		var err error
		b, err = billing.BatchByID(context.Background(), tx, tn.ID, id)
		return err
	})
	if err != nil {
		t.Fatalf("batch %d: %v", id, err)
	}
	return b
}

// countIn counts rows of the commune with a query taking the commune as $1.
func importCount(t *testing.T, tn tenant.Tenant, q string, args ...any) int {
	t.Helper()
	var n int
	err := tenant.WithTx(context.Background(), dbtest.DB(t), tn.ID, func(tx *sqlx.Tx) error {
		return tx.Get(&n, q, append([]any{tn.ID}, args...)...)
	})
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// audited counts the commune's audit rows of an action.
func importAudited(t *testing.T, tn tenant.Tenant, action string) int {
	t.Helper()
	return importCount(t, tn, `SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action = $2`, action)
}

// onceAudited runs fn and fails unless it wrote exactly one audit row of
// the action.
func importOnceAudited(t *testing.T, tn tenant.Tenant, action string, fn func()) {
	t.Helper()
	before := importAudited(t, tn, action)
	fn()
	if n := importAudited(t, tn, action) - before; n != 1 {
		t.Fatalf("%s: %d audit rows written, want 1", action, n)
	}
}

// confirm posts the confirmation form of an upload.
func importConfirm(t *testing.T, b *browser, id int64, form url.Values) {
	t.Helper()
	res, body := b.post(fmt.Sprintf("/gestion/import/%d/importer", id), form)
	expect(t, res, body, http.StatusSeeOther, fmt.Sprintf("/gestion/import/%d", id))
}

func importContains(t *testing.T, what, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("%s lacks %q", what, w)
		}
	}
	if t.Failed() {
		t.Fatalf("%s:\n%s", what, body)
	}
}

// waitMail waits for a mail to addr whose subject contains subject.
func importWaitMail(t *testing.T, e *env, addr, subject string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		for _, m := range e.box.To(addr) {
			if strings.Contains(m.Subject, subject) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no mail %q to %s", subject, addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func importCommune(t *testing.T, prefix string) tenant.Tenant {
	t.Helper()
	tn := tenanttest.MustCreate(t, dbtest.DB(t), prefix)
	err := tenant.WithTx(context.Background(), dbtest.DB(t), tn.ID, func(tx *sqlx.Tx) error {
		_, err := billing.CreateSeries(context.Background(), tx, tn.ID, billing.Series{Code: "RS", Label: "Restauration scolaire",
			Pattern: "{exer}-RS-00-{numero:7}", NextNumber: 8001516})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return tn
}

func TestImportPage(t *testing.T) {
	e := sharedEnv(t)
	a, other := importCommune(t, "impa"), importCommune(t, "impb")
	agent := staffLogin(t, e, a, newMember(t, e, a, staff.Agent, false))
	admin := staffLogin(t, e, a, newMember(t, e, a, staff.Admin, false))
	reader := staffLogin(t, e, a, newMember(t, e, a, staff.Reader, false))
	outsider := staffLogin(t, e, other, newMember(t, e, other, staff.Agent, false))
	martin, dupont := uniqueAddr(t, "martin"), uniqueAddr(t, "dupont")
	row := func(fam, name, addr, qty, ref string) string {
		return fmt.Sprintf("%s;%s;%s;1 rue des Écoles;84000;Démonstration;RS;10/2026;Repas;%s;2,50;15/12/2099;%s", fam, name, addr, qty, ref)
	}

	var cleanUpload, batch int64
	t.Run("ErrorsThenClean", func(t *testing.T) {
		var id int64
		importOnceAudited(t, a, "import.upload", func() {
			id = importUploadOK(t, agent, importCSVPart(
				row("F1", "Famille Martin", martin, "15", ""),
				"F2;Famille Dupont;"+dupont+";2 rue;84000;Démonstration;XX;13/2026;Repas;15;2,50;15/12/2099;",
				row("F3", "Famille Roux", "pas-une-adresse", "-2", ""),
			))
		})
		body := importWaitUpload(t, agent, a, id, billing.UploadInvalid)
		importContains(t, "page of a file with errors", body, "erreur(s) à corriger", "rien n'a été importé",
			"ligne 3 (colonne serie) : série inconnue « XX »", "ligne 3 (colonne periode)", "ligne 4 (colonne email)", "ligne 4 (colonne quantite)")
		if n := importCount(t, a, `SELECT count(*) FROM families WHERE tenant_id = $1`); n != 0 {
			t.Fatalf("%d families saved by a file with errors", n)
		}
		if n := importCount(t, a, `SELECT count(*) FROM import_batches WHERE tenant_id = $1`); n != 0 {
			t.Fatalf("%d batches saved by a file with errors", n)
		}
		// the import page lists it with its errors
		res, body := agent.get("/gestion/import")
		expect(t, res, body, http.StatusOK, "")
		importContains(t, "import page", body, fmt.Sprintf(`href="/gestion/import/%d"`, id), "Erreurs à corriger", "(4 erreur(s))")

		cleanUpload = importUploadOK(t, agent, importCSVPart(row("F1", "Famille Martin", martin, "15", ""), row("F2", "Famille Dupont", dupont, "4", "")))
		body = importWaitUpload(t, agent, a, cleanUpload, billing.UploadChecked)
		importContains(t, "preview", body, "Aperçu", "2 nouvelle(s), 0 remplacée(s)", "47,50\u00a0€", "octobre 2026",
			`name="publication" value="maintenant"`, `action="/gestion/import/`+itoa(cleanUpload)+`/importer"`)
		if n := importCount(t, a, `SELECT count(*) FROM invoices WHERE tenant_id = $1`); n != 0 {
			t.Fatalf("the check saved %d invoices", n)
		}
		// a choice is required
		res, body = agent.post(fmt.Sprintf("/gestion/import/%d/importer", cleanUpload), url.Values{})
		expect(t, res, body, http.StatusUnprocessableEntity, "")
		importContains(t, "confirmation without a choice", body, "Choisissez quand publier")
		importOnceAudited(t, a, "import.confirm", func() { importConfirm(t, agent, cleanUpload, url.Values{"publication": {"maintenant"}}) })
		body = importWaitUpload(t, agent, a, cleanUpload, billing.UploadImported)
		importContains(t, "outcome", body, "2 facture(s) publiée(s)", "Voir le lot")
		up := importLoadUpload(t, a, cleanUpload)
		if up.BatchID == nil {
			t.Fatal("imported upload without batch")
		}
		batch = *up.BatchID
		if b := importLoadBatch(t, a, batch); b.Status != billing.BatchPublished || b.Invoices != 2 {
			t.Fatalf("batch %+v, want published with 2 invoices", b)
		}
		if n := importCount(t, a, `SELECT count(*) FROM invoices WHERE tenant_id = $1 AND batch_id = $2 AND status = 'published'`, batch); n != 2 {
			t.Fatalf("%d published invoices, want 2", n)
		}
		importWaitMail(t, e, martin, "disponible")
		importWaitMail(t, e, dupont, "disponible")
		// confirming again changes nothing
		before := importAudited(t, a, "import.confirm")
		importConfirm(t, agent, cleanUpload, url.Values{"publication": {"maintenant"}})
		if importAudited(t, a, "import.confirm") != before {
			t.Fatal("a second confirmation was recorded")
		}
		// the same file again: nothing to do, no form
		again := importUploadOK(t, agent, importCSVPart(row("F1", "Famille Martin", martin, "15", ""), row("F2", "Famille Dupont", dupont, "4", "")))
		body = importWaitUpload(t, agent, a, again, billing.UploadChecked)
		importContains(t, "identical file", body, "Rien à faire")
		if strings.Contains(body, "/importer") {
			t.Fatal("a file with nothing to do offers the confirmation")
		}
	})

	t.Run("BatchPage", func(t *testing.T) {
		res, body := reader.get(fmt.Sprintf("/gestion/lots/%d", batch))
		expect(t, res, body, http.StatusOK, "")
		importContains(t, "batch page", body, "Lot n° "+itoa(batch), "Publié", "2026-RS-00-8001516", "Famille Martin", "Publiées, non payées")
		if strings.Contains(body, "Annuler le lot") || strings.Contains(body, "/publier") {
			t.Fatal("the batch page offers actions to a read-only member")
		}
		res, body = agent.get(fmt.Sprintf("/gestion/lots/%d", batch))
		expect(t, res, body, http.StatusOK, "")
		importContains(t, "batch page (agent)", body, "Annuler le lot", `name="motif"`)
		if strings.Contains(body, "/publier") {
			t.Fatal("a published batch offers to publish it again")
		}
	})

	// agents and administrators may do every step: upload, confirm, publish
	// and cancel, each recorded once
	for _, tc := range []struct {
		name string
		b    *browser
		fam  string
	}{{"Agent", agent, "F4"}, {"Admin", admin, "F5"}} {
		t.Run("ImportThenPublishThenCancel"+tc.name, func(t *testing.T) {
			b := tc.b
			var id int64
			importOnceAudited(t, a, "import.upload", func() {
				id = importUploadOK(t, b, importCSVPart(row(tc.fam, "Famille Blanc", uniqueAddr(t, "blanc"), "3", "")))
			})
			importWaitUpload(t, b, a, id, billing.UploadChecked)
			importOnceAudited(t, a, "import.confirm", func() { importConfirm(t, b, id, url.Values{"publication": {"non"}}) })
			body := importWaitUpload(t, b, a, id, billing.UploadImported)
			importContains(t, "outcome", body, "ne sont pas encore publiées")
			batch := *importLoadUpload(t, a, id).BatchID
			path := fmt.Sprintf("/gestion/lots/%d", batch)
			res, body := b.get(path)
			importContains(t, "unpublished batch", body, "Importé, non publié", "(numérotée à la publication)", "Publier maintenant")
			importOnceAudited(t, a, "batch.publish", func() {
				res, body = b.post(path+"/publier", url.Values{})
				expect(t, res, body, http.StatusSeeOther, path)
			})
			if got := importLoadBatch(t, a, batch); got.Status != billing.BatchPublished {
				t.Fatalf("batch %s after publication", got.Status)
			}
			res, body = b.get(path)
			importContains(t, "published batch", body, "Lot publié : 1 facture(s)")
			// twice: refused without a second audit row
			before := importAudited(t, a, "batch.publish")
			res, body = b.post(path+"/publier", url.Values{})
			expect(t, res, body, http.StatusSeeOther, path)
			if importAudited(t, a, "batch.publish") != before {
				t.Fatal("a second publication was recorded")
			}
			importOnceAudited(t, a, "batch.cancel", func() {
				res, body = b.post(path+"/annuler", url.Values{"motif": {"Doublon"}})
				expect(t, res, body, http.StatusSeeOther, path)
			})
			if got := importLoadBatch(t, a, batch); got.Status != billing.BatchCancelled {
				t.Fatalf("batch %s after cancellation", got.Status)
			}
		})
	}

	t.Run("ZIPReplacesPDF", func(t *testing.T) {
		addr := uniqueAddr(t, "zip")
		pdf := "%PDF-1.4\n% the town hall's own PDF\n%%EOF\n"
		id := importUploadOK(t, agent, importCSVPart(row("Z1", "Famille Zip", addr, "2", "ZIP-2026-0001")),
			importZIPPart(t, map[string]string{"factures/ZIP-2026-0001.pdf": pdf}))
		importWaitUpload(t, agent, a, id, billing.UploadChecked)
		importConfirm(t, agent, id, url.Values{"publication": {"maintenant"}})
		body := importWaitUpload(t, agent, a, id, billing.UploadImported)
		importContains(t, "outcome with a ZIP", body, "1 PDF du ZIP remplacent")
		fam := activate(t, e, a, addr, "mot-de-passe-zip")
		login(t, fam, addr, "mot-de-passe-zip", false)
		res, got := fam.get(fmt.Sprintf("/factures/%d/pdf", invoiceID(t, a, "ZIP-2026-0001")))
		expect(t, res, got, http.StatusOK, "")
		if got != pdf {
			t.Fatalf("family got %q, want the uploaded PDF", got)
		}
		if st := importLoadUpload(t, a, id); st.ZIPKey == "" {
			t.Fatal("upload lost its ZIP key")
		} else if _, _, err := e.docs.Get(context.Background(), st.ZIPKey); err == nil {
			t.Fatal("the ZIP of an imported upload is still stored")
		}
	})

	t.Run("BadZIPRefused", func(t *testing.T) {
		id := importUploadOK(t, agent, importCSVPart(row("Z2", "Famille Zop", uniqueAddr(t, "zop"), "2", "ZIP-2026-0002")),
			importZIPPart(t, map[string]string{
				"ZIP-2026-0002.pdf": "pas un PDF",
				"INCONNUE-1.pdf":    "%PDF-1.4\n",
				"lisez-moi.txt":     "bonjour",
			}))
		importWaitUpload(t, agent, a, id, billing.UploadChecked)
		importConfirm(t, agent, id, url.Values{"publication": {"non"}})
		body := importWaitUpload(t, agent, a, id, billing.UploadImported)
		importContains(t, "refused ZIP", body, "Le ZIP des PDF a été refusé en entier", "les factures, elles, sont bien importées",
			"« ZIP-2026-0002.pdf » : ce n&#39;est pas un PDF", "« INCONNUE-1.pdf » : aucune facture de ce lot n&#39;a la référence INCONNUE-1",
			"« lisez-moi.txt » : le nom doit être la référence")
		if n := importCount(t, a, `SELECT count(*) FROM invoices WHERE tenant_id = $1 AND reference = 'ZIP-2026-0002' AND pdf_key = ''`); n != 1 {
			t.Fatalf("invoice of a refused ZIP: %d without PDF, want 1 (imported, rendered PDF)", n)
		}
		// not a ZIP at all: refused at once
		res, body := importPost(t, agent, true, importCSVPart(row("Z3", "Famille Zup", uniqueAddr(t, "zup"), "2", "")),
			importPart{"pdfs", "pdfs.zip", []byte("PK pas vraiment")})
		expect(t, res, body, http.StatusUnprocessableEntity, "")
		importContains(t, "unreadable ZIP", body, "pas un ZIP lisible")
	})

	t.Run("Refusals", func(t *testing.T) {
		uploads := func() int { return importCount(t, a, `SELECT count(*) FROM import_uploads WHERE tenant_id = $1`) }
		n := uploads()
		csv := importCSVPart(row("F9", "Famille Neuf", uniqueAddr(t, "neuf"), "1", ""))
		res, body := importPost(t, agent, false, csv)
		expect(t, res, body, http.StatusForbidden, "")
		res, body = importPost(t, agent, true)
		expect(t, res, body, http.StatusUnprocessableEntity, "")
		importContains(t, "upload without file", body, "Choisissez le fichier CSV", `aria-invalid="true"`)
		old := e.srv.uploads.csv.Load()
		e.srv.uploads.csv.Store(100)
		res, body = importPost(t, agent, true, csv)
		e.srv.uploads.csv.Store(old)
		expect(t, res, body, http.StatusRequestEntityTooLarge, "")
		importContains(t, "oversized CSV", body, "le fichier CSV doit faire 1 Ko au plus")
		old = e.srv.uploads.zip.Load()
		e.srv.uploads.zip.Store(10)
		res, body = importPost(t, agent, true, csv, importZIPPart(t, map[string]string{"A.pdf": "%PDF-"}))
		e.srv.uploads.zip.Store(old)
		expect(t, res, body, http.StatusRequestEntityTooLarge, "")
		importContains(t, "oversized ZIP", body, "Ce ZIP fait")
		if got := uploads(); got != n {
			t.Fatalf("refused uploads stored %d rows", got-n)
		}
	})

	t.Run("Scheduled", func(t *testing.T) {
		addr := uniqueAddr(t, "later")
		id := importUploadOK(t, agent, importCSVPart(row("S1", "Famille Tard", addr, "5", "")))
		importWaitUpload(t, agent, a, id, billing.UploadChecked)
		// in the past: refused next to the field
		res, body := agent.post(fmt.Sprintf("/gestion/import/%d/importer", id), url.Values{"publication": {"date"}, "publier_le": {"01/01/2020 08:00"}})
		expect(t, res, body, http.StatusUnprocessableEntity, "")
		importContains(t, "date in the past", body, "doit être dans le futur", `id="publier-le-error"`)
		at := time.Now().Add(time.Hour).In(tenant.Paris).Truncate(time.Minute)
		importOnceAudited(t, a, "import.confirm", func() {
			importConfirm(t, agent, id, url.Values{"publication": {"date"}, "publier_le": {at.Format("2006-01-02T15:04")}})
		})
		body = importWaitUpload(t, agent, a, id, billing.UploadImported)
		importContains(t, "scheduled outcome", body, "Publication programmée le "+parisTime(at))
		b := *importLoadUpload(t, a, id).BatchID
		if got := importLoadBatch(t, a, b); got.Status != billing.BatchImported || got.PublishAt == nil || !got.PublishAt.Equal(at) {
			t.Fatalf("batch %+v, want imported, to publish at %v", got, at)
		}
		work := func(now time.Time) { billingtest.WorkPublishDue(t, dbtest.DB(t), now) }
		work(at.Add(-time.Minute))
		if got := importLoadBatch(t, a, b); got.Status != billing.BatchImported {
			t.Fatalf("batch %s a minute before its time", got.Status)
		}
		work(at)
		if got := importLoadBatch(t, a, b); got.Status != billing.BatchPublished || got.PublishedAt == nil || !got.PublishedAt.Equal(at) {
			t.Fatalf("batch %+v at its time, want published at %v", got, at)
		}
		importWaitMail(t, e, addr, "disponible")
	})

	t.Run("CancelBatch", func(t *testing.T) {
		p1, p2 := uniqueAddr(t, "paid"), uniqueAddr(t, "unpaid")
		id := importUploadOK(t, agent, importCSVPart(row("C1", "Famille Payée", p1, "2", "ANNUL-0001"), row("C2", "Famille Due", p2, "2", "ANNUL-0002")))
		importWaitUpload(t, agent, a, id, billing.UploadChecked)
		importConfirm(t, agent, id, url.Values{"publication": {"maintenant"}})
		importWaitUpload(t, agent, a, id, billing.UploadImported)
		b := *importLoadUpload(t, a, id).BatchID
		paid := invoiceID(t, a, "ANNUL-0001")
		err := tenant.WithTx(context.Background(), dbtest.DB(t), a.ID, func(tx *sqlx.Tx) error {
			_, err := payments.RecordCounterPayment(context.Background(), tx, a.ID, paid, 500, "cash", time.Now(), "")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		path := fmt.Sprintf("/gestion/lots/%d/annuler", b)
		res, body := agent.post(path, url.Values{"motif": {"  "}})
		expect(t, res, body, http.StatusUnprocessableEntity, "")
		importContains(t, "cancel without reason", body, `id="motif-error"`, "Motif d&#39;annulation obligatoire")
		importOnceAudited(t, a, "batch.cancel", func() {
			res, body = agent.post(path, url.Values{"motif": {"Tarif erroné"}})
			expect(t, res, body, http.StatusSeeOther, fmt.Sprintf("/gestion/lots/%d", b))
		})
		res, body = agent.get(fmt.Sprintf("/gestion/lots/%d", b))
		importContains(t, "cancelled batch", body, "Lot annulé : 1 facture(s) annulée(s). 1 facture(s) déjà payée(s) restent payées.", "Tarif erroné", "Annulées")
		var states []string
		tenant.WithTx(context.Background(), dbtest.DB(t), a.ID, func(tx *sqlx.Tx) error {
			return tx.Select(&states, `SELECT status FROM invoices WHERE tenant_id = $1 AND batch_id = $2 ORDER BY reference`, a.ID, b)
		})
		if strings.Join(states, ",") != "paid,cancelled" {
			t.Fatalf("invoices after cancelling the batch: %v, want paid,cancelled", states)
		}
		if got := importLoadBatch(t, a, b); got.Status != billing.BatchCancelled || got.CancelReason != "Tarif erroné" {
			t.Fatalf("batch %+v, want cancelled", got)
		}
		before := importAudited(t, a, "batch.cancel")
		res, body = agent.post(path, url.Values{"motif": {"encore"}})
		expect(t, res, body, http.StatusSeeOther, "")
		if importAudited(t, a, "batch.cancel") != before {
			t.Fatal("a second cancellation was recorded")
		}
	})

	t.Run("ReadOnly", func(t *testing.T) {
		for _, p := range []string{"/gestion/import", fmt.Sprintf("/gestion/import/%d", cleanUpload), fmt.Sprintf("/gestion/lots/%d", batch)} {
			res, body := reader.get(p)
			expect(t, res, body, http.StatusOK, "")
			if strings.Contains(body, `enctype="multipart/form-data"`) || strings.Contains(body, "Annuler le lot") {
				t.Fatalf("%s offers a form to a read-only member", p)
			}
		}
		var n int
		n = importAudited(t, a, "import.upload") + importAudited(t, a, "import.confirm") + importAudited(t, a, "batch.publish") + importAudited(t, a, "batch.cancel")
		res, body := importPost(t, reader, true, importCSVPart(row("R1", "Famille Lecture", uniqueAddr(t, "r"), "1", "")))
		expect(t, res, body, http.StatusForbidden, "")
		for _, p := range []string{fmt.Sprintf("/gestion/import/%d/importer", cleanUpload), fmt.Sprintf("/gestion/lots/%d/publier", batch),
			fmt.Sprintf("/gestion/lots/%d/annuler", batch)} {
			res, body := reader.post(p, url.Values{"publication": {"maintenant"}, "motif": {"lecture"}})
			expect(t, res, body, http.StatusForbidden, "")
		}
		if got := importAudited(t, a, "import.upload") + importAudited(t, a, "import.confirm") + importAudited(t, a, "batch.publish") + importAudited(t, a, "batch.cancel"); got != n {
			t.Fatal("a refused request wrote to the audit log")
		}
	})

	t.Run("OtherCommune", func(t *testing.T) {
		for _, tc := range []struct{ method, path string }{
			{"GET", fmt.Sprintf("/gestion/import/%d", cleanUpload)},
			{"GET", fmt.Sprintf("/gestion/lots/%d", batch)},
			{"POST", fmt.Sprintf("/gestion/import/%d/importer", cleanUpload)},
			{"POST", fmt.Sprintf("/gestion/lots/%d/publier", batch)},
			{"POST", fmt.Sprintf("/gestion/lots/%d/annuler", batch)},
			{"GET", "/gestion/import/nombre"},
			{"GET", "/gestion/lots/0"},
		} {
			var res *http.Response
			var body string
			if tc.method == "GET" {
				res, body = outsider.get(tc.path)
			} else {
				res, body = outsider.post(tc.path, url.Values{"publication": {"maintenant"}, "motif": {"intrus"}})
			}
			expect(t, res, body, http.StatusNotFound, "")
		}
		res, body := outsider.get("/gestion/import")
		expect(t, res, body, http.StatusOK, "")
		if strings.Contains(body, "factures.csv") || strings.Contains(body, "Lot n°") {
			t.Fatalf("commune B's import page shows commune A's uploads:\n%s", body)
		}
		if b := importLoadBatch(t, a, batch); b.Status != billing.BatchPublished {
			t.Fatalf("commune B changed commune A's batch: %s", b.Status)
		}
	})
}

func TestImportProgress(t *testing.T) {
	e := sharedEnv(t)
	ctx := context.Background()
	db := dbtest.DB(t)
	a := importCommune(t, "impprog")
	b := staffLogin(t, e, a, newMember(t, e, a, staff.Reader, false))
	// an upload a job would be reading: no job here, the test moves it
	var up billing.Upload
	err := tenant.WithTx(ctx, db, a.ID, func(tx *sqlx.Tx) error {
		var err error
		up, err = billing.CreateUpload(ctx, tx, a.ID, 0, "grand.csv", 1000)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	d := WorkerDeps{DB: db, Log: e.srv.log}
	progress := d.importProgress(ctx, up)
	for _, tc := range []struct {
		read, want int64
	}{{5, 0}, {10, 10}, {15, 10}, {19, 10}, {25, 25}, {1000, 1000}} {
		progress(tc.read)
		if got := importLoadUpload(t, a, up.ID).Progress; got != tc.want {
			t.Fatalf("after reading %d bytes, progress %d, want %d (about every 1 %%)", tc.read, got, tc.want)
		}
	}
	err = tenant.WithTx(ctx, db, a.ID, func(tx *sqlx.Tx) error {
		return billing.SetUploadProgress(ctx, tx, a.ID, up.ID, 420)
	})
	if err != nil {
		t.Fatal(err)
	}
	res, body := b.get(fmt.Sprintf("/gestion/import/%d", up.ID))
	expect(t, res, body, http.StatusOK, "")
	importContains(t, "page of a file being checked", body, `<meta http-equiv="refresh" content="2">`,
		`<progress id="avancement" class="import-progress" max="100" value="42">42 %</progress>`, "42 % du fichier lu", "Vérification du fichier en cours")
}
