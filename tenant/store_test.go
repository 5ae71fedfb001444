package tenant_test

import (
	"context"
	"errors"
	"testing"

	"github.com/regie/regie/migrations/dbtest"
	"github.com/regie/regie/tenant"
	"github.com/regie/regie/tenant/tenanttest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func TestStore_Create(t *testing.T) {
	db := dbtest.DB(t)
	s := tenant.NewStore(db)
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		a := tenanttest.MustCreate(t, db, "create")
		if a.ID == 0 || a.Protocol != tenant.ProtocolPayFiP || a.Mode != tenant.ModeTest ||
			a.Status != tenant.StatusActive || a.AccentColor != tenant.DefaultAccentColor || a.CreatedAt.IsZero() {
			t.Fatalf("defaults not applied: %+v", a)
		}
	})
	t.Run("ErrConflict", func(t *testing.T) {
		a := tenanttest.MustCreate(t, db, "dup")
		_, err := s.Create(ctx, tenant.Tenant{Slug: a.Slug, Name: "Autre", Numcli: "002741"})
		if !errors.Is(err, tenant.ErrConflict) {
			t.Fatalf("err = %v, want ErrConflict", err)
		}
	})
	t.Run("Invalid", func(t *testing.T) {
		_, err := s.Create(ctx, tenant.Tenant{Slug: "paiement", Name: "X", Numcli: "001964"})
		var ve *tenant.ValidationError
		if !errors.As(err, &ve) || ve.Field != "slug" {
			t.Fatalf("err = %v, want slug ValidationError", err)
		}
	})
}

func TestStore_Lookups(t *testing.T) {
	db := dbtest.DB(t)
	s := tenant.NewStore(db)
	ctx := context.Background()
	a := tenanttest.MustCreate(t, db, "look")
	b := tenanttest.MustCreate(t, db, "look")

	t.Run("BySlug", func(t *testing.T) {
		got, err := s.BySlug(ctx, a.Slug)
		if err != nil || got.ID != a.ID {
			t.Fatalf("BySlug = %+v, %v", got, err)
		}
		if _, err := s.BySlug(ctx, "nope-nope"); !errors.Is(err, tenant.ErrNotFound) {
			t.Fatalf("unknown slug: %v, want ErrNotFound", err)
		}
	})
	t.Run("ByID", func(t *testing.T) {
		got, err := s.ByID(ctx, b.ID)
		if err != nil || got.Slug != b.Slug {
			t.Fatalf("ByID = %+v, %v", got, err)
		}
		if _, err := s.ByID(ctx, -1); !errors.Is(err, tenant.ErrNotFound) {
			t.Fatalf("unknown id: %v", err)
		}
	})
	t.Run("Domains", func(t *testing.T) {
		dom := a.Slug + ".mairie.example"
		if err := s.AddDomain(ctx, a.ID, "Portail."+dom, "regie.example.fr"); err != nil {
			t.Fatal(err)
		}
		got, err := s.ByDomain(ctx, "portail."+dom)
		if err != nil || got.ID != a.ID {
			t.Fatalf("ByDomain = %+v, %v", got, err)
		}
		if err := s.AddDomain(ctx, b.ID, "portail."+dom, "regie.example.fr"); !errors.Is(err, tenant.ErrConflict) {
			t.Fatalf("B taking A's domain: %v, want ErrConflict", err)
		}
		if err := s.AddDomain(ctx, b.ID, "x.regie.example.fr", "regie.example.fr"); err == nil {
			t.Fatal("a platform host was accepted as a custom domain")
		}
		ds, err := s.Domains(ctx, b.ID)
		if err != nil || len(ds) != 0 {
			t.Fatalf("B's domains = %v, %v; want none", ds, err)
		}
		if _, err := s.ByDomain(ctx, "nowhere.example"); !errors.Is(err, tenant.ErrNotFound) {
			t.Fatalf("unknown domain: %v", err)
		}
	})
	t.Run("List", func(t *testing.T) {
		all, err := s.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[tenant.ID]bool{}
		for _, x := range all {
			seen[x.ID] = true
		}
		if !seen[a.ID] || !seen[b.ID] {
			t.Fatalf("List misses A or B")
		}
	})
	t.Run("Search", func(t *testing.T) {
		c := tenanttest.MustCreate(t, db, "srch", func(t *tenant.Tenant) { t.Name = "Mairie de Saint-Étienne-du-Grès" })
		got, err := s.Search(ctx, "etienne du gres", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 || got[0].ID != c.ID {
			t.Fatalf("Search = %+v, want %s first", got, c.Slug)
		}
		if err := s.SetStatus(ctx, c.ID, tenant.StatusSuspended); err != nil {
			t.Fatal(err)
		}
		got, _ = s.Search(ctx, "etienne du gres", 10)
		for _, x := range got {
			if x.ID == c.ID {
				t.Fatal("a suspended commune is offered by the search")
			}
		}
		if got, _ := s.Search(ctx, " % ", 10); len(got) != 0 {
			t.Fatalf("blank search returned %d communes", len(got))
		}
	})
}

func TestStore_SetStatus(t *testing.T) {
	db := dbtest.DB(t)
	s := tenant.NewStore(db)
	ctx := context.Background()
	a := tenanttest.MustCreate(t, db, "status")

	if err := s.SetStatus(ctx, a.ID, tenant.StatusSuspended); err != nil {
		t.Fatal(err)
	}
	got, _ := s.ByID(ctx, a.ID)
	if !got.Suspended() || !got.UpdatedAt.After(a.UpdatedAt) {
		t.Fatalf("after suspend: %+v", got)
	}
	if err := s.SetStatus(ctx, -5, tenant.StatusActive); !errors.Is(err, tenant.ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
	if err := s.SetStatus(ctx, a.ID, "closed"); err == nil {
		t.Fatal("bad status accepted")
	}
}
