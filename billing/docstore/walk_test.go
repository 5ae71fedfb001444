package docstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// freshStores returns both stores, empty: a new folder, and a new bucket
// on the S3 server `make test` starts.
func freshStores(t *testing.T) map[string]Store {
	t.Helper()
	f, err := NewFolder(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	raw := os.Getenv("REGIE_TEST_S3_URL")
	if raw == "" {
		t.Fatal("REGIE_TEST_S3_URL is not set: run the tests with `make test`, which starts versitygw")
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = fmt.Sprintf("regie-walk-%d", rand.Int64N(1<<40))
	st, err := NewS3(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &st.bucket}); err != nil {
		t.Fatalf("create bucket %s: %v", st.bucket, err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		st.Walk(ctx, func(key string) error { return st.Delete(ctx, key) })    //nolint:errcheck // best effort
		st.client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &st.bucket}) //nolint:errcheck // best effort
	})
	return map[string]Store{"folder": f, "s3": st}
}

func TestWalk(t *testing.T) {
	ctx := context.Background()
	for name, st := range freshStores(t) {
		t.Run(name, func(t *testing.T) {
			w, ok := st.(Walker)
			if !ok {
				t.Fatalf("%T is no Walker", st)
			}
			// more than one S3 page (1,000 keys) would be slow; a few
			// folders deep is what matters
			want := []string{InvoiceKey(7, 1), InvoiceKey(7, 2), InvoiceKey(8, 1), LogoKey(7, "v1"), UploadCSVKey(8, 3)}
			for _, k := range want {
				if err := st.Put(ctx, k, strings.NewReader(k), int64(len(k)), "application/pdf"); err != nil {
					t.Fatal(err)
				}
			}
			var got []string
			if err := w.Walk(ctx, func(key string) error { got = append(got, key); return nil }); err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("Walk gave %q, want %q", got, want)
			}
			stop := fmt.Errorf("stop")
			n := 0
			if err := w.Walk(ctx, func(string) error { n++; return stop }); err != stop || n != 1 {
				t.Fatalf("Walk after fn failed: %v after %d keys, want fn's error after 1", err, n)
			}
		})
	}
}
