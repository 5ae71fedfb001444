package billing

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"path"
	"strings"
)

// MaxInvoicePDF is the largest PDF a ZIP may bring for one invoice.
const MaxInvoicePDF = 5 << 20

// maxZIPProblems bounds the problems listed for one ZIP.
const maxZIPProblems = 200

// ZIPPDF is an entry of a ZIP of PDFs that stands for an invoice.
type ZIPPDF struct {
	InvoiceID int64
	Reference string
	File      *zip.File
}

// CheckPDFZip matches every entry of a ZIP of invoice PDFs with an invoice:
// each must be named <reference>.pdf after a reference of refs (folders in
// the ZIP are ignored, and so is the __MACOSX folder macOS adds), be a real
// PDF (it starts with %PDF-) and weigh at most MaxInvoicePDF once
// decompressed. It reads every entry. The ZIP is taken whole or not at
// all: when anything is wrong it returns no PDF and the problems, in
// French, one per entry (at most 200, then a count of the others).
func CheckPDFZip(zr *zip.Reader, refs map[string]int64) ([]ZIPPDF, []string) {
	var out []ZIPPDF
	var problems []string
	more := 0
	bad := func(format string, args ...any) {
		if len(problems) < maxZIPProblems {
			problems = append(problems, fmt.Sprintf(format, args...))
		} else {
			more++
		}
	}
	seen := map[string]string{}
	for _, f := range zr.File {
		if f.FileInfo().IsDir() || strings.HasPrefix(f.Name, "__MACOSX/") {
			continue
		}
		name := path.Base(f.Name)
		ref, ok := strings.CutSuffix(name, ".pdf")
		if !ok {
			ref, ok = strings.CutSuffix(name, ".PDF")
		}
		if !ok || ref == "" {
			bad("« %s » : le nom doit être la référence d'une facture suivie de .pdf", f.Name)
			continue
		}
		id, known := refs[ref]
		if !known {
			bad("« %s » : aucune facture de ce lot n'a la référence %s", f.Name, ref)
			continue
		}
		if first, dup := seen[ref]; dup {
			bad("« %s » : la facture %s a déjà son PDF dans le ZIP (« %s »)", f.Name, ref, first)
			continue
		}
		seen[ref] = f.Name
		if msg := checkPDFEntry(f); msg != "" {
			bad("« %s » : %s", f.Name, msg)
			continue
		}
		out = append(out, ZIPPDF{InvoiceID: id, Reference: ref, File: f})
	}
	if len(out) == 0 && len(problems) == 0 {
		bad("le ZIP ne contient aucun PDF")
	}
	if more > 0 {
		problems = append(problems, fmt.Sprintf("… et %d autre(s) problème(s)", more))
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return out, nil
}

// checkPDFEntry reads an entry whole (the size a ZIP declares may lie) and
// says what is wrong with it, or "".
func checkPDFEntry(f *zip.File) string {
	if f.UncompressedSize64 > MaxInvoicePDF {
		return fmt.Sprintf("fichier trop gros (%s ; %d Mo au plus)", megabytes(int64(f.UncompressedSize64)), MaxInvoicePDF>>20)
	}
	rc, err := f.Open()
	if err != nil {
		return "illisible (ZIP endommagé ?)"
	}
	defer rc.Close()
	head := make([]byte, 5)
	n, _ := io.ReadFull(rc, head)
	if !bytes.Equal(head[:n], []byte("%PDF-")) {
		return "ce n'est pas un PDF"
	}
	rest, err := io.Copy(io.Discard, io.LimitReader(rc, MaxInvoicePDF))
	switch {
	case err != nil:
		return "illisible (ZIP endommagé ?)"
	case int64(n)+rest > MaxInvoicePDF:
		return fmt.Sprintf("fichier trop gros (plus de %d Mo)", MaxInvoicePDF>>20)
	}
	return ""
}

// ReadZIPPDF returns the bytes of a PDF CheckPDFZip accepted.
func ReadZIPPDF(p ZIPPDF) ([]byte, error) {
	rc, err := p.File.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, MaxInvoicePDF+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxInvoicePDF {
		return nil, fmt.Errorf("billing: PDF %s grew past the limit", p.Reference)
	}
	return b, nil
}

// megabytes writes a size the way people read it: "5,2 Mo".
func megabytes(n int64) string {
	tenths := (n*10 + (1<<20)/2) >> 20
	return fmt.Sprintf("%d,%d Mo", tenths/10, tenths%10)
}
