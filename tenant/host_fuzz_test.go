package tenant_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/regie/regie/tenant"
)

// FuzzParseHost classifies arbitrary Host headers against a base host, as
// every request does before anything else. Its seeds are in
// testdata/fuzz/FuzzParseHost: communes, reserved names, custom domains,
// ports, trailing dots, IPv4 and IPv6 addresses, non-ASCII look-alikes.
//
// Properties: NormalizeHost gives "" or a lower-case ASCII host name that
// it leaves unchanged and that was in the input; ParseHost depends only on
// that normalised name, and each kind is exactly what it documents: a
// commune is one valid slug under the base, round-tripping through
// PortalURL; a custom domain is a name ValidateDomain would accept.
func FuzzParseHost(f *testing.F) {
	f.Fuzz(func(t *testing.T, host, base string) {
		n := tenant.NormalizeHost(host)
		checkNormalized(t, host, n)
		base = tenant.NormalizeHost(base)
		if base == "" {
			return // REGIE_BASE_URL is checked at start-up
		}
		h := tenant.ParseHost(host, base)
		if again := tenant.ParseHost(n, base); again != h {
			t.Fatalf("ParseHost(%q) = %+v but ParseHost(%q) = %+v", host, h, n, again)
		}
		if h.Kind != tenant.HostCommune && h.Slug != "" || h.Kind != tenant.HostCustom && h.Domain != "" {
			t.Fatalf("ParseHost(%q) = %+v: a slug or domain on another kind", host, h)
		}
		switch h.Kind {
		case tenant.HostUnknown:
		case tenant.HostBase:
			if n != base && n != "www."+base {
				t.Fatalf("%q (%q) is the base %q?", host, n, base)
			}
		case tenant.HostAdmin, tenant.HostPayment:
			want := map[tenant.HostKind]string{tenant.HostAdmin: "admin.", tenant.HostPayment: "paiement."}[h.Kind] + base
			if n != want {
				t.Fatalf("%q (%q) read as %+v, want only %q", host, n, h, want)
			}
		case tenant.HostCommune:
			if err := tenant.ValidateSlug(h.Slug); err != nil || n != h.Slug+"."+base {
				t.Fatalf("%q (%q) read as commune %q under %q (%v)", host, n, h.Slug, base, err)
			}
			// the commune's own URL leads back to it
			u, _ := url.Parse(tenant.PortalURL(&url.URL{Scheme: "https", Host: base + ":8443"}, tenant.Tenant{Slug: h.Slug}, "/"))
			if back := tenant.ParseHost(u.Host, base); back != h {
				t.Fatalf("PortalURL of %q is %s, read as %+v", h.Slug, u, back)
			}
		case tenant.HostCustom:
			last := h.Domain[strings.LastIndexByte(h.Domain, '.')+1:]
			switch {
			case h.Domain != n || !strings.Contains(n, "."):
				t.Fatalf("%q read as custom domain %q (normalised %q)", host, h.Domain, n)
			case n == base || strings.HasSuffix(n, "."+base):
				t.Fatalf("%q under the base %q read as a custom domain", host, base)
			case strings.Trim(last, "0123456789") == "":
				t.Fatalf("%q (an address?) read as a custom domain", host)
			}
			if err := tenant.ValidateDomain(h.Domain, base); err != nil {
				t.Fatalf("custom domain %q that ValidateDomain refuses: %v", h.Domain, err)
			}
		default:
			t.Fatalf("ParseHost(%q) = unknown kind %d", host, h.Kind)
		}
	})
}

// checkNormalized: "" or a lower-case ASCII host name, stable, and found in
// the input (lower-cased the ASCII way).
func checkNormalized(t *testing.T, in, n string) {
	t.Helper()
	if n == "" {
		return
	}
	if again := tenant.NormalizeHost(n); again != n {
		t.Fatalf("NormalizeHost(%q) = %q, then %q", in, n, again)
	}
	if len(n) > 253 || strings.HasPrefix(n, ".") || strings.HasSuffix(n, ".") || strings.Contains(n, "..") {
		t.Fatalf("NormalizeHost(%q) = %q: not a host name", in, n)
	}
	for _, label := range strings.Split(n, ".") {
		if len(label) > 63 || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			t.Fatalf("NormalizeHost(%q) = %q: label %q", in, n, label)
		}
	}
	for i := 0; i < len(n); i++ {
		if c := n[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			t.Fatalf("NormalizeHost(%q) = %q: byte %q", in, n, c)
		}
	}
	lower := []byte(in)
	for i, c := range lower {
		if c >= 'A' && c <= 'Z' {
			lower[i] = c + 'a' - 'A'
		}
	}
	if !strings.Contains(string(lower), n) {
		t.Fatalf("NormalizeHost(%q) = %q, which the input does not hold", in, n)
	}
}
