package docstore

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Walker is a store that can list every key it holds: backups copy the
// whole store. Both stores of this package implement it.
type Walker interface {
	// Walk calls fn with every key, in no particular order, until fn
	// returns an error, which Walk then returns.
	Walk(ctx context.Context, fn func(key string) error) error
}

// Walk implements Walker. The temporary files of writes in progress are
// not documents and are skipped.
func (f *Folder) Walk(ctx context.Context, fn func(key string) error) error {
	return filepath.WalkDir(f.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("docstore: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), ".put-") {
			return nil
		}
		rel, err := filepath.Rel(f.root, p)
		if err != nil {
			return fmt.Errorf("docstore: %w", err)
		}
		return fn(filepath.ToSlash(rel))
	})
}

// Walk implements Walker, a page of keys at a time.
func (s *S3) Walk(ctx context.Context, fn func(key string) error) error {
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("docstore: list %s: %w", s.bucket, err)
		}
		for _, o := range page.Contents {
			if o.Key == nil {
				continue
			}
			if err := fn(*o.Key); err != nil {
				return err
			}
		}
	}
	return nil
}
