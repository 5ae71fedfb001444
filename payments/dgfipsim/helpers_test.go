package dgfipsim

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	numcliDemo  = "001964"
	labelDemo   = "Mairie de Démonstration"
	numcliAuzon = "002741"
	soapNS      = "http://schemas.xmlsoap.org/soap/envelope/"
)

// testClock is the injected clock; tests move it.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// received is one request that reached a receiver.
type received struct {
	Method string
	Host   string
	Path   string
	Query  url.Values
	Form   url.Values // body only
	Header http.Header
	At     time.Time
}

// receiver stands for our platform's callback host.
type receiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []received
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, received{
			Method: r.Method, Host: r.Host, Path: r.URL.Path, Query: r.URL.Query(),
			Form: r.PostForm, Header: r.Header.Clone(), At: time.Now(),
		})
		rc.mu.Unlock()
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) all() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.reqs...)
}

// wait polls until n requests arrived, or fails after a deadline.
func (rc *receiver) wait(t *testing.T, n int) []received {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := rc.all()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("receiver got %d requests, want %d", len(got), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// env is a stand-in on a real HTTP server, with a clock and a receiver.
type env struct {
	sim     *Server
	srv     *httptest.Server
	clock   *testClock
	rcv     *receiver
	browser *http.Client // does not follow redirects
}

// startTime is 12:05 in Paris (summer time) on 14 July 2026.
var startTime = time.Date(2026, 7, 14, 10, 5, 0, 0, time.UTC)

func newEnv(t *testing.T, configure ...func(*Options)) *env {
	t.Helper()
	e := &env{clock: &testClock{t: startTime}, rcv: newReceiver(t)}
	o := Options{
		Clients: map[string]string{numcliDemo: labelDemo, numcliAuzon: "Mairie de Villes-sur-Auzon"},
		Now:     e.clock.Now,
	}
	for _, f := range configure {
		f(&o)
	}
	e.sim = New(o)
	e.srv = httptest.NewServer(e.sim)
	t.Cleanup(func() {
		e.srv.Close()
		e.sim.Close()
	})
	e.browser = &http.Client{
		Timeout:       5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return e
}

// soapEnvelope writes a request as a client would, with its own prefixes.
func soapEnvelope(op string, fields ...string) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="` + soapNS + `" xmlns:pai="` + Namespace + `"><soapenv:Header/><soapenv:Body><pai:` + op + `><arg0>`)
	for i := 0; i+1 < len(fields); i += 2 {
		var v bytes.Buffer
		xml.EscapeText(&v, []byte(fields[i+1]))
		fmt.Fprintf(&b, "<%s>%s</%s>", fields[i], v.String(), fields[i])
	}
	b.WriteString(`</arg0></pai:` + op + `></soapenv:Body></soapenv:Envelope>`)
	return b.String()
}

func (e *env) post(t *testing.T, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/tpa/services/securite", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("SOAPAction", `""`)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// call sends one operation and returns its parsed answer.
func (e *env) call(t *testing.T, op string, fields ...string) (int, *node) {
	t.Helper()
	status, body := e.post(t, soapEnvelope(op, fields...))
	return status, parseTree(t, body)
}

// creerFields are valid creerPaiementSecurise fields; pairs given replace
// or, with value "\x00", remove a field.
func (e *env) creerFields(over ...string) []string {
	base := [][2]string{
		{"exer", "2026"},
		{"mel", "famille.martin@example.fr"},
		{"montant", "3750"},
		{"numcli", numcliDemo},
		{"objet", "Restauration scolaire juin"},
		{"refdet", "2015RS008001516"},
		{"saisie", "T"},
		{"urlnotif", e.rcv.srv.URL + "/notification"},
		{"urlredirect", "https://demo.example.fr/paiement/retour?x=1"},
	}
	for i := 0; i+1 < len(over); i += 2 {
		for j := range base {
			if base[j][0] == over[i] {
				base[j][1] = over[i+1]
			}
		}
	}
	var out []string
	for _, f := range base {
		if f[1] != "\x00" {
			out = append(out, f[0], f[1])
		}
	}
	return out
}

// create makes a payment and returns its idOp.
func (e *env) create(t *testing.T, over ...string) string {
	t.Helper()
	status, doc := e.call(t, opCreer, e.creerFields(over...)...)
	if status != http.StatusOK {
		t.Fatalf("creerPaiementSecurise: status %d, fault %q", status, doc.text("Envelope", "Body", "Fault", "detail", "FonctionnelleErreur", "libelle"))
	}
	return doc.text("Envelope", "Body", opCreer+"Response", "return", "idOp")
}

// lookup returns the result fields of recupererDetailPaiementSecurise, or
// the fault code.
func (e *env) lookup(t *testing.T, id string) (fields map[string]string, faultCode string) {
	t.Helper()
	status, doc := e.call(t, opDetail, "idOp", id)
	if status != http.StatusOK {
		return nil, doc.text("Envelope", "Body", "Fault", "detail", "FonctionnelleErreur", "code")
	}
	ret := doc.find("Envelope", "Body", opDetail+"Response", "return")
	fields = map[string]string{}
	for _, c := range ret.Children {
		fields[c.Local] = c.Text
	}
	return fields, ""
}

// node is an XML element with its prefix as written.
type node struct {
	Prefix, Local string
	Attr          []xml.Attr
	Children      []*node
	Text          string
}

func parseTree(t *testing.T, body []byte) *node {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(body))
	root := &node{}
	stack := []*node{root}
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("answer is not XML: %v\n%s", err, body)
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			n := &node{Prefix: tk.Name.Space, Local: tk.Name.Local, Attr: tk.Attr}
			top := stack[len(stack)-1]
			top.Children = append(top.Children, n)
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			stack[len(stack)-1].Text += string(tk)
		}
	}
	return root
}

// find follows local names from the document; nil when absent.
func (n *node) find(path ...string) *node {
	for _, name := range path {
		if n == nil {
			return nil
		}
		var next *node
		for _, c := range n.Children {
			if c.Local == name {
				next = c
				break
			}
		}
		n = next
	}
	return n
}

func (n *node) text(path ...string) string {
	if m := n.find(path...); m != nil {
		return m.Text
	}
	return ""
}

func (n *node) attr(name string) (string, bool) {
	for _, a := range n.Attr {
		qn := a.Name.Local
		if a.Name.Space != "" {
			qn = a.Name.Space + ":" + qn
		}
		if qn == name {
			return a.Value, true
		}
	}
	return "", false
}

// htmlPage is a page the browser got.
type htmlPage struct {
	URL    *url.URL
	Status int
	Header http.Header
	Body   string
}

func (e *env) get(t *testing.T, rawURL string) htmlPage {
	t.Helper()
	resp, err := e.browser.Get(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return readPage(t, resp)
}

func (e *env) openPage(t *testing.T, id string) htmlPage {
	t.Helper()
	return e.get(t, e.srv.URL+"/tpa/paiementws.web?idop="+url.QueryEscape(id))
}

func readPage(t *testing.T, resp *http.Response) htmlPage {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return htmlPage{URL: resp.Request.URL, Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
}

var (
	formAction  = regexp.MustCompile(`<form method="post" action="([^"]*)"`)
	hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// submit posts the page's form as a browser would: its hidden fields plus
// what the payer filled in and the button pressed.
func (e *env) submit(t *testing.T, p htmlPage, filled url.Values) htmlPage {
	t.Helper()
	m := formAction.FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatalf("no form on the page (status %d):\n%s", p.Status, p.Body)
	}
	action, err := p.URL.Parse(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	v := url.Values{}
	for _, h := range hiddenInput.FindAllStringSubmatch(p.Body, -1) {
		v.Set(h[1], html.UnescapeString(h[2]))
	}
	for k, vs := range filled {
		v[k] = vs
	}
	resp, err := e.browser.PostForm(action.String(), v)
	if err != nil {
		t.Fatal(err)
	}
	return readPage(t, resp)
}

// nextYear is a valid card expiry year at startTime.
var nextYear = fmt.Sprint(startTime.Year() + 1)

func card(number string) url.Values {
	return url.Values{"numero": {number}, "mois": {"12"}, "annee": {nextYear}, "cryptogramme": {"123"}, "action": {"valider"}}
}

var (
	chooseCard = url.Values{"moyen": {"carte"}, "action": {"continuer"}}
	chooseSEPA = url.Values{"moyen": {"sepa"}, "action": {"continuer"}}
	cancel     = url.Values{"action": {"annuler"}}
)

// payByCard walks the PayFiP pages with a card and returns the last answer.
func (e *env) payByCard(t *testing.T, id, number string) htmlPage {
	t.Helper()
	p := e.openPage(t, id)
	if p.Status != http.StatusOK {
		t.Fatalf("payment page: status %d", p.Status)
	}
	p = e.submit(t, p, chooseCard)
	if p.Status != http.StatusOK || !strings.Contains(p.Body, "Numéro de carte") {
		t.Fatalf("after Continuer: status %d, no card form:\n%s", p.Status, p.Body)
	}
	return e.submit(t, p, card(number))
}
