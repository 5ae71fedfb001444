package tenant

import (
	"context"
	"net"
	"net/url"
	"strings"
	"unicode/utf8"
)

// HostKind says what a request's host names.
type HostKind int

// The kinds of host the platform answers on.
const (
	HostUnknown HostKind = iota // not ours: a plain 404
	HostBase                    // the platform's own host: find your commune
	HostAdmin                   // admin.<base>: the operator console
	HostPayment                 // paiement.<base>: DGFiP's server callbacks
	HostCommune                 // <slug>.<base>
	HostCustom                  // a commune's own domain, looked up in the database
)

// Host is a request's host, normalised and classified.
type Host struct {
	Kind   HostKind
	Slug   string // for HostCommune
	Domain string // for HostCustom
}

// NormalizeHost lower-cases a host, strips its port and a trailing dot. It
// returns "" for what cannot be a host name, anything not ASCII included
// (strings.ToLower would turn the Kelvin sign into a "k").
func NormalizeHost(h string) string {
	for i := 0; i < len(h); i++ {
		if h[i] >= utf8.RuneSelf {
			return ""
		}
	}
	h = strings.ToLower(strings.TrimSpace(h))
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return ""
	}
	for _, label := range strings.Split(h, ".") {
		if !validLabel(label) {
			return ""
		}
	}
	return h
}

func validLabel(l string) bool {
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// ParseHost classifies a request's Host header against the platform's base
// host (REGIE_BASE_URL's host, without port). A commune is one label under
// the base host; www.<base> is the base host; other reserved labels and
// deeper names are unknown; any other valid name with a dot, and a
// top-level label that is not all digits (an IPv4 address), may be a
// custom domain.
func ParseHost(host, base string) Host {
	h := NormalizeHost(host)
	base = NormalizeHost(base)
	switch {
	case h == "":
		return Host{Kind: HostUnknown}
	case h == base || h == "www."+base:
		return Host{Kind: HostBase}
	case strings.HasSuffix(h, "."+base):
		label := strings.TrimSuffix(h, "."+base)
		switch {
		case strings.Contains(label, "."):
			return Host{Kind: HostUnknown}
		case label == "admin":
			return Host{Kind: HostAdmin}
		case label == "paiement":
			return Host{Kind: HostPayment}
		case ValidateSlug(label) != nil:
			return Host{Kind: HostUnknown}
		}
		return Host{Kind: HostCommune, Slug: label}
	case !strings.Contains(h, "."):
		// a bare label (localhost, an internal name) is never a custom domain
		return Host{Kind: HostUnknown}
	case strings.Trim(h[strings.LastIndexByte(h, '.')+1:], "0123456789") == "":
		// an IPv4 address (a probe, a health check by address): top-level
		// domains are never all digits
		return Host{Kind: HostUnknown}
	}
	return Host{Kind: HostCustom, Domain: h}
}

// ValidateDomain checks a custom domain a commune wants to use: a full host
// name outside the platform's base host.
func ValidateDomain(domain, base string) error {
	d := NormalizeHost(domain)
	if d == "" || d != strings.ToLower(strings.TrimSuffix(strings.TrimSpace(domain), ".")) || !strings.Contains(d, ".") {
		return &ValidationError{"domain", "nom de domaine invalide (ex. portail.mairie-exemple.fr, sans http:// ni port)"}
	}
	if ParseHost(d, base).Kind != HostCustom {
		return &ValidationError{"domain", "ce nom appartient déjà à la plateforme"}
	}
	return nil
}

// DialLocalhost is a DialContext for HTTP clients that sends every
// *.localhost name to the loopback address, as browsers do (RFC 6761) but
// Go's resolver does not. The DGFiP stand-in, load drivers and tests use it
// to reach demo.localhost:8080 or paiement.localhost:8080.
func DialLocalhost(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err == nil {
		h := strings.ToLower(strings.TrimSuffix(host, "."))
		if h == "localhost" || strings.HasSuffix(h, ".localhost") {
			addr = net.JoinHostPort("127.0.0.1", port)
		}
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// PortalURL returns the public URL of a commune's portal under the
// platform's base URL (REGIE_BASE_URL), path included: every link to a
// commune's pages, in pages, mails, documents and DGFiP requests.
func PortalURL(base *url.URL, t Tenant, path string) string {
	u := *base
	u.Host = t.Slug + "." + u.Host
	u.Path = path
	u.RawQuery = ""
	return u.String()
}
