package payfip_test

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/regie/regie/payments/payfip"
)

const soapNS = "http://schemas.xmlsoap.org/soap/envelope/"

// The web-service sample recorded on DGFiP's test platform (PAYFIP.md §3).
const (
	sampleIDOp   = "cc0cb210-1cd4-11ea-8cca-0213ad91a103"
	sampleNumcli = "090909"
)

// call is one request as the fake DGFiP received it.
type call struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// fakeDGFiP answers every request with status and body and hands each
// request over on the returned channel (a channel, not a shared variable,
// so that the race detector sees the hand-over).
func fakeDGFiP(t *testing.T, status int, body string) (*payfip.Client, <-chan call) {
	t.Helper()
	calls := make(chan call, 16)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		select {
		case calls <- call{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: b}:
		default:
		}
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(ts.Close)
	return payfip.New(ts.URL, &http.Client{Timeout: 5 * time.Second}), calls
}

// received returns the one request the fake received.
func received(t *testing.T, calls <-chan call) call {
	t.Helper()
	select {
	case c := <-calls:
		return c
	default:
		t.Fatal("the fake DGFiP received no request")
		return call{}
	}
}

// requestEnvelope is a request as read with namespaces resolved:
// Envelope/Body/Op/Arg0/Fields, nothing else.
type requestEnvelope struct {
	Op     xml.Name
	Arg0   xml.Name
	Fields []xmlField
}

type xmlField struct {
	Name  xml.Name
	Value string
}

func (f xmlField) String() string {
	return fmt.Sprintf("{%s}%s=%q", f.Name.Space, f.Name.Local, f.Value)
}

// parseRequest reads a SOAP 1.1 request with encoding/xml tokens and
// refuses any other shape than Envelope, optional empty Header, Body, one
// operation element, one arg0, and leaf fields.
func parseRequest(body []byte) (requestEnvelope, error) {
	var r requestEnvelope
	dec := xml.NewDecoder(bytes.NewReader(body))
	var stack []xml.Name
	var text strings.Builder
	inHeader := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return r, fmt.Errorf("not well-formed: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth := len(stack)
			switch {
			case depth == 0:
				if t.Name != (xml.Name{Space: soapNS, Local: "Envelope"}) {
					return r, fmt.Errorf("root %v, want SOAP 1.1 Envelope", t.Name)
				}
			case depth == 1 && t.Name == xml.Name{Space: soapNS, Local: "Header"}:
				inHeader = true
			case depth == 1:
				if t.Name != (xml.Name{Space: soapNS, Local: "Body"}) {
					return r, fmt.Errorf("envelope child %v, want SOAP 1.1 Header or Body", t.Name)
				}
			case inHeader:
				return r, fmt.Errorf("unexpected %v in the Header", t.Name)
			case depth == 2:
				if r.Op.Local != "" {
					return r, fmt.Errorf("second element %v in the Body", t.Name)
				}
				r.Op = t.Name
			case depth == 3:
				if r.Arg0.Local != "" {
					return r, fmt.Errorf("second element %v in the operation", t.Name)
				}
				r.Arg0 = t.Name
			case depth == 4:
				text.Reset()
			default:
				return r, fmt.Errorf("field %v is not a leaf (child %v)", stack[len(stack)-1], t.Name)
			}
			stack = append(stack, t.Name)
		case xml.EndElement:
			if len(stack) == 5 {
				r.Fields = append(r.Fields, xmlField{t.Name, text.String()})
			}
			if len(stack) == 2 && inHeader {
				inHeader = false
			}
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 5 {
				text.Write(t)
			} else if len(bytes.TrimSpace(t)) > 0 {
				return r, fmt.Errorf("text %q outside the fields", t)
			}
		}
	}
	return r, nil
}

// fields builds the expected unqualified fields from name, value pairs.
func fields(nv ...string) []xmlField {
	var out []xmlField
	for i := 0; i+1 < len(nv); i += 2 {
		out = append(out, xmlField{xml.Name{Local: nv[i]}, nv[i+1]})
	}
	return out
}

// answerStyle writes a successful answer the way one SOAP stack does:
// ret is the content of the return element.
type answerStyle struct {
	name  string
	write func(op, ret string) string
}

// answerStyles are the same answers with the prefixes and namespace
// declarations of several SOAP stacks; the client reads local names only.
var answerStyles = []answerStyle{
	{"JAX-WS S: ns2:", func(op, ret string) string {
		return `<?xml version='1.0' encoding='UTF-8'?><S:Envelope xmlns:S="` + soapNS + `"><S:Body><ns2:` + op +
			`Response xmlns:ns2="` + payfip.Namespace + `"><return>` + ret + `</return></ns2:` + op + `Response></S:Body></S:Envelope>`
	}},
	{"soap: tns:", func(op, ret string) string {
		return `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<soap:Envelope xmlns:soap="` + soapNS + `" xmlns:tns="` + payfip.Namespace + `">` +
			"\n  <soap:Header/>\n  <soap:Body>\n    <tns:" + op + "Response>\n      <return>\n        " + ret +
			"\n      </return>\n    </tns:" + op + "Response>\n  </soap:Body>\n</soap:Envelope>\n"
	}},
	{"env: pai: SOAP 1.2, qualified return", func(op, ret string) string {
		// A SOAP 1.2 stack that qualifies return with the operation's
		// prefix: only the local names are the same.
		return `<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body><pai:` + op + `Response xmlns:pai="` + payfip.Namespace +
			`"><pai:return>` + ret + `</pai:return></pai:` + op + `Response></env:Body></env:Envelope>`
	}},
	{"default namespaces", func(op, ret string) string {
		return `<Envelope xmlns="` + soapNS + `"><Body><` + op + `Response xmlns="` + payfip.Namespace +
			`"><return xmlns="">` + ret + `</return></` + op + `Response></Body></Envelope>`
	}},
	{"default namespace inherited by the fields", func(op, ret string) string {
		return `<Envelope xmlns="` + soapNS + `"><Body><` + op + `Response xmlns="` + payfip.Namespace +
			`"><return>` + ret + `</return></` + op + `Response></Body></Envelope>`
	}},
}

// jaxws writes an answer as DGFiP's JAX-WS server does.
func jaxws(op, ret string) string { return answerStyles[0].write(op, ret) }

// jaxwsFault writes a fault as DGFiP's JAX-WS server does (HTTP 500).
func jaxwsFault(kind, code, libelle, message string) string {
	return `<?xml version='1.0' encoding='UTF-8'?><S:Envelope xmlns:S="` + soapNS + `"><S:Body>` +
		`<S:Fault xmlns:ns4="http://www.w3.org/2003/05/soap-envelope"><faultcode>S:Server</faultcode>` +
		`<faultstring>fr.gouv.finances.cp.tpa.webservice.exceptions.` + kind + `</faultstring>` +
		`<detail><ns2:` + kind + ` xmlns:ns2="` + payfip.Namespace + `"><code>` + code + `</code><descriptif></descriptif>` +
		`<libelle>` + libelle + `</libelle><message>` + message + `</message><severite>2</severite></ns2:` + kind + `>` +
		`</detail></S:Fault></S:Body></S:Envelope>`
}

// sampleDetailsReturn is the lookup answer of the recorded sample.
const sampleDetailsReturn = `<dattrans>12122019</dattrans><exer>2019</exer><heurtrans>1311</heurtrans>` +
	`<idOp>` + sampleIDOp + `</idOp><mel>john.doe@example.com</mel><montant>1000</montant>` +
	`<numauto>112233445566-tip</numauto><numcli>` + sampleNumcli + `</numcli><objet>coucou</objet>` +
	`<refdet>ABCDEFGH</refdet><resultrans>V</resultrans><saisie>T</saisie>`

// sampleClientReturn is the recupererDetailClient answer of the sample.
const sampleClientReturn = `<libelleN1></libelleN1><libelleN2>POUETPOUET</libelleN2><libelleN3></libelleN3><numcli>` + sampleNumcli + `</numcli>`

// newServer starts a test server closed at the end of the test.
func newServer(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts
}
