// Package payfip is the client of DGFiP's PayFiP web service (SOAP 1.1,
// document/literal) and builds the URLs of its payment pages and of the
// legacy TIPI URL protocol. See PAYFIP.md.
package payfip

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"

	"github.com/regie/regie/tenant"
)

// Namespace is the namespace of the operation elements; their children are
// unqualified.
const Namespace = "http://securite.service.tpa.cp.finances.gouv.fr/services/mas_securite/contrat_paiement_securise/PaiementSecuriseService"

// Timeout bounds every call to the web service.
const Timeout = 15 * time.Second

// Client calls the PayFiP web service at a base URL (REGIE_PAYFIP_URL).
type Client struct {
	base string
	http *http.Client
}

// New returns a client of the service at base. hc may be nil; its timeout,
// if any, is kept, else Timeout applies. The default client keeps up to 64
// idle connections to DGFiP (Go's default transport keeps 2 a host: under
// a burst of notifications every other call would open a new TLS
// connection).
func New(base string, hc *http.Client) *Client {
	if hc == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 64
		hc = &http.Client{Timeout: Timeout, Transport: t}
	}
	return &Client{base: strings.TrimSuffix(base, "/"), http: hc}
}

// CreateRequest is a creerPaiementSecurise: everything DGFiP needs to open
// its payment page.
type CreateRequest struct {
	Exer        int    // year of the debt
	Mel         string // payer's e-mail
	Montant     int64  // cents
	Numcli      string
	Objet       string // free label, normalised by NormalizeObjet
	Refdet      string
	Saisie      string // T, X or W
	URLNotif    string
	URLRedirect string
}

// Details is the answer of recupererDetailPaiementSecurise: the only
// source of truth about a payment's outcome.
type Details struct {
	IDOp       string
	Resultrans string // P, V paid; R, Z refused; A abandoned
	Numauto    string
	Numcli     string
	Refdet     string
	Exer       string
	Mel        string
	Objet      string
	Saisie     string
	Montant    int64 // cents
	Dattrans   string
	Heurtrans  string
}

// TransactionTime is the transaction's date and time, given by DGFiP in
// Paris time; zero when absent or unreadable.
func (d Details) TransactionTime() time.Time {
	if len(d.Dattrans) != 8 || len(d.Heurtrans) != 4 {
		return time.Time{} // "0510202" + "61015" must not read as a date
	}
	t, err := time.ParseInLocation("020120061504", d.Dattrans+d.Heurtrans, tenant.Paris)
	if err != nil || t.Format("020120061504") != d.Dattrans+d.Heurtrans {
		return time.Time{} // a time Paris skipped in spring would be moved
	}
	return t
}

// ClientInfo is the answer of recupererDetailClient.
type ClientInfo struct {
	Numcli string
	Label1 string
	Label2 string
	Label3 string
}

// CreatePayment asks DGFiP for an operation id (idOp); the payer's browser
// then goes to PaymentPageURL(idOp) once, within 15 minutes.
func (c *Client) CreatePayment(ctx context.Context, r CreateRequest) (string, error) {
	fields := []field{
		{"exer", strconv.Itoa(r.Exer)},
		{"mel", r.Mel},
		{"montant", strconv.FormatInt(r.Montant, 10)},
		{"numcli", r.Numcli},
		{"objet", NormalizeObjet(r.Objet)},
		{"refdet", r.Refdet},
		{"saisie", r.Saisie},
		{"urlnotif", r.URLNotif},
		{"urlredirect", r.URLRedirect},
	}
	got, err := c.call(ctx, "creerPaiementSecurise", fields)
	if err != nil {
		return "", err
	}
	id := got["idop"]
	if len(id) < 8 {
		return "", fmt.Errorf("payfip: creerPaiementSecurise answered no idOp")
	}
	return id, nil
}

// PaymentDetails looks a payment up. A *Fault with code P5 means no result
// yet; P1 an unknown or purged id.
func (c *Client) PaymentDetails(ctx context.Context, idOp string) (Details, error) {
	got, err := c.call(ctx, "recupererDetailPaiementSecurise", []field{{"idOp", idOp}})
	if err != nil {
		return Details{}, err
	}
	if got["resultrans"] == "" {
		// a 200 without a result (a proxy, a broken answer): not an
		// answer about the payment, so nothing may be decided from it
		return Details{}, fmt.Errorf("payfip: recupererDetailPaiementSecurise answered no result")
	}
	d := Details{
		IDOp: got["idop"], Resultrans: got["resultrans"], Numauto: got["numauto"], Numcli: got["numcli"],
		Refdet: got["refdet"], Exer: got["exer"], Mel: got["mel"], Objet: got["objet"], Saisie: got["saisie"],
		Dattrans: got["dattrans"], Heurtrans: got["heurtrans"],
	}
	if m := got["montant"]; m != "" {
		if d.Montant, err = strconv.ParseInt(m, 10, 64); err != nil || m[0] == '+' || m[0] == '-' {
			return Details{}, fmt.Errorf("payfip: montant %q: not a number of cents", m)
		}
	}
	return d, nil
}

// ClientDetails asks DGFiP about a client number: whether payment can be
// offered for it at all.
func (c *Client) ClientDetails(ctx context.Context, numcli string) (ClientInfo, error) {
	got, err := c.call(ctx, "recupererDetailClient", []field{{"numCli", numcli}})
	if err != nil {
		return ClientInfo{}, err
	}
	if got["numcli"] == "" {
		return ClientInfo{}, fmt.Errorf("payfip: recupererDetailClient answered no client")
	}
	return ClientInfo{Numcli: got["numcli"], Label1: got["libellen1"], Label2: got["libellen2"], Label3: got["libellen3"]}, nil
}

// PaymentPageURL is where the payer's browser goes for an operation.
func (c *Client) PaymentPageURL(idOp string) string {
	return c.base + "/tpa/paiementws.web?idop=" + url.QueryEscape(idOp)
}

// TIPIRequest is a payment by the legacy URL protocol.
type TIPIRequest struct {
	Numcli  string
	Exer    int
	Refdet  string
	Montant int64
	Mel     string
	Objet   string
	URLCL   string // where DGFiP posts the result
	Saisie  string // T, or X for real payments
}

// TIPIURL is the address of the TIPI payment page for a request (GET).
func (c *Client) TIPIURL(r TIPIRequest) string {
	q := url.Values{}
	q.Set("numcli", r.Numcli)
	q.Set("exer", strconv.Itoa(r.Exer))
	q.Set("refdet", r.Refdet)
	q.Set("montant", strconv.FormatInt(r.Montant, 10))
	q.Set("mel", r.Mel)
	if o := NormalizeObjet(r.Objet); o != "" {
		q.Set("objet", o)
	}
	q.Set("urlcl", r.URLCL)
	q.Set("saisie", r.Saisie)
	return c.base + "/tpa/paiement.web?" + q.Encode()
}

// NormalizeObjet makes a label acceptable to DGFiP: accents stripped, ' and
// - turned into spaces, other characters dropped, spaces collapsed, 100
// characters at most ("Précompte famille #1234" → "Precompte famille 1234").
func NormalizeObjet(s string) string {
	s = ligatures.Replace(s)
	s, _, _ = transform.String(transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC), s)
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '\'' || r == '’' || unicode.IsSpace(r) || unicode.Is(unicode.Pd, r):
			// apostrophes, every space and every dash separate words
			b.WriteRune(' ')
		}
	}
	out := strings.Join(strings.Fields(b.String()), " ")
	if len(out) > 100 {
		out = strings.TrimSpace(out[:100])
	}
	return out
}

// ligatures are letters that decomposing does not turn into ASCII.
var ligatures = strings.NewReplacer("Œ", "OE", "œ", "oe", "Æ", "AE", "æ", "ae", "ß", "ss")

type field struct{ name, value string }

// envelope writes the request of an operation: the operation element in
// the service's namespace (prefix pai), unqualified arg0 and fields in the
// order given (alphabetical, as DGFiP's WSDL lists them).
func envelope(op string, fields []field) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:pai="` + Namespace + `">`)
	b.WriteString(`<soapenv:Header/><soapenv:Body><pai:` + op + `><arg0>`)
	for _, f := range fields {
		b.WriteString("<" + f.name + ">")
		xml.EscapeText(&b, []byte(f.value)) //nolint:errcheck // bytes.Buffer does not fail
		b.WriteString("</" + f.name + ">")
	}
	b.WriteString(`</arg0></pai:` + op + `></soapenv:Body></soapenv:Envelope>`)
	return b.Bytes()
}

// call posts an operation and returns the leaf fields of its answer's
// return element, by lower-cased local name, or a *Fault.
func (c *Client) call(ctx context.Context, op string, fields []field) (got map[string]string, err error) {
	start := time.Now()
	defer func() { observe(op, time.Since(start), err) }()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/tpa/services/securite", bytes.NewReader(envelope(op, fields)))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("SOAPAction", `""`)
	if _, ok := ctx.Deadline(); !ok && c.http.Timeout == 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, Timeout)
		defer cancel()
		req = req.WithContext(ctx)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("payfip: %s: %w", op, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("payfip: %s: %w", op, err)
	}
	got, fault, err := ParseAnswer(body)
	if fault != nil {
		fault.HTTPStatus = res.StatusCode
		return nil, fault
	}
	if err != nil || res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("payfip: %s: HTTP %d: %v", op, res.StatusCode, err)
	}
	return got, nil
}

// ParseAnswer reads a SOAP answer by local names, whatever the prefixes: the
// leaf fields of its return element (keys lower-cased, so idOp and idop are
// one), or the Fault it carries. A field given twice with different values
// is an error.
func ParseAnswer(body []byte) (map[string]string, *Fault, error) {
	dec := xml.NewDecoder(bytes.NewReader(body))
	fields := map[string]string{}
	var text strings.Builder
	var fault *Fault
	inReturn, inDetail := false, false
	sawBody := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("payfip: unreadable answer: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			name := t.Name.Local
			switch {
			case name == "Body":
				sawBody = true
			case name == "Fault":
				fault = &Fault{}
			case fault != nil && name == "detail":
				inDetail = true
			case fault != nil && inDetail && fault.Kind == "":
				fault.Kind = name
			case name == "return":
				inReturn = true
			}
			text.Reset()
		case xml.CharData:
			text.Write(t)
		case xml.EndElement:
			name := t.Name.Local
			v := strings.TrimSpace(text.String())
			switch {
			case fault != nil:
				fault.set(name, v)
				if name == "detail" {
					inDetail = false
				}
			case inReturn && name == "return":
				inReturn = false
			case inReturn:
				k := strings.ToLower(name)
				if old, ok := fields[k]; ok && old != v {
					// two answers in one: believe neither
					return nil, nil, fmt.Errorf("payfip: field %s given twice (%q and %q)", k, old, v)
				}
				fields[k] = v
			}
			text.Reset()
		}
	}
	if fault != nil {
		return nil, fault, nil
	}
	if !sawBody {
		return nil, nil, errors.New("payfip: not a SOAP envelope")
	}
	return fields, nil, nil
}
