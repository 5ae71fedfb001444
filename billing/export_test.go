package billing

// The unexported functions the tests of package billing_test call.
var (
	ParseDecimal    = parseDecimal
	LineTotal       = lineTotal
	ParseRow        = parseRow
	CanonicalHeader = canonicalHeader
	SniffEncoding   = sniffEncoding
	ParsePeriod     = parsePeriod
	ParseDate       = parseDate
	ReserveNumbers  = reserveNumbers
)
