package dgfipsim

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
)

var (
	errNotSOAP     = errors.New("dgfipsim: not a SOAP envelope")
	errNoOperation = errors.New("dgfipsim: no operation in the SOAP body")
	errTooDeep     = errors.New("dgfipsim: SOAP request nested too deep")
	errMismatch    = errors.New("dgfipsim: mismatched XML end element")
	errDirective   = errors.New("dgfipsim: DTD in a SOAP request")
)

type soapField struct{ name, value string }

// soapRequest is a parsed request: the operation's local name and the text
// of every leaf element under it, by local name, prefixes and namespaces
// ignored. It lives on the stack of the handler.
type soapRequest struct {
	op     string
	n      int
	fields [16]soapField
}

// get returns the first field with that local name; ok is false when the
// element is absent (an empty element is present with "").
func (r *soapRequest) get(name string) (value string, ok bool) {
	for i := 0; i < r.n; i++ {
		if r.fields[i].name == name {
			return r.fields[i].value, true
		}
	}
	return "", false
}

// parse reads a SOAP 1.1 envelope. It checks well-formedness itself
// (RawToken skips the end-tag check and the namespace translation, which
// cost allocations the stand-in does not need).
func (r *soapRequest) parse(body []byte) error {
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	var stack [16]xml.Name
	depth := 0
	root := false
	leaf := false
	var buf [256]byte
	text := buf[:0]
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch {
			case depth == len(stack):
				return errTooDeep
			case depth == 0:
				if root || t.Name.Local != "Envelope" {
					return errNotSOAP
				}
				root = true
			case depth == 2 && stack[1].Local == "Body" && r.op == "":
				r.op = t.Name.Local
			}
			stack[depth] = t.Name
			depth++
			leaf = true
			text = text[:0]
		case xml.EndElement:
			if depth == 0 || stack[depth-1] != t.Name {
				return errMismatch
			}
			depth--
			// A leaf under the operation (Envelope/Body/op/arg0/field, or
			// directly under op) is a field.
			if leaf && depth >= 3 && stack[1].Local == "Body" && stack[2].Local == r.op && r.n < len(r.fields) {
				r.fields[r.n] = soapField{t.Name.Local, string(text)}
				r.n++
			}
			leaf = false
		case xml.CharData:
			if depth == 0 && len(bytes.TrimSpace(t)) > 0 {
				return errNotSOAP
			}
			if leaf {
				text = append(text, t...)
			}
		case xml.Directive:
			return errDirective
		}
	}
	switch {
	case !root || depth != 0:
		return errNotSOAP
	case r.op == "":
		return errNoOperation
	}
	return nil
}
