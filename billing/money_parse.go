package billing

import "strconv"

// ParseEuros reads an amount typed by a person, in euros, the way
// spreadsheets and town halls write it ("37,50", "37.50", "1 739,88 €",
// "37"), and returns it in cents. It returns a *ValidationError (Field
// "montant") for anything else, more than two decimals included.
func ParseEuros(s string) (int64, error) {
	v, err := parseDecimal(s, 2)
	if err != nil {
		return 0, &ValidationError{"montant", "montant invalide (exemple : 37,50)"}
	}
	return v, nil
}

// FormatEurosInput writes cents as a person types them in a form: "37,50",
// "1739,88" (no thousands separator, no €), so that ParseEuros reads it
// back.
func FormatEurosInput(cents int64) string {
	neg := ""
	if cents < 0 {
		neg, cents = "-", -cents
	}
	c := cents % 100
	return neg + strconv.FormatInt(cents/100, 10) + "," + string(rune('0'+c/10)) + string(rune('0'+c%10))
}
