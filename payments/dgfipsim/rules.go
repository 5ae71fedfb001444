package dgfipsim

import (
	"math"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Amount limits in cents.
const (
	minAmount       = 100        // 1,00 €, both protocols
	maxAmountPayFiP = 10_000_000 // 100 000,00 €
	maxAmountTIPI   = 999_999    // 9 999,99 €
)

func isDigits(s string, n int) bool {
	return len(s) == n && isAllDigits(s)
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}

// validRefDet: letters and digits only, 6 to 30 of them.
func validRefDet(s string) bool {
	if len(s) < 6 || len(s) > 30 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) {
			return false
		}
	}
	return true
}

// parseAmount reads integer cents; ok is false when s is not made of digits
// only (then the amount is a format error, whatever its value).
func parseAmount(s string) (cents int64, ok bool) {
	if s == "" || !isAllDigits(s) {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return math.MaxInt64, true // too many digits: too large, not malformed
	}
	return n, true
}

func isAllDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// validMel: 6 to 80 characters with an @ that has something on both sides.
func validMel(s string) bool {
	n := utf8.RuneCountInString(s)
	at := strings.IndexByte(s, '@')
	return n >= 6 && n <= 80 && at > 0 && at < len(s)-1 && !strings.ContainsAny(s, " \t\r\n")
}

// validObjetPayFiP: optional, ASCII letters, digits and spaces, at most 100.
func validObjetPayFiP(s string) bool {
	if len(s) > 100 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) && s[i] != ' ' {
			return false
		}
	}
	return true
}

// validObjetTIPI is laxer: recorded TIPI callbacks carry objets such as
// "test_ref20", so any printable text up to 100 characters passes.
func validObjetTIPI(s string) bool {
	if utf8.RuneCountInString(s) > 100 || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < ' ' || r == 0x7f {
			return false
		}
	}
	return true
}

// validURL: an absolute http or https URL with a host.
func validURL(s string) bool {
	if s == "" || len(s) > 2000 {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil
}

// withQuery adds an already-encoded name=value pair to a URL's query,
// keeping the existing query exactly as it was.
func withQuery(rawURL, pair string) string {
	frag := ""
	if i := strings.IndexByte(rawURL, '#'); i >= 0 {
		rawURL, frag = rawURL[:i], rawURL[i:]
	}
	switch {
	case !strings.Contains(rawURL, "?"):
		rawURL += "?" + pair
	case strings.HasSuffix(rawURL, "?") || strings.HasSuffix(rawURL, "&"):
		rawURL += pair
	default:
		rawURL += "&" + pair
	}
	return rawURL + frag
}

// digitsOnly removes the spaces (and dashes) people type in a card number;
// ok is false if anything else than digits remains.
func digitsOnly(s string) (string, bool) {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '\u00a0' || r == '\t':
		default:
			return "", false
		}
	}
	return b.String(), true
}

// luhn reports whether a card number passes the Luhn check.
func luhn(digits string) bool {
	if len(digits) < 12 || len(digits) > 19 {
		return false
	}
	sum := 0
	for i := 0; i < len(digits); i++ {
		d := int(digits[len(digits)-1-i] - '0')
		if i%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

// validIBAN checks an IBAN's shape and its ISO 7064 mod-97 check digits.
// Spaces are ignored and letters may be lower case.
func validIBAN(s string) bool {
	s = strings.ToUpper(strings.Join(strings.Fields(s), ""))
	if len(s) < 15 || len(s) > 34 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case i < 2 && (c < 'A' || c > 'Z'):
			return false
		case i >= 2 && i < 4 && (c < '0' || c > '9'):
			return false
		case !isAlnum(c):
			return false
		}
	}
	rem := 0
	for _, c := range []byte(s[4:] + s[:4]) {
		if c >= 'A' {
			v := int(c-'A') + 10 // A=10 … Z=35: two digits
			rem = (rem*100 + v) % 97
		} else {
			rem = (rem*10 + int(c-'0')) % 97
		}
	}
	return rem == 1
}
