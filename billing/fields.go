package billing

import (
	"io"
	"slices"
	"strings"
)

// FieldsSource yields import rows given as maps of column name to value,
// as the JSON API receives them: the columns and rules of the CSV import,
// the same names (matched the same way), row i (from 0) numbered i+1 in
// errors.
type FieldsSource struct {
	rows   []map[string]string
	series map[string]bool
	next   int
}

// NewFieldsSource prepares rows; seriesCodes are the commune's series.
func NewFieldsSource(rows []map[string]string, seriesCodes []string) *FieldsSource {
	s := &FieldsSource{rows: rows, series: map[string]bool{}}
	for _, c := range seriesCodes {
		s.series[c] = true
	}
	return s
}

// Next returns the next row, with an error for each unknown column.
func (s *FieldsSource) Next() (ImportRow, []LineError, error) {
	if s.next >= len(s.rows) {
		return ImportRow{}, nil, io.EOF
	}
	s.next++
	line := s.next
	var errs []LineError
	fields := map[string]string{}
	for k, v := range s.rows[line-1] {
		c := canonicalHeader(k)
		if !slices.Contains(requiredColumns, c) && !slices.Contains(optionalColumns, c) {
			errs = append(errs, LineError{line, k, "champ inconnu (champs attendus : " + strings.Join(append(slices.Clone(requiredColumns), optionalColumns...), ", ") + ")"})
			continue
		}
		fields[c] = strings.TrimSpace(v)
	}
	row, rowErrs := parseRow(line, fields, s.series)
	slices.SortFunc(errs, func(a, b LineError) int { return strings.Compare(a.Column, b.Column) })
	return row, append(errs, rowErrs...), nil
}
