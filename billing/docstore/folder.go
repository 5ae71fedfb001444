package docstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Folder keeps documents as files under a root folder: the demo and
// single-machine installs. Writes go to a temporary file renamed into
// place, so a reader never sees half a document.
type Folder struct {
	root string
}

// NewFolder returns a store rooted at dir, creating it if needed.
func NewFolder(dir string) (*Folder, error) {
	if dir == "" || !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("docstore: folder must be an absolute path, got %q", dir)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("docstore: %w", err)
	}
	return &Folder{root: dir}, nil
}

func (f *Folder) path(key string) (string, error) {
	clean := filepath.Clean("/" + key)
	if clean != "/"+key || strings.Contains(key, "\\") {
		return "", fmt.Errorf("docstore: bad key %q", key)
	}
	return filepath.Join(f.root, filepath.FromSlash(key)), nil
}

// Put implements Store.
func (f *Folder) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	p, err := f.path(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		return fmt.Errorf("docstore: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".put-*")
	if err != nil {
		return fmt.Errorf("docstore: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, r); err != nil {
		tmp.Close()
		return fmt.Errorf("docstore: write %s: %w", key, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("docstore: write %s: %w", key, err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return fmt.Errorf("docstore: %w", err)
	}
	return nil
}

// Get implements Store.
func (f *Folder) Get(ctx context.Context, key string) (io.ReadCloser, Info, error) {
	p, err := f.path(key)
	if err != nil {
		return nil, Info{}, err
	}
	file, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, Info{}, ErrNotFound
	}
	if err != nil {
		return nil, Info{}, fmt.Errorf("docstore: %w", err)
	}
	st, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, Info{}, fmt.Errorf("docstore: %w", err)
	}
	return file, Info{Size: st.Size(), ContentType: contentTypeOf(key)}, nil
}

// Delete implements Store.
func (f *Folder) Delete(ctx context.Context, key string) error {
	p, err := f.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("docstore: %w", err)
	}
	return nil
}

// contentTypeOf guesses what the folder store does not record.
func contentTypeOf(key string) string {
	switch {
	case strings.HasSuffix(key, ".pdf"):
		return "application/pdf"
	case strings.HasSuffix(key, ".png"):
		return "image/png"
	case strings.HasSuffix(key, ".jpg"):
		return "image/jpeg"
	}
	return "application/octet-stream"
}
