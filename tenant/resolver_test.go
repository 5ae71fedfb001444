package tenant_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/regie/regie/migrations/dbtest"
	"github.com/regie/regie/tenant"
	"github.com/regie/regie/tenant/tenanttest"
)

func TestResolver_Resolve(t *testing.T) {
	db := dbtest.DB(t)
	ctx := context.Background()
	a := tenanttest.MustCreate(t, db, "res")
	store := tenant.NewStore(db)
	if err := store.AddDomain(ctx, a.ID, "portail."+a.Slug+".example", "localhost"); err != nil {
		t.Fatal(err)
	}
	r := tenant.NewResolver(store, dbtest.Redis(t), slog.New(slog.DiscardHandler))

	for _, host := range []string{a.Slug + ".localhost:8080", "PORTAIL." + a.Slug + ".example."} {
		got, err := r.Resolve(ctx, tenant.ParseHost(host, "localhost"))
		if err != nil || got.ID != a.ID {
			t.Errorf("Resolve(%q) = %d, %v; want %d", host, got.ID, err, a.ID)
		}
	}
	for _, host := range []string{"nope-nope.localhost", "localhost", "admin.localhost", "unknown.example"} {
		if _, err := r.Resolve(ctx, tenant.ParseHost(host, "localhost")); !errors.Is(err, tenant.ErrNotFound) {
			t.Errorf("Resolve(%q) = %v, want ErrNotFound", host, err)
		}
	}
}

// TestResolver_Invalidation: two instances share one Redis; a change made
// and announced through one is seen by the other within a second, long
// before the cache's own TTL.
func TestResolver_Invalidation(t *testing.T) {
	db := dbtest.DB(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := tenanttest.MustCreate(t, db, "inval")
	store := tenant.NewStore(db)
	rdb := dbtest.Redis(t)
	log := slog.New(slog.DiscardHandler)
	one, two := tenant.NewResolver(store, rdb, log), tenant.NewResolver(store, rdb, log)
	for _, r := range []*tenant.Resolver{one, two} {
		ready := make(chan struct{})
		go r.Listen(ctx, ready)
		select {
		case <-ready:
		case <-time.After(5 * time.Second):
			t.Fatal("resolver did not subscribe")
		}
	}
	host := tenant.ParseHost(a.Slug+".localhost", "localhost")
	for _, r := range []*tenant.Resolver{one, two} {
		if got, err := r.Resolve(ctx, host); err != nil || got.Suspended() {
			t.Fatalf("before: %+v, %v", got, err)
		}
	}

	// Instance one suspends the commune and announces it.
	if err := store.SetStatus(ctx, a.ID, tenant.StatusSuspended); err != nil {
		t.Fatal(err)
	}
	if err := tenant.Announce(ctx, rdb, a.ID); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Second)
	for {
		got, err := two.Resolve(ctx, host)
		if err == nil && got.Suspended() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance two still sees %q a second after the announcement", got.Status)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// A new custom domain becomes reachable though it was cached as unknown.
	dom := tenant.ParseHost("new."+a.Slug+".example", "localhost")
	if _, err := two.Resolve(ctx, dom); !errors.Is(err, tenant.ErrNotFound) {
		t.Fatalf("domain before adding: %v", err)
	}
	if err := store.AddDomain(ctx, a.ID, dom.Domain, "localhost"); err != nil {
		t.Fatal(err)
	}
	tenant.Announce(ctx, rdb, a.ID)
	deadline = time.Now().Add(time.Second)
	for {
		if got, err := two.Resolve(ctx, dom); err == nil && got.ID == a.ID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("new custom domain still unknown a second after the announcement")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
