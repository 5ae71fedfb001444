package billing

import (
	"errors"
	"strconv"
	"strings"
)

// nbsp is the no-break space French typography puts before € and between
// groups of thousands.
const nbsp = "\u00a0"

// FormatEuros writes an amount in cents the French way: 37,50 € and
// 1 739,88 € (no-break spaces).
func FormatEuros(cents int64) string {
	neg := cents < 0
	if neg {
		cents = -cents
	}
	units := strconv.FormatInt(cents/100, 10)
	var b strings.Builder
	if neg {
		b.WriteString("-")
	}
	for i, r := range units {
		if i > 0 && (len(units)-i)%3 == 0 {
			b.WriteString(nbsp)
		}
		b.WriteRune(r)
	}
	c := cents % 100
	b.WriteString(",")
	b.WriteByte(byte('0' + c/10))
	b.WriteByte(byte('0' + c%10))
	b.WriteString(nbsp + "€")
	return b.String()
}

// FormatQuantity writes a quantity in thousandths the French way: 15,
// 2,5, 0,125.
func FormatQuantity(milli int64) string {
	s := strconv.FormatInt(milli/1000, 10)
	if f := milli % 1000; f != 0 {
		frac := strings.TrimRight(strconv.FormatInt(1000+f, 10)[1:], "0")
		s += "," + frac
	}
	return s
}

// errDecimal is a number that cannot be read; callers give the French
// message of their column.
var errDecimal = errors.New("not a decimal number")

// decimalNoise is what a spreadsheet puts around a number: spaces, thousands
// separators, the currency. Built once: a Replacer's first use builds its
// tables (16 % of an import's CPU when built for every amount).
var decimalNoise = strings.NewReplacer(" ", "", nbsp, "", "\u202f", "", "\t", "", "€", "", "EUR", "")

// parseDecimal reads a decimal number as written in a French or English
// spreadsheet, with at most scale decimals, and returns it times 10^scale:
// "2,50" and "2.50" → 250 (scale 2); "1 739,88 €" → 173988; "1.739,88" and
// "1,739.88" → 173988. Spaces (also no-break ones) and € are ignored; the
// last of "," and "." is the decimal separator when both appear.
func parseDecimal(s string, scale int) (int64, error) {
	s = decimalNoise.Replace(strings.TrimSpace(s))
	neg := false
	switch {
	case strings.HasPrefix(s, "-"):
		neg, s = true, s[1:]
	case strings.HasPrefix(s, "+"):
		s = s[1:]
	}
	if c, d := strings.LastIndex(s, ","), strings.LastIndex(s, "."); c >= 0 && d >= 0 {
		if c > d {
			s = strings.ReplaceAll(s, ".", "")
		} else {
			s = strings.ReplaceAll(s, ",", "")
		}
	}
	s = strings.ReplaceAll(s, ",", ".")
	intPart, frac, hasFrac := strings.Cut(s, ".")
	if intPart == "" && (!hasFrac || frac == "") || strings.Contains(frac, ".") || len(frac) > scale || len(intPart) > 12 {
		return 0, errDecimal
	}
	for _, r := range intPart + frac {
		if r < '0' || r > '9' {
			return 0, errDecimal
		}
	}
	frac += strings.Repeat("0", scale-len(frac))
	v, err := strconv.ParseInt(intPart+frac, 10, 64)
	if err != nil {
		return 0, errDecimal
	}
	if neg {
		v = -v
	}
	return v, nil
}

// lineTotal is quantity (thousandths) × unit price (cents), rounded half
// away from zero to the cent.
func lineTotal(quantityMilli, unitCents int64) int64 {
	p := quantityMilli * unitCents
	if p >= 0 {
		return (p + 500) / 1000
	}
	return -((-p + 500) / 1000)
}
