package billing

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/transform"

	"github.com/regie/regie/tenant"
)

// LineError is one error of an import, on a line and a column of the file
// (the header being line 1).
type LineError struct {
	Line    int
	Column  string
	Message string
}

func (e LineError) String() string {
	return fmt.Sprintf("ligne %d (colonne %s) : %s", e.Line, e.Column, e.Message)
}

// ImportRow is one line of an invoice import, parsed and checked on its own.
// Rows with the same Reference, or without reference the same family,
// series and period, form one invoice.
type ImportRow struct {
	Line           int
	FamilyRef      string
	Name           string
	Emails         []string
	Address        string
	PostalCode     string
	City           string
	SeriesCode     string
	Period         time.Time // first day of the invoiced month
	Label          string
	QuantityMilli  int64
	UnitPriceCents int64
	DueDate        time.Time
	Reference      string
}

// invoiceKey identifies the invoice a row belongs to.
func (r ImportRow) invoiceKey() string {
	if r.Reference != "" {
		return "r:" + r.Reference
	}
	return "f:" + r.FamilyRef + "\x1f" + r.SeriesCode + "\x1f" + r.Period.Format("2006-01") // unit separators: no NUL in COPY
}

// The columns of the import file, by their canonical names (headers are
// matched case-insensitively, with or without accents).
var (
	requiredColumns = []string{"famille", "nom", "email", "adresse", "code_postal", "ville", "serie", "periode", "libelle", "quantite", "prix_unitaire", "echeance"}
	optionalColumns = []string{"reference"}
	columnAliases   = map[string]string{
		"e_mail": "email", "mail": "email", "courriel": "email", "emails": "email",
		"cp": "code_postal", "prix": "prix_unitaire", "qte": "quantite", "quantites": "quantite",
		"serie_de_facture": "serie", "date_echeance": "echeance", "date_d_echeance": "echeance",
	}
)

// canonicalHeader folds a header as typed in a spreadsheet: "Prix unitaire"
// and "PRIX_UNITAIRE" → "prix_unitaire", "Échéance" → "echeance".
func canonicalHeader(h string) string {
	f := strings.ReplaceAll(tenant.FoldName(strings.TrimPrefix(h, "\ufeff")), " ", "_")
	if a, ok := columnAliases[f]; ok {
		return a
	}
	return f
}

// CSVSource reads invoice rows from a CSV file as town halls export it:
// separator ; or , (guessed from the header), UTF-8 with or without BOM or
// Windows-1252 (guessed by reading the file once), amounts with a decimal
// comma or point. It streams: memory does not grow with the file.
type CSVSource struct {
	r       *csv.Reader
	cols    map[string]int // canonical name → field index
	series  map[string]bool
	line    int
	Ignored []string // headers that are not import columns
	// Progress, if set, is called with the bytes read so far.
	Progress func(read int64)
	counter  *countingReader
}

// ErrBadFile is a file that cannot be read as an import at all (its errors
// are in the accompanying []LineError).
var ErrBadFile = errors.New("billing: unreadable import file")

// NewCSVSource prepares the reading of f. seriesCodes are the commune's
// series, to check each row's. It returns ErrBadFile with the line errors
// of a header it cannot use.
func NewCSVSource(f io.ReadSeeker, seriesCodes []string) (*CSVSource, []LineError, error) {
	isUTF8, bom, err := sniffEncoding(f)
	if err != nil {
		return nil, nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, nil, err
	}
	counter := &countingReader{r: f}
	var r io.Reader = counter
	if bom {
		io.CopyN(io.Discard, r, 3) //nolint:errcheck // sniffEncoding saw the 3 bytes
	}
	if !isUTF8 {
		r = transform.NewReader(r, charmap.Windows1252.NewDecoder())
	}
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(64 << 10)
	if i := bytes.IndexByte(head, '\n'); i >= 0 {
		head = head[:i]
	}
	comma := ','
	if bytes.Count(head, []byte(";")) > bytes.Count(head, []byte(",")) {
		comma = ';'
	}
	cr := csv.NewReader(br)
	cr.Comma = comma
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	s := &CSVSource{r: cr, cols: map[string]int{}, series: map[string]bool{}, counter: counter}
	for _, c := range seriesCodes {
		s.series[c] = true
	}
	header, err := cr.Read()
	if err != nil {
		return nil, []LineError{{1, "-", "fichier vide ou illisible : la première ligne doit nommer les colonnes"}}, ErrBadFile
	}
	var errs []LineError
	for i, h := range header {
		c := canonicalHeader(h)
		if _, dup := s.cols[c]; dup && c != "" {
			errs = append(errs, LineError{1, strings.TrimSpace(h), "colonne en double"})
			continue
		}
		if !slices.Contains(requiredColumns, c) && !slices.Contains(optionalColumns, c) {
			if strings.TrimSpace(h) != "" {
				s.Ignored = append(s.Ignored, strings.TrimSpace(h))
			}
			continue
		}
		s.cols[c] = i
	}
	for _, c := range requiredColumns {
		if _, ok := s.cols[c]; !ok {
			errs = append(errs, LineError{1, c, fmt.Sprintf("colonne obligatoire absente (colonnes attendues : %s ; séparateur ; ou ,)", strings.Join(requiredColumns, ", "))})
		}
	}
	if len(errs) > 0 {
		return nil, errs, ErrBadFile
	}
	return s, nil, nil
}

// sniffEncoding reads f once: UTF-8 (with or without BOM) when every byte
// sequence is valid UTF-8, else Windows-1252.
func sniffEncoding(f io.Reader) (isUTF8, bom bool, err error) {
	buf := make([]byte, 64<<10)
	var carry []byte
	first := true
	for {
		n, err := f.Read(buf)
		chunk := append(carry, buf[:n]...)
		if first && n > 0 {
			first = false
			bom = bytes.HasPrefix(chunk, []byte("\xef\xbb\xbf"))
		}
		// keep an incomplete rune at the end for the next chunk
		cut := len(chunk)
		for i := 1; i <= 3 && i <= len(chunk); i++ {
			if utf8.RuneStart(chunk[len(chunk)-i]) {
				if !utf8.FullRune(chunk[len(chunk)-i:]) {
					cut = len(chunk) - i
				}
				break
			}
		}
		if !utf8.Valid(chunk[:cut]) {
			return false, false, nil
		}
		carry = append(carry[:0:0], chunk[cut:]...)
		if err == io.EOF {
			return len(carry) == 0, bom, nil
		}
		if err != nil {
			return false, false, err
		}
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// Next returns the next data row, or io.EOF. A row with errors comes back
// with them (and as much of the row as could be read); blank rows are
// skipped.
func (s *CSVSource) Next() (ImportRow, []LineError, error) {
	for {
		rec, err := s.r.Read()
		if s.Progress != nil {
			s.Progress(s.counter.n)
		}
		if err == io.EOF {
			return ImportRow{}, nil, io.EOF
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return ImportRow{Line: pe.StartLine}, []LineError{{pe.StartLine, "-", "ligne CSV mal formée (guillemets non fermés ?)"}}, nil
		}
		if err != nil {
			return ImportRow{}, nil, err
		}
		line, _ := s.r.FieldPos(0)
		if blank(rec) {
			continue
		}
		s.line = line
		row, errs := s.parse(line, rec)
		return row, errs, nil
	}
}

func blank(rec []string) bool {
	for _, f := range rec {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

func (s *CSVSource) parse(line int, rec []string) (ImportRow, []LineError) {
	get := func(col string) string {
		i, ok := s.cols[col]
		if !ok || i >= len(rec) {
			return ""
		}
		return strings.TrimSpace(rec[i])
	}
	fields := map[string]string{}
	for c := range s.cols {
		fields[c] = get(c)
	}
	return parseRow(line, fields, s.series)
}

// parseRow checks the fields of one row (by canonical column name) on their
// own; cross-row rules are checked by the import.
func parseRow(line int, f map[string]string, series map[string]bool) (ImportRow, []LineError) {
	r := ImportRow{Line: line}
	var errs []LineError
	fail := func(col, msg string) { errs = append(errs, LineError{line, col, msg}) }
	text := func(col string, max int, required bool) string {
		v := f[col]
		if !utf8.ValidString(v) || strings.ContainsAny(v, "\x00") {
			fail(col, "caractères illisibles")
			return ""
		}
		switch {
		case required && v == "":
			fail(col, "valeur obligatoire")
		case utf8.RuneCountInString(v) > max:
			fail(col, fmt.Sprintf("%d caractères au plus", max))
		}
		return v
	}
	r.FamilyRef = text("famille", 64, true)
	r.Name = text("nom", 200, true)
	r.Address = text("adresse", 300, false)
	r.PostalCode = text("code_postal", 10, false)
	r.City = text("ville", 100, false)
	r.Label = text("libelle", 200, true)
	r.Reference = text("reference", 40, false)
	if emails, err := SplitEmails(f["email"]); err != nil {
		fail("email", err.(*ValidationError).Message)
	} else {
		r.Emails = emails
	}
	r.SeriesCode = strings.ToUpper(text("serie", 10, true))
	if r.SeriesCode != "" && !series[r.SeriesCode] {
		fail("serie", fmt.Sprintf("série inconnue « %s » (séries de la commune : %s)", r.SeriesCode, knownSeries(series)))
	}
	if v := f["periode"]; v == "" {
		fail("periode", "valeur obligatoire (AAAA-MM ou MM/AAAA)")
	} else if p, ok := parsePeriod(v); !ok {
		fail("periode", fmt.Sprintf("période « %s » illisible : écrivez AAAA-MM ou MM/AAAA (ex. 2026-10 ou 10/2026)", v))
	} else {
		r.Period = p
	}
	if v := f["echeance"]; v == "" {
		fail("echeance", "valeur obligatoire (JJ/MM/AAAA)")
	} else if d, ok := parseDate(v); !ok {
		fail("echeance", fmt.Sprintf("date « %s » illisible : écrivez JJ/MM/AAAA (ex. 15/11/2026)", v))
	} else {
		r.DueDate = d
	}
	if v := f["quantite"]; v == "" {
		fail("quantite", "valeur obligatoire")
	} else if q, err := parseDecimal(v, 3); err != nil || q <= 0 || q > 1_000_000_000 {
		fail("quantite", fmt.Sprintf("quantité « %s » invalide : un nombre positif, 3 décimales au plus (ex. 15 ou 2,5)", v))
	} else {
		r.QuantityMilli = q
	}
	if v := f["prix_unitaire"]; v == "" {
		fail("prix_unitaire", "valeur obligatoire")
	} else if p, err := parseDecimal(v, 2); err != nil || p > 100_000_000 || p < -100_000_000 {
		fail("prix_unitaire", fmt.Sprintf("prix « %s » invalide : un montant en euros, 2 décimales au plus (ex. 2,50)", v))
	} else {
		r.UnitPriceCents = p
	}
	if r.Reference != "" {
		if _, err := Refdet(r.Reference); err != nil {
			fail("reference", err.(*ValidationError).Message)
		}
	}
	return r, errs
}

func knownSeries(series map[string]bool) string {
	var codes []string
	for c := range series {
		codes = append(codes, c)
	}
	if len(codes) == 0 {
		return "aucune, créez-en une d'abord"
	}
	slices.Sort(codes)
	return strings.Join(codes, ", ")
}

// parsePeriod reads YYYY-MM or MM/YYYY (one-digit months too).
func parsePeriod(v string) (time.Time, bool) {
	for _, layout := range []string{"2006-01", "2006-1", "01/2006", "1/2006"} {
		if t, err := time.ParseInLocation(layout, v, time.UTC); err == nil && t.Year() >= 2000 && t.Year() <= 2100 {
			return t, true
		}
	}
	return time.Time{}, false
}

// parseDate reads DD/MM/YYYY (one-digit day and month too) or YYYY-MM-DD.
func parseDate(v string) (time.Time, bool) {
	for _, layout := range []string{"02/01/2006", "2/1/2006", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, time.UTC); err == nil && t.Year() >= 2000 && t.Year() <= 2100 {
			return t, true
		}
	}
	return time.Time{}, false
}
