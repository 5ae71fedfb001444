// Package docstore keeps documents (invoice PDFs, logos) in object storage:
// S3 or a local folder, chosen by REGIE_STORAGE_URL. Keys are built by the
// functions here, never from user input.
package docstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"

	"github.com/regie/regie/tenant"
)

// ErrNotFound means no document under that key.
var ErrNotFound = errors.New("docstore: not found")

// Store keeps documents by key.
type Store interface {
	// Put stores the content of r under key, replacing what was there.
	Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error
	// Get opens the document under key; the caller closes it. It returns
	// ErrNotFound for a missing key.
	Get(ctx context.Context, key string) (io.ReadCloser, Info, error)
	// Delete removes the document; a missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// Info describes a stored document.
type Info struct {
	Size        int64
	ContentType string
}

// InvoiceKey is where an invoice's PDF lives.
func InvoiceKey(tid tenant.ID, invoiceID int64) string {
	return "tenants/" + strconv.FormatInt(int64(tid), 10) + "/invoices/" + strconv.FormatInt(invoiceID, 10) + ".pdf"
}

// LogoKey is where a commune's logo lives; version changes with each upload
// so that caches never serve an old one.
func LogoKey(tid tenant.ID, version string) string {
	return "tenants/" + strconv.FormatInt(int64(tid), 10) + "/logo-" + version
}

// Open returns the store of a REGIE_STORAGE_URL: file:///absolute/folder or
// s3://bucket?endpoint=…&region=…&path_style=true (credentials from the AWS
// SDK's standard chain).
func Open(ctx context.Context, raw string) (Store, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("docstore: %w", err)
	}
	switch u.Scheme {
	case "file":
		return NewFolder(u.Path)
	case "s3":
		return NewS3(ctx, u)
	}
	return nil, fmt.Errorf("docstore: unknown storage %q (file:// or s3://)", u.Scheme)
}
