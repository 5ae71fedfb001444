// Package tenanttest creates communes for tests.
package tenanttest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/tenant"
)

// MustCreate stores a commune with a unique slug that starts with prefix and
// the name "Mairie de <prefix>", and fails the test on error. Numcli is
// 001964 unless opts change it.
func MustCreate(t testing.TB, db *sqlx.DB, prefix string, opts ...func(*tenant.Tenant)) tenant.Tenant {
	t.Helper()
	b := make([]byte, 3)
	rand.Read(b)
	tn := tenant.Tenant{
		Slug:   prefix + "-" + hex.EncodeToString(b),
		Name:   "Mairie de " + prefix,
		Numcli: "001964",
	}
	for _, o := range opts {
		o(&tn)
	}
	created, err := tenant.NewStore(db).Create(context.Background(), tn)
	if err != nil {
		t.Fatalf("create commune %q: %v", tn.Slug, err)
	}
	return created
}
