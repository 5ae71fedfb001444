package docstore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
)

// stores returns both implementations: the folder, and S3 against the real
// S3 server `make test` starts (versitygw).
func stores(t *testing.T) map[string]Store {
	t.Helper()
	f, err := NewFolder(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	raw := os.Getenv("REGIE_TEST_S3_URL")
	if raw == "" {
		t.Fatal("REGIE_TEST_S3_URL is not set: run the tests with `make test`, which starts versitygw")
	}
	s3, err := Open(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]Store{"folder": f, "s3": s3}
}

func TestStore(t *testing.T) {
	ctx := context.Background()
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) {
			key := InvoiceKey(42, rand.Int64N(1<<40))
			body := bytes.Repeat([]byte("%PDF-1.3 facture "), 1000)

			t.Run("ErrNotFound", func(t *testing.T) {
				if _, _, err := st.Get(ctx, key); !errors.Is(err, ErrNotFound) {
					t.Fatalf("Get of a missing key: %v, want ErrNotFound", err)
				}
			})
			t.Run("PutGet", func(t *testing.T) {
				if err := st.Put(ctx, key, bytes.NewReader(body), int64(len(body)), "application/pdf"); err != nil {
					t.Fatal(err)
				}
				rc, info, err := st.Get(ctx, key)
				if err != nil {
					t.Fatal(err)
				}
				got, _ := io.ReadAll(rc)
				rc.Close()
				if !bytes.Equal(got, body) || info.Size != int64(len(body)) || info.ContentType != "application/pdf" {
					t.Fatalf("got %d bytes, info %+v", len(got), info)
				}
			})
			t.Run("Replace", func(t *testing.T) {
				if err := st.Put(ctx, key, strings.NewReader("v2"), 2, "application/pdf"); err != nil {
					t.Fatal(err)
				}
				rc, _, err := st.Get(ctx, key)
				if err != nil {
					t.Fatal(err)
				}
				got, _ := io.ReadAll(rc)
				rc.Close()
				if string(got) != "v2" {
					t.Fatalf("after replace: %q", got)
				}
			})
			t.Run("UnknownSize", func(t *testing.T) {
				k := LogoKey(42, "v"+strconv.Itoa(rand.IntN(1e9)))
				if err := st.Put(ctx, k, io.MultiReader(strings.NewReader("ab"), strings.NewReader("cd")), -1, "image/png"); err != nil {
					t.Fatal(err)
				}
				rc, _, err := st.Get(ctx, k)
				if err != nil {
					t.Fatal(err)
				}
				got, _ := io.ReadAll(rc)
				rc.Close()
				if string(got) != "abcd" {
					t.Fatalf("got %q", got)
				}
				st.Delete(ctx, k)
			})
			t.Run("Delete", func(t *testing.T) {
				if err := st.Delete(ctx, key); err != nil {
					t.Fatal(err)
				}
				if _, _, err := st.Get(ctx, key); !errors.Is(err, ErrNotFound) {
					t.Fatalf("after delete: %v", err)
				}
				if err := st.Delete(ctx, key); err != nil {
					t.Fatalf("deleting a missing key: %v", err)
				}
			})
		})
	}
}

func TestKeys(t *testing.T) {
	if got := InvoiceKey(7, 123); got != "tenants/7/invoices/123.pdf" {
		t.Errorf("InvoiceKey = %q", got)
	}
}

func TestFolder_RefusesEscapingKeys(t *testing.T) {
	f, _ := NewFolder(t.TempDir())
	for _, k := range []string{"../x", "a/../../x", "/abs", "a\\b", ""} {
		if err := f.Put(context.Background(), k, strings.NewReader("x"), 1, "text/plain"); err == nil {
			t.Errorf("key %q accepted", k)
		}
	}
	if _, err := NewFolder("relative/dir"); err == nil {
		t.Error("a relative folder was accepted")
	}
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(context.Background(), (&url.URL{Scheme: "file", Path: dir}).String())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.(*Folder); !ok {
		t.Fatalf("file URL gave %T", st)
	}
	if _, err := Open(context.Background(), "ftp://x"); err == nil {
		t.Error("ftp storage accepted")
	}
}

// TestS3_SignsForReal: versitygw checks signatures, so wrong credentials fail.
func TestS3_SignsForReal(t *testing.T) {
	raw := os.Getenv("REGIE_TEST_S3_URL")
	if raw == "" {
		t.Fatal("REGIE_TEST_S3_URL is not set: run the tests with `make test`")
	}
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
	st, err := Open(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put(context.Background(), "tenants/1/x.pdf", strings.NewReader("x"), 1, "application/pdf"); err == nil {
		t.Fatal("a put with a wrong secret succeeded")
	}
}
