package dgfipsim

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/regie/regie/tenant"
)

// Namespace is the namespace of PayFiP's operation elements.
const Namespace = "http://securite.service.tpa.cp.finances.gouv.fr/services/mas_securite/contrat_paiement_securise/PaiementSecuriseService"

// The operations, by element name.
const (
	opCreer   = "creerPaiementSecurise"
	opDetail  = "recupererDetailPaiementSecurise"
	opClient  = "recupererDetailClient"
	opUnknown = ""
)

// Labels of recupererDetailClient other than the client's own (libelleN2).
const (
	clientLabelN1 = "DIRECTION GENERALE DES FINANCES PUBLIQUES"
	clientLabelN3 = "REGIE DE RECETTES"
)

const maxSOAPBody = 64 << 10

// soapBuffers are reused from one SOAP request to the next, so that a
// lookup allocates little beyond what encoding/xml needs.
type soapBuffers struct {
	in  bytes.Buffer
	out []byte
}

var soapPool = sync.Pool{New: func() any { return new(soapBuffers) }}

func (s *Server) serveSOAP(w http.ResponseWriter, r *http.Request) {
	if !isTextXML(r.Header.Get("Content-Type")) {
		// A SOAP 1.1 endpoint of JAX-WS refuses other media types before
		// reading anything.
		http.Error(w, "Content-Type text/xml attendu (SOAP 1.1).", http.StatusUnsupportedMediaType)
		return
	}
	bufs := soapPool.Get().(*soapBuffers)
	b := bufs.out[:0]
	defer func() {
		bufs.in.Reset()
		bufs.out = b[:0]
		if bufs.in.Cap() <= maxSOAPBody*2 && cap(b) <= maxSOAPBody {
			soapPool.Put(bufs)
		}
	}()

	var f *fault
	var req soapRequest
	if _, err := bufs.in.ReadFrom(http.MaxBytesReader(w, r.Body, maxSOAPBody)); err != nil {
		f = faultProtocol
	} else if err := req.parse(bufs.in.Bytes()); err != nil {
		f = faultProtocol
	}
	if f == nil {
		switch req.op {
		case opCreer:
			s.stats.creer.Add(1)
			b, f = s.creer(&req, b)
		case opDetail:
			s.stats.detail.Add(1)
			b, f = s.detail(&req, b)
		case opClient:
			s.stats.client.Add(1)
			b, f = s.detailClient(&req, b)
		default:
			f = faultProtocol
		}
	}
	status := http.StatusOK
	if f != nil {
		if f.kind != functional {
			s.stats.bad.Add(1)
		}
		s.stats.faults.Add(1)
		status = http.StatusInternalServerError
		b = f.append(b[:0])
	}

	if d := time.Duration(s.latency.Load()); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	h := w.Header()
	h["Content-Type"] = []string{"text/xml; charset=utf-8"}
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(status)
	w.Write(b)
}

// isTextXML reports whether a Content-Type is text/xml, parameters aside,
// without the allocations of mime.ParseMediaType.
func isTextXML(ct string) bool {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.EqualFold(strings.TrimSpace(ct), "text/xml")
}

// creer is creerPaiementSecurise.
func (s *Server) creer(req *soapRequest, b []byte) ([]byte, *fault) {
	p := Payment{Protocol: PayFiP}
	numcli, _ := req.get("numcli")
	if _, known := s.clients[numcli]; !isDigits(numcli, 6) || !known {
		return b, faultT1
	}
	p.NumCli = numcli
	if p.Exer, _ = req.get("exer"); !isDigits(p.Exer, 4) {
		return b, faultE1
	}
	if p.RefDet, _ = req.get("refdet"); !validRefDet(p.RefDet) {
		return b, faultR3
	}
	montant, _ := req.get("montant")
	amount, ok := parseAmount(montant)
	switch {
	case !ok:
		return b, faultM1
	case amount < minAmount:
		return b, faultM3
	case amount > maxAmountPayFiP:
		return b, faultM5
	}
	p.Amount = amount
	if p.Mel, _ = req.get("mel"); p.Mel == "" {
		return b, faultA1
	} else if !validMel(p.Mel) {
		return b, faultA2
	}
	if p.Objet, _ = req.get("objet"); !validObjetPayFiP(p.Objet) {
		return b, faultO1
	}
	switch p.Saisie, _ = req.get("saisie"); p.Saisie {
	case "T", "X", "W":
	default:
		return b, faultS1
	}
	if p.URLNotif, _ = req.get("urlnotif"); !validURL(p.URLNotif) {
		return b, faultN1
	}
	if p.URLRedirect, _ = req.get("urlredirect"); !validURL(p.URLRedirect) {
		return b, faultD1
	}
	p.Created = s.now()
	id := s.add(p)

	b = appendOpen(b, opCreer)
	b = appendField(b, "idOp", id)
	return appendClose(b, opCreer), nil
}

// detail is recupererDetailPaiementSecurise, the hot path of reconciliation
// and of load tests: one read lock, no allocation of its own.
func (s *Server) detail(req *soapRequest, b []byte) ([]byte, *fault) {
	id, ok := req.get("idOp")
	if !ok {
		id, _ = req.get("idop")
	}
	now := s.now()
	var p Payment
	s.mu.RLock()
	pp, ok := s.payments[id]
	if ok {
		p = *pp
	}
	s.mu.RUnlock()
	switch {
	case !ok || p.Protocol != PayFiP || p.purged(now):
		return b, faultP1
	case p.ResultTrans == "":
		return b, faultP5
	}
	s.stats.lookups.Add(1)

	at := p.Ended.In(tenant.Paris)
	b = appendOpen(b, opDetail)
	b = append(b, "<dattrans>"...)
	b = at.AppendFormat(b, "02012006")
	b = append(b, "</dattrans>"...)
	b = appendField(b, "exer", p.Exer)
	b = append(b, "<heurtrans>"...)
	b = at.AppendFormat(b, "1504")
	b = append(b, "</heurtrans>"...)
	b = appendField(b, "idOp", p.ID)
	b = appendField(b, "mel", p.Mel)
	b = append(b, "<montant>"...)
	b = strconv.AppendInt(b, p.Amount, 10)
	b = append(b, "</montant>"...)
	if p.NumAuto != "" { // JAX-WS leaves out null fields
		b = appendField(b, "numauto", p.NumAuto)
	}
	b = appendField(b, "numcli", p.NumCli)
	if p.Objet != "" {
		b = appendField(b, "objet", p.Objet)
	}
	b = appendField(b, "refdet", p.RefDet)
	b = appendField(b, "resultrans", p.ResultTrans)
	b = appendField(b, "saisie", p.Saisie)
	return appendClose(b, opDetail), nil
}

// detailClient is recupererDetailClient; the field is numCli, capital C,
// and nothing else.
func (s *Server) detailClient(req *soapRequest, b []byte) ([]byte, *fault) {
	numcli, _ := req.get("numCli")
	label, ok := s.clients[numcli]
	if !ok || !isDigits(numcli, 6) {
		return b, faultT1
	}
	b = appendOpen(b, opClient)
	b = appendField(b, "libelleN1", clientLabelN1)
	b = appendField(b, "libelleN2", label)
	b = appendField(b, "libelleN3", clientLabelN3)
	b = appendField(b, "numcli", numcli)
	return appendClose(b, opClient), nil
}

const (
	envelopeOpen  = `<?xml version='1.0' encoding='UTF-8'?><S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body>`
	envelopeClose = `</S:Body></S:Envelope>`
)

func appendOpen(b []byte, op string) []byte {
	b = append(b, envelopeOpen...)
	b = append(b, "<ns2:"...)
	b = append(b, op...)
	b = append(b, `Response xmlns:ns2="`+Namespace+`"><return>`...)
	return b
}

func appendClose(b []byte, op string) []byte {
	b = append(b, "</return></ns2:"...)
	b = append(b, op...)
	b = append(b, "Response>"...)
	return append(b, envelopeClose...)
}

// appendField appends <name>value</name>, value escaped.
func appendField(b []byte, name, value string) []byte {
	b = append(b, '<')
	b = append(b, name...)
	b = append(b, '>')
	b = appendEscaped(b, value)
	b = append(b, "</"...)
	b = append(b, name...)
	return append(b, '>')
}

func appendEscaped(b []byte, s string) []byte {
	last := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '&':
			esc = "&amp;"
		case '"':
			esc = "&quot;"
		case '\'':
			esc = "&apos;"
		default:
			continue
		}
		b = append(b, s[last:i]...)
		b = append(b, esc...)
		last = i + 1
	}
	return append(b, s[last:]...)
}
