package portal

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/regie/regie/migrations/dbtest"
	"github.com/regie/regie/tenant/tenanttest"
)

// TestBodyLimits: a body larger than the route allows is refused with a
// French page before anything stores it, and no temporary file remains.
func TestBodyLimits(t *testing.T) {
	e := sharedEnv(t)
	tn := tenanttest.MustCreate(t, dbtest.DB(t), "limits")
	b := e.browser(t, tn)
	b.get("/")
	multipartFiles := func() int {
		m, _ := filepath.Glob(filepath.Join(os.TempDir(), "multipart-*"))
		return len(m)
	}
	before := multipartFiles()

	for _, tc := range []struct {
		name      string
		multipart bool
		declared  bool // Content-Length sent
	}{{"form", false, true}, {"multipart", true, true}, {"multipart streamed", true, false}} {
		t.Run(tc.name, func(t *testing.T) {
			var body bytes.Buffer
			ctype := "application/x-www-form-urlencoded"
			if tc.multipart {
				w := multipart.NewWriter(&body)
				w.WriteField("csrf_token", e.srv.csrfToken(b.cookie(csrfCookie)))
				f, _ := w.CreateFormFile("fichier", "gros.csv")
				f.Write(bytes.Repeat([]byte("x"), 3<<20))
				w.Close()
				ctype = w.FormDataContentType()
			} else {
				body.WriteString("csrf_token=" + e.srv.csrfToken(b.cookie(csrfCookie)) + "&email=" + strings.Repeat("a", 3<<20))
			}
			var reader = bytes.NewReader(body.Bytes())
			req, _ := http.NewRequest(http.MethodPost, b.url("/connexion"), reader)
			if !tc.declared {
				req.ContentLength = -1 // chunked: the limit applies while reading
			}
			req.Header.Set("Content-Type", ctype)
			res, page := b.do(req)
			expect(t, res, page, http.StatusRequestEntityTooLarge, "")
			if !strings.Contains(page, "Envoi trop volumineux") {
				t.Fatalf("no French message:\n%s", page)
			}
		})
	}
	if after := multipartFiles(); after > before {
		t.Fatalf("%d temporary upload files left behind", after-before)
	}
}
