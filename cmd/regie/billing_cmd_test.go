package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/regie/regie/migrations/dbtest"
	"github.com/regie/regie/tenant/tenanttest"
)

func writeCSV(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "factures.csv")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const header = "famille;nom;email;adresse;code_postal;ville;serie;periode;libelle;quantite;prix_unitaire;echeance\n"

func TestBillingCommands(t *testing.T) {
	db := dbtest.DB(t)
	c := tenanttest.MustCreate(t, db, "cli-bill")
	env := map[string]string{"REGIE_DATABASE_URL": dbtest.URL(t)}
	count := func(q string) int {
		var n int
		if err := db.Get(&n, q, c.ID); err != nil {
			t.Fatal(err)
		}
		return n
	}

	t.Run("Series", func(t *testing.T) {
		out, _, err := runCmd(t, env, "series", "create", "--tenant", c.Slug, "--code", "RS", "--label", "Restauration scolaire",
			"--pattern", "{exer}-RS-00-{numero:7}", "--next", "8001516")
		if err != nil || !strings.Contains(out, "-RS-00-8001516") {
			t.Fatalf("series create: %v %q", err, out)
		}
		if _, _, err := runCmd(t, env, "series", "create", "--tenant", c.Slug, "--code", "XX", "--label", "X", "--pattern", "{annee}-{numero}"); err == nil || !strings.Contains(err.Error(), "marqueur inconnu") {
			t.Fatalf("bad pattern: %v", err)
		}
		if _, _, err := runCmd(t, env, "series", "create", "--tenant", "nowhere", "--code", "RS", "--label", "X", "--pattern", "{numero:8}"); err == nil {
			t.Fatal("unknown commune accepted")
		}
	})

	good := writeCSV(t, header+
		"F1;Famille Martin;famille.martin@example.fr;12 rue des Écoles;84000;Démonstration;RS;10/2015;Repas;15;2,50;30/11/2015\n"+
		"F2;Famille Durand;claire@example.fr;3 chemin;84000;Démonstration;RS;2015-10;Repas;10;2,50;30/11/2015\n")

	t.Run("ImportErrors", func(t *testing.T) {
		bad := writeCSV(t, header+
			"F1;Famille Martin;famille.martin@example.fr;12 rue;84000;Démonstration;RS;10/2015;Repas;15;2,50;30/11/2015\n"+
			"F2;Famille Durand;pas-une-adresse;3 chemin;84000;Démonstration;ZZ;13/2015;Repas;-1;2,5x;31/02/2015\n")
		_, stderr, err := runCmd(t, env, "import", "--tenant", c.Slug, bad)
		if err == nil || !strings.Contains(err.Error(), "rien n'a été importé") {
			t.Fatalf("import of a bad file: %v", err)
		}
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		re := regexp.MustCompile(`^ligne 3 \(colonne [a-z_]+\) : .+`)
		cols := map[string]bool{}
		for _, l := range lines {
			if !re.MatchString(l) {
				t.Errorf("error line %q is not `ligne N (colonne X) : message`", l)
			}
			cols[strings.SplitN(strings.SplitN(l, "colonne ", 2)[1], ")", 2)[0]] = true
		}
		for _, col := range []string{"email", "serie", "periode", "quantite", "prix_unitaire", "echeance"} {
			if !cols[col] {
				t.Errorf("no error on column %s: %q", col, stderr)
			}
		}
		if n := count(`SELECT count(*) FROM families WHERE tenant_id = $1`); n != 0 {
			t.Fatalf("%d families saved by a failed import", n)
		}
	})

	t.Run("DryRun", func(t *testing.T) {
		out, _, err := runCmd(t, env, "import", "--tenant", c.Slug, "--dry-run", good)
		if err != nil || !strings.Contains(out, "factures : 2 nouvelle(s)") || !strings.Contains(out, "rien n'a été enregistré") {
			t.Fatalf("dry run: %v %q", err, out)
		}
		if n := count(`SELECT count(*) FROM invoices WHERE tenant_id = $1`); n != 0 {
			t.Fatalf("dry run saved %d invoices", n)
		}
	})

	var batch string
	t.Run("ImportPublish", func(t *testing.T) {
		out, _, err := runCmd(t, env, "import", "--tenant", c.Slug, good)
		m := regexp.MustCompile(`lot (\d+) importé, non publié : regie publish --tenant \S+ --batch (\d+)`).FindStringSubmatch(out)
		if err != nil || m == nil || m[1] != m[2] {
			t.Fatalf("import: %v %q", err, out)
		}
		batch = m[1]
		out, _, err = runCmd(t, env, "import", "--tenant", c.Slug, good)
		if err != nil || !strings.Contains(out, "rien à faire") {
			t.Fatalf("identical re-import: %v %q", err, out)
		}
		out, _, err = runCmd(t, env, "publish", "--tenant", c.Slug, "--batch", batch)
		if err != nil || !strings.Contains(out, "2 facture(s)") {
			t.Fatalf("publish: %v %q", err, out)
		}
		if _, _, err := runCmd(t, env, "publish", "--tenant", c.Slug, "--batch", batch); err == nil || !strings.Contains(err.Error(), "déjà publié") {
			t.Fatalf("second publish: %v", err)
		}
		if n := count(`SELECT count(*) FROM invoices WHERE tenant_id = $1 AND status = 'published' AND reference LIKE '2015-RS-00-800151%'`); n != 2 {
			t.Fatalf("%d invoices published", n)
		}
		if n := count(`SELECT count(*) FROM river_job WHERE kind = 'billing.invoices_published' AND (args->>'tenant_id')::bigint = $1`); n != 1 {
			t.Fatalf("%d publication jobs", n)
		}
		out, _, err = runCmd(t, env, "import", "--tenant", c.Slug, "--publish", writeCSV(t, header+
			"F3;Famille Petit;petit@example.fr;8 avenue;84000;Démonstration;RS;10/2015;Repas;3;2,50;30/11/2015\n"))
		if err != nil || !strings.Contains(out, "importé et publié : 1 facture(s)") {
			t.Fatalf("import --publish: %v %q", err, out)
		}
	})

	t.Run("Cancel", func(t *testing.T) {
		out, _, err := runCmd(t, env, "invoice", "cancel", "--tenant", c.Slug, "--reference", "2015-RS-00-8001516", "--reason", "Erreur de tarif")
		if err != nil || !strings.Contains(out, "annulée") {
			t.Fatalf("cancel: %v %q", err, out)
		}
		if _, _, err := runCmd(t, env, "invoice", "cancel", "--tenant", c.Slug, "--reference", "2015-RS-00-8001516", "--reason", "x"); err == nil || !strings.Contains(err.Error(), "déjà annulée") {
			t.Fatalf("second cancel: %v", err)
		}
		if _, _, err := runCmd(t, env, "invoice", "cancel", "--tenant", c.Slug, "--reference", "2015-RS-00-8001517", "--reason", " "); err == nil {
			t.Fatal("cancel without a reason succeeded")
		}
		if _, _, err := runCmd(t, env, "invoice", "cancel", "--tenant", c.Slug, "--reference", "nope", "--reason", "x"); err == nil || !strings.Contains(err.Error(), "inconnue") {
			t.Fatalf("unknown reference: %v", err)
		}
	})

	t.Run("Usage", func(t *testing.T) {
		if _, _, err := runCmd(t, env, "import", "--tenant", c.Slug); err == nil || !strings.Contains(err.Error(), "one CSV file") {
			t.Fatalf("import without file: %v", err)
		}
		if _, _, err := runCmd(t, env, "import", good, "--tenant", c.Slug); err == nil {
			t.Fatal("flags after the file were accepted")
		}
		if _, _, err := runCmd(t, env, "publish", "--tenant", c.Slug); err == nil {
			t.Fatal("publish without --batch accepted")
		}
	})
}
