package payments_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"sync"
)

// gate stands between the service and the DGFiP stand-in and, for the
// operations a test names, plays what the stand-in cannot: a DGFiP that is
// down (a technical fault), that does not answer (the client's timeout), or
// that answers a lookup with another result or amount; and, for an invoice
// named by creation(refdet), a DGFiP slow to create its operation. Every
// other request goes through untouched; rules are per operation or
// invoice, so tests running side by side do not see each other's.
type gate struct {
	next http.Handler

	mu      sync.Mutex
	rules   map[string]rule
	lookups map[string]int
}

// rule is what the gate does with the lookups of one operation.
type rule struct {
	fault      string // "tech": TechIndisponibiliteErreur; another code: that FonctionnelleErreur (P1, P5…)
	hang       bool   // answer nothing until the client gives up, or until clear
	resultrans string // replaces the stand-in's resultrans
	montant    string // replaces the stand-in's montant

	release chan struct{} // closed by clear: hung lookups go through
}

// creation names the rule for the creations of operations for an invoice
// (only hang applies to them).
func creation(refdet string) string { return "creation:" + refdet }

func (g *gate) set(idOp string, r rule) {
	r.release = make(chan struct{})
	g.mu.Lock()
	g.rules[idOp] = r
	g.mu.Unlock()
}

// clear lets the operation's lookups through again, those waiting
// included: DGFiP is back.
func (g *gate) clear(idOp string) {
	g.mu.Lock()
	if r, ok := g.rules[idOp]; ok {
		close(r.release)
		delete(g.rules, idOp)
	}
	g.mu.Unlock()
}

// lookupsOf counts the lookups of an operation that reached the gate.
func (g *gate) lookupsOf(idOp string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.lookups[idOp]
}

var (
	createRefdetRe = regexp.MustCompile(`:creerPaiementSecurise>[\s\S]*?<refdet>([^<]+)</refdet>`)
	lookupIDOpRe   = regexp.MustCompile(`:recupererDetailPaiementSecurise>[\s\S]*?<idOp>([^<]+)</idOp>`)
	resultransRe   = regexp.MustCompile(`<resultrans>[^<]*</resultrans>`)
	montantRe      = regexp.MustCompile(`<montant>[^<]*</montant>`)
)

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if m := createRefdetRe.FindSubmatch(body); m != nil {
		g.mu.Lock()
		ru, ok := g.rules[creation(string(m[1]))]
		g.mu.Unlock()
		if ok && ru.hang {
			select {
			case <-r.Context().Done():
				return
			case <-ru.release:
			}
		}
		g.next.ServeHTTP(w, r)
		return
	}
	m := lookupIDOpRe.FindSubmatch(body)
	if m == nil {
		g.next.ServeHTTP(w, r)
		return
	}
	idOp := string(m[1])
	g.mu.Lock()
	if g.lookups == nil {
		g.lookups = map[string]int{}
	}
	g.lookups[idOp]++
	ru, ok := g.rules[idOp]
	g.mu.Unlock()
	switch {
	case !ok:
		g.next.ServeHTTP(w, r)
	case ru.hang:
		select {
		case <-r.Context().Done():
		case <-ru.release:
			g.next.ServeHTTP(w, r)
		}
	case ru.fault == "tech":
		writeFault(w, "TechIndisponibiliteErreur", "999", "Service momentanément indisponible.")
	case ru.fault != "":
		writeFault(w, "FonctionnelleErreur", ru.fault, "Erreur "+ru.fault+".")
	default:
		rec := httptest.NewRecorder()
		g.next.ServeHTTP(rec, r)
		out := rec.Body.Bytes()
		if ru.resultrans != "" {
			out = resultransRe.ReplaceAll(out, []byte("<resultrans>"+ru.resultrans+"</resultrans>"))
		}
		if ru.montant != "" {
			out = montantRe.ReplaceAll(out, []byte("<montant>"+ru.montant+"</montant>"))
		}
		w.Header().Set("Content-Type", rec.Header().Get("Content-Type"))
		w.Header().Set("Content-Length", strconv.Itoa(len(out)))
		w.WriteHeader(rec.Code)
		w.Write(out)
	}
}

// writeFault answers a SOAP fault the way DGFiP's JAX-WS server writes it.
func writeFault(w http.ResponseWriter, kind, code, libelle string) {
	const ns = "http://securite.service.tpa.cp.finances.gouv.fr/services/mas_securite/contrat_paiement_securise/PaiementSecuriseService"
	body := fmt.Sprintf(`<?xml version='1.0' encoding='UTF-8'?><S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body>`+
		`<S:Fault><faultcode>S:Server</faultcode><faultstring>fr.gouv.finances.cp.tpa.webservice.exceptions.%s</faultstring>`+
		`<detail><ns2:%s xmlns:ns2="%s"><code>%s</code><descriptif></descriptif><libelle>%s</libelle><message>%s</message>`+
		`<severite>2</severite></ns2:%s></detail></S:Fault></S:Body></S:Envelope>`, kind, kind, ns, code, libelle, libelle, kind)
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	io.WriteString(w, body)
}
