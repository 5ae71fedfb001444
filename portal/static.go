package portal

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

//go:embed static
var staticFS embed.FS

// staticFiles serves the embedded static files under content-hashed URLs
// (/static/<hash>/<name>), cached for a year: a new release changes the
// hash, so browsers never keep an old file.
type staticFiles struct {
	files map[string]staticFile // by name
}

type staticFile struct {
	hash string
	body []byte
	mime string
}

func loadStatic() (*staticFiles, error) {
	st := &staticFiles{files: map[string]staticFile{}}
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		name := strings.TrimPrefix(p, "static/")
		ct := mime.TypeByExtension(path.Ext(name))
		if ct == "" {
			ct = "application/octet-stream"
		}
		st.files[name] = staticFile{hash: hex.EncodeToString(sum[:])[:12], body: b, mime: ct}
		return nil
	})
	return st, err
}

// URL returns the hashed URL of a static file; templates call it as
// {{static "app.css"}}. An unknown name is a programming error caught when
// the templates are executed in tests.
func (st *staticFiles) URL(name string) (string, error) {
	f, ok := st.files[name]
	if !ok {
		return "", fmt.Errorf("static file %q does not exist", name)
	}
	return "/static/" + f.hash + "/" + name, nil
}

func (st *staticFiles) serve(c *gin.Context) {
	hash, name, _ := strings.Cut(strings.TrimPrefix(c.Param("path"), "/"), "/")
	f, ok := st.files[name]
	if !ok {
		c.Status(http.StatusNotFound)
		return
	}
	if hash == f.hash {
		c.Header("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		// an old or made-up hash: serve the current file, but do not let
		// anyone cache it under that name
		c.Header("Cache-Control", "no-cache")
	}
	c.Header("ETag", `"`+f.hash+`"`)
	http.ServeContent(c.Writer, c.Request, name, time.Time{}, bytes.NewReader(f.body))
}
