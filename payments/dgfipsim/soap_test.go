package dgfipsim

import (
	"encoding/hex"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/regie/regie/tenant"
)

// checkResponseEnvelope checks the JAX-WS shape of a success answer and
// returns its <return> element.
func checkResponseEnvelope(t *testing.T, doc *node, op string) *node {
	t.Helper()
	env := doc.find("Envelope")
	if env == nil || env.Prefix != "S" {
		t.Fatalf("root: want S:Envelope, got %+v", env)
	}
	if ns, _ := env.attr("xmlns:S"); ns != soapNS {
		t.Errorf("xmlns:S = %q", ns)
	}
	body := env.find("Body")
	if body == nil || body.Prefix != "S" {
		t.Fatalf("want S:Body, got %+v", body)
	}
	resp := body.find(op + "Response")
	if resp == nil || resp.Prefix != "ns2" {
		t.Fatalf("want ns2:%sResponse, got %+v", op, resp)
	}
	if ns, _ := resp.attr("xmlns:ns2"); ns != Namespace {
		t.Errorf("xmlns:ns2 = %q", ns)
	}
	ret := resp.find("return")
	if ret == nil {
		t.Fatal("no <return>")
	}
	var unqualified func(n *node)
	unqualified = func(n *node) {
		if n.Prefix != "" {
			t.Errorf("<%s:%s> is qualified", n.Prefix, n.Local)
		}
		if v, ok := n.attr("xmlns"); ok {
			t.Errorf("<%s> declares a default namespace %q", n.Local, v)
		}
		for _, c := range n.Children {
			unqualified(c)
		}
	}
	unqualified(ret)
	return ret
}

func childNames(n *node) []string {
	var out []string
	for _, c := range n.Children {
		out = append(out, c.Local)
	}
	return out
}

var uuidV1 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-1[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestCreerPaiementSecurise(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		e := newEnv(t)
		status, doc := e.call(t, opCreer, e.creerFields()...)
		if status != http.StatusOK {
			t.Fatalf("status %d", status)
		}
		ret := checkResponseEnvelope(t, doc, opCreer)
		if got := strings.Join(childNames(ret), ","); got != "idOp" {
			t.Fatalf("return children = %s, want idOp", got)
		}
		id := ret.Children[0].Text
		if len(id) != 36 || !uuidV1.MatchString(id) {
			t.Fatalf("idOp %q is not a version-1 UUID", id)
		}
		// The UUID's time is the stand-in's clock.
		raw, _ := hex.DecodeString(strings.ReplaceAll(id, "-", ""))
		ts := uint64(raw[6]&0x0f)<<56 | uint64(raw[7])<<48 | uint64(raw[4])<<40 | uint64(raw[5])<<32 |
			uint64(raw[0])<<24 | uint64(raw[1])<<16 | uint64(raw[2])<<8 | uint64(raw[3])
		if got := time.Unix(0, int64(ts-gregorianOffset)*100); !got.Equal(startTime) {
			t.Errorf("UUID time = %v, want %v", got, startTime)
		}
		p, ok := e.sim.Payment(id)
		if !ok {
			t.Fatal("payment not stored")
		}
		want := Payment{ID: id, Protocol: PayFiP, NumCli: numcliDemo, Exer: "2026", RefDet: "2015RS008001516",
			Amount: 3750, Mel: "famille.martin@example.fr", Objet: "Restauration scolaire juin", Saisie: "T",
			URLNotif: e.rcv.srv.URL + "/notification", URLRedirect: "https://demo.example.fr/paiement/retour?x=1",
			Created: startTime}
		if p != want {
			t.Errorf("payment = %+v\nwant %+v", p, want)
		}
	})

	t.Run("UniqueWithFrozenClock", func(t *testing.T) {
		e := newEnv(t)
		seen := map[string]bool{}
		for range 100 {
			id := e.create(t)
			if seen[id] {
				t.Fatalf("idOp %s given twice", id)
			}
			seen[id] = true
		}
	})

	t.Run("Limits", func(t *testing.T) {
		e := newEnv(t)
		for _, over := range [][]string{
			{"montant", "100"},
			{"montant", "10000000"},
			{"refdet", "ABCDEF"},
			{"refdet", strings.Repeat("A1", 15)},
			{"objet", "\x00"},
			{"objet", ""},
			{"objet", strings.Repeat("a", 100)},
			{"mel", "a@b.fr"},
			{"saisie", "W"},
			{"saisie", "X"},
			{"urlnotif", "http://paiement.localhost:8080/notification"},
		} {
			if status, _ := e.call(t, opCreer, e.creerFields(over...)...); status != http.StatusOK {
				t.Errorf("%q: status %d, want 200", over, status)
			}
		}
	})

	t.Run("AnyPrefixes", func(t *testing.T) {
		e := newEnv(t)
		body := `<e:Envelope xmlns:e="` + soapNS + `"><e:Body><creerPaiementSecurise xmlns="` + Namespace + `"><arg0 xmlns="">` +
			`<exer>2026</exer><mel>a.b@example.fr</mel><montant>1000</montant><numcli>001964</numcli>` +
			`<refdet>ABCDEFGH</refdet><saisie>T</saisie><urlnotif>http://n.example/</urlnotif><urlredirect>http://r.example/</urlredirect>` +
			`</arg0></creerPaiementSecurise></e:Body></e:Envelope>`
		status, b := e.post(t, body)
		if status != http.StatusOK {
			t.Fatalf("status %d: %s", status, b)
		}
	})
}

func TestCreerPaiementSecurise_Faults(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name string
		over []string
		code string
	}{
		{"RefdetTooShort", []string{"refdet", "ABCD"}, "R3"},
		{"RefdetPunctuation", []string{"refdet", "2015-RS-00-8001516"}, "R3"},
		{"RefdetTooLong", []string{"refdet", strings.Repeat("A", 31)}, "R3"},
		{"RefdetMissing", []string{"refdet", "\x00"}, "R3"},
		{"MelWithoutAt", []string{"mel", "john.doeexample.com"}, "A2"},
		{"MelTooShort", []string{"mel", "a@b.c"}, "A2"},
		{"MelTooLong", []string{"mel", strings.Repeat("a", 70) + "@example.fr"}, "A2"},
		{"MelMissing", []string{"mel", "\x00"}, "A1"},
		{"MelEmpty", []string{"mel", ""}, "A1"},
		{"NumcliUnknown", []string{"numcli", "999999"}, "T1"},
		{"NumcliFiveDigits", []string{"numcli", "12345"}, "T1"},
		{"NumcliMissing", []string{"numcli", "\x00"}, "T1"},
		{"MontantDecimal", []string{"montant", "37,50"}, "M1"},
		{"MontantMissing", []string{"montant", "\x00"}, "M1"},
		{"MontantNegative", []string{"montant", "-100"}, "M1"},
		{"MontantUnderOneEuro", []string{"montant", "99"}, "M3"},
		{"MontantOverMax", []string{"montant", "10000001"}, "M5"},
		{"MontantHuge", []string{"montant", "99999999999999999999999"}, "M5"},
		{"SaisieUnknown", []string{"saisie", "M"}, "S1"},
		{"SaisieMissing", []string{"saisie", "\x00"}, "S1"},
		{"URLNotifNotHTTP", []string{"urlnotif", "ftp://example.fr/n"}, "N1"},
		{"URLNotifRelative", []string{"urlnotif", "/notification"}, "N1"},
		{"URLRedirectMissing", []string{"urlredirect", "\x00"}, "D1"},
		{"URLRedirectNoHost", []string{"urlredirect", "https:///retour"}, "D1"},
		{"ExerTwoDigits", []string{"exer", "26"}, "E1"},
		{"ObjetAccents", []string{"objet", "Précompte famille #1234"}, "O1"},
		{"ObjetTooLong", []string{"objet", strings.Repeat("a", 101)}, "O1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, doc := e.call(t, opCreer, e.creerFields(tc.over...)...)
			checkFault(t, status, doc, tc.code)
		})
	}
	if n := len(e.sim.Payments()); n != 0 {
		t.Errorf("%d payments stored by refused requests", n)
	}
}

// checkFault checks a functional fault as the real server writes it.
func checkFault(t *testing.T, status int, doc *node, code string) {
	t.Helper()
	if status != http.StatusInternalServerError {
		t.Errorf("status %d, want 500", status)
	}
	f := doc.find("Envelope", "Body", "Fault")
	if f == nil || f.Prefix != "S" {
		t.Fatalf("want S:Fault, got %+v", f)
	}
	if got := f.text("faultcode"); got != "S:Server" {
		t.Errorf("faultcode %q", got)
	}
	if got := f.text("faultstring"); got != "fr.gouv.finances.cp.tpa.webservice.exceptions.FonctionnelleErreur" {
		t.Errorf("faultstring %q", got)
	}
	fe := f.find("detail", "FonctionnelleErreur")
	if fe == nil || fe.Prefix != "ns2" {
		t.Fatalf("want detail/ns2:FonctionnelleErreur, got %+v", fe)
	}
	if ns, _ := fe.attr("xmlns:ns2"); ns != Namespace {
		t.Errorf("xmlns:ns2 = %q", ns)
	}
	if got := strings.Join(childNames(fe), ","); got != "code,descriptif,libelle,message,severite" {
		t.Errorf("detail children = %s", got)
	}
	if got := fe.text("code"); got != code {
		t.Errorf("code %q, want %q (libelle %q)", got, code, fe.text("libelle"))
	}
	want := map[string]*fault{"R3": faultR3, "A1": faultA1, "A2": faultA2, "T1": faultT1, "M1": faultM1, "M3": faultM3,
		"M5": faultM5, "S1": faultS1, "N1": faultN1, "D1": faultD1, "E1": faultE1, "O1": faultO1, "P1": faultP1, "P5": faultP5}[code]
	if want != nil && fe.text("libelle") != want.libelle {
		t.Errorf("libelle %q, want %q", fe.text("libelle"), want.libelle)
	}
	if got := fe.text("severite"); got != "2" {
		t.Errorf("severite %q", got)
	}
}

func TestRecupererDetailPaiementSecurise(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		e := newEnv(t)
		id := e.create(t)
		if err := e.sim.Complete(id, "P"); err != nil {
			t.Fatal(err)
		}
		status, doc := e.call(t, opDetail, "idOp", id)
		if status != http.StatusOK {
			t.Fatalf("status %d", status)
		}
		ret := checkResponseEnvelope(t, doc, opDetail)
		want := "dattrans,exer,heurtrans,idOp,mel,montant,numauto,numcli,objet,refdet,resultrans,saisie"
		if got := strings.Join(childNames(ret), ","); got != want {
			t.Fatalf("fields %s\nwant   %s", got, want)
		}
		for name, v := range map[string]string{
			"dattrans": "14072026", "heurtrans": "1205", "exer": "2026", "idOp": id, "mel": "famille.martin@example.fr",
			"montant": "3750", "numcli": numcliDemo, "objet": "Restauration scolaire juin", "refdet": "2015RS008001516",
			"resultrans": "P", "saisie": "T",
		} {
			if got := ret.text(name); got != v {
				t.Errorf("%s = %q, want %q", name, got, v)
			}
		}
		if got := ret.text("numauto"); !regexp.MustCompile(`^\d{6}$`).MatchString(got) {
			t.Errorf("numauto %q, want 6 digits", got)
		}
		if got := e.sim.Stats().Lookups; got != 1 {
			t.Errorf("Stats.Lookups = %d", got)
		}
	})

	t.Run("WinterTimeInParis", func(t *testing.T) {
		e := newEnv(t)
		e.clock.Set(time.Date(2026, 12, 31, 23, 30, 0, 0, time.UTC)) // 00:30 on 1 January in Paris
		id := e.create(t)
		e.sim.Complete(id, "V")
		f, code := e.lookup(t, id)
		if code != "" || f["dattrans"] != "01012027" || f["heurtrans"] != "0030" || f["resultrans"] != "V" || f["numauto"] == "" {
			t.Errorf("lookup = %v, fault %q", f, code)
		}
	})

	t.Run("NoNumautoOnRefusalOrAbandon", func(t *testing.T) {
		e := newEnv(t)
		for _, r := range []string{"R", "Z", "A"} {
			id := e.create(t)
			e.sim.Complete(id, r)
			f, code := e.lookup(t, id)
			if code != "" || f["resultrans"] != r {
				t.Fatalf("%s: lookup = %v, fault %q", r, f, code)
			}
			if _, ok := f["numauto"]; ok {
				t.Errorf("%s: numauto present: %q", r, f["numauto"])
			}
		}
	})

	t.Run("P5BeforeResult", func(t *testing.T) {
		e := newEnv(t)
		id := e.create(t)
		status, doc := e.call(t, opDetail, "idOp", id)
		checkFault(t, status, doc, "P5")
		if got := doc.text("Envelope", "Body", "Fault", "detail", "FonctionnelleErreur", "libelle"); got != "Résultat de la transaction non connu." {
			t.Errorf("libelle %q", got)
		}
		// The lowercase name is tolerated.
		status, doc = e.call(t, opDetail, "idop", id)
		checkFault(t, status, doc, "P5")
	})

	t.Run("P1Unknown", func(t *testing.T) {
		e := newEnv(t)
		for _, id := range []string{"cc0cb210-1cd4-11ea-8cca-0213ad91a103", ""} {
			status, doc := e.call(t, opDetail, "idOp", id)
			checkFault(t, status, doc, "P1")
			if got := doc.text("Envelope", "Body", "Fault", "detail", "FonctionnelleErreur", "libelle"); got != "IdOp incorrect." {
				t.Errorf("libelle %q", got)
			}
		}
	})

	t.Run("P1AfterOvernightPurge", func(t *testing.T) {
		e := newEnv(t)
		e.clock.Set(time.Date(2026, 11, 25, 22, 0, 0, 0, tenant.Paris))
		never := e.create(t)
		opened := e.create(t)
		e.openPage(t, opened)
		paid := e.create(t)
		e.sim.Complete(paid, "P")

		e.clock.Set(time.Date(2026, 11, 26, 2, 59, 59, 0, tenant.Paris))
		if _, code := e.lookup(t, never); code != "P5" {
			t.Errorf("before 03:00: %q, want P5", code)
		}
		e.clock.Set(time.Date(2026, 11, 26, 3, 0, 0, 0, tenant.Paris))
		if _, code := e.lookup(t, never); code != "P1" {
			t.Errorf("at 03:00, never redirected: %q, want P1", code)
		}
		if _, code := e.lookup(t, opened); code != "P5" {
			t.Errorf("at 03:00, redirected: %q, want P5", code)
		}
		e.clock.Add(30 * 24 * time.Hour)
		if f, code := e.lookup(t, paid); code != "" || f["resultrans"] != "P" {
			t.Errorf("a month later, paid: %v %q", f, code)
		}
		if err := e.sim.Complete(never, "P"); err != ErrNotFound {
			t.Errorf("Complete on a purged id: %v, want ErrNotFound", err)
		}
	})

	t.Run("PurgeBeforeThreeInTheMorning", func(t *testing.T) {
		e := newEnv(t)
		e.clock.Set(time.Date(2026, 11, 26, 1, 0, 0, 0, tenant.Paris))
		id := e.create(t)
		e.clock.Set(time.Date(2026, 11, 26, 3, 0, 0, 0, tenant.Paris))
		if _, code := e.lookup(t, id); code != "P1" {
			t.Errorf("created at 01:00, looked up at 03:00: %q, want P1", code)
		}
	})

	t.Run("TIPIPaymentIsNotAnOperation", func(t *testing.T) {
		e := newEnv(t)
		e.get(t, e.srv.URL+"/tpa/paiement.web?"+tipiQuery(e, "").Encode())
		ps := e.sim.Payments()
		if len(ps) != 1 {
			t.Fatalf("%d payments", len(ps))
		}
		if _, code := e.lookup(t, ps[0].ID); code != "P1" {
			t.Errorf("lookup of a TIPI id: %q, want P1", code)
		}
	})
}

func TestRecupererDetailClient(t *testing.T) {
	e := newEnv(t)
	t.Run("OK", func(t *testing.T) {
		status, doc := e.call(t, opClient, "numCli", numcliDemo)
		if status != http.StatusOK {
			t.Fatalf("status %d", status)
		}
		ret := checkResponseEnvelope(t, doc, opClient)
		if got := strings.Join(childNames(ret), ","); got != "libelleN1,libelleN2,libelleN3,numcli" {
			t.Errorf("fields %s", got)
		}
		if ret.text("libelleN2") != labelDemo || ret.text("numcli") != numcliDemo {
			t.Errorf("libelleN2 %q numcli %q", ret.text("libelleN2"), ret.text("numcli"))
		}
	})
	for _, tc := range []struct{ name, field, value string }{
		{"Unknown", "numCli", "999999"},
		{"LowercaseFieldName", "numcli", numcliDemo},
		{"Missing", "autre", numcliDemo},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, doc := e.call(t, opClient, tc.field, tc.value)
			checkFault(t, status, doc, "T1")
		})
	}
}

func TestSOAP_ProtocolErrors(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ name, body string }{
		{"Malformed", `<soapenv:Envelope xmlns:soapenv="` + soapNS + `"><soapenv:Body><a></b></soapenv:Body></soapenv:Envelope>`},
		{"Truncated", soapEnvelope(opDetail, "idOp", "x")[:120]},
		{"NotAnEnvelope", `<creerPaiementSecurise/>`},
		{"NoOperation", `<S:Envelope xmlns:S="` + soapNS + `"><S:Body></S:Body></S:Envelope>`},
		{"UnknownOperation", soapEnvelope("supprimerPaiement", "idOp", "x")},
		{"DTD", `<!DOCTYPE x [<!ENTITY a "b">]>` + soapEnvelope(opDetail, "idOp", "x")},
		{"Empty", ``},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := e.post(t, tc.body)
			if status != http.StatusInternalServerError {
				t.Errorf("status %d", status)
			}
			doc := parseTree(t, body)
			f := doc.find("Envelope", "Body", "Fault")
			if f.text("faultstring") != "fr.gouv.finances.cp.tpa.webservice.exceptions.TechProtocolaireErreur" ||
				f.text("detail", "TechProtocolaireErreur", "code") != "999" {
				t.Errorf("fault: %s", body)
			}
		})
	}
	t.Run("WrongContentType", func(t *testing.T) {
		resp, err := http.Post(e.srv.URL+"/tpa/services/securite", "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("status %d, want 415", resp.StatusCode)
		}
	})
	t.Run("GET", func(t *testing.T) {
		resp, err := http.Get(e.srv.URL + "/tpa/services/securite")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("status %d, want 405", resp.StatusCode)
		}
	})
	if got := e.sim.Stats().Calls[""]; got != 7 {
		t.Errorf("Stats.Calls[\"\"] = %d, want 7", got)
	}
}

func TestSOAP_Latency(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Latency = 150 * time.Millisecond })
	start := time.Now()
	e.call(t, opClient, "numCli", numcliDemo)
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("answered in %v, want at least 150ms", d)
	}

	e.sim.SetLatency(2 * time.Second)
	impatient := &http.Client{Timeout: 100 * time.Millisecond}
	resp, err := impatient.Post(e.srv.URL+"/tpa/services/securite", "text/xml", strings.NewReader(soapEnvelope(opClient, "numCli", numcliDemo)))
	if err == nil {
		resp.Body.Close()
		t.Fatal("a 100 ms client got an answer despite 2 s of latency")
	}

	e.sim.SetLatency(0)
	start = time.Now()
	e.call(t, opClient, "numCli", numcliDemo)
	if d := time.Since(start); d > time.Second {
		t.Errorf("answered in %v after SetLatency(0)", d)
	}
}

func TestStats_Calls(t *testing.T) {
	e := newEnv(t)
	id := e.create(t)
	e.lookup(t, id)
	e.lookup(t, id)
	e.call(t, opClient, "numCli", numcliDemo)
	s := e.sim.Stats()
	if s.Calls[opCreer] != 1 || s.Calls[opDetail] != 2 || s.Calls[opClient] != 1 || s.Faults != 2 || s.Lookups != 0 || s.PaymentsCreated != 1 {
		t.Errorf("stats = %+v", s)
	}
}
