package docstore

import (
	"strconv"

	"github.com/regie/regie/tenant"
)

// UploadCSVKey is where the CSV file of an import upload is kept until its
// jobs have read it. The name the town hall gave the file is never part of
// the key.
func UploadCSVKey(tid tenant.ID, uploadID int64) string {
	return uploadPrefix(tid, uploadID) + "factures.csv"
}

// UploadZIPKey is where the optional ZIP of PDFs of an import upload is
// kept.
func UploadZIPKey(tid tenant.ID, uploadID int64) string {
	return uploadPrefix(tid, uploadID) + "pdfs.zip"
}

func uploadPrefix(tid tenant.ID, uploadID int64) string {
	return "tenants/" + strconv.FormatInt(int64(tid), 10) + "/imports/" + strconv.FormatInt(uploadID, 10) + "/"
}
