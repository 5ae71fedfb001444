package tenant_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/migrations/dbtest"
	"github.com/regie/regie/tenant"
	"github.com/regie/regie/tenant/tenanttest"
)

func TestUpdateSettings(t *testing.T) {
	db := dbtest.DB(t)
	ctx := context.Background()
	a := tenanttest.MustCreate(t, db, "settings-a")
	b := tenanttest.MustCreate(t, db, "settings-b")
	store := tenant.NewStore(db)
	update := func(tid, id tenant.ID, s tenant.Settings) (before, after tenant.Tenant, err error) {
		err = tenant.WithTx(ctx, db, tid, func(tx *sqlx.Tx) error {
			var err error
			before, after, err = tenant.UpdateSettings(ctx, tx, id, s)
			return err
		})
		return before, after, err
	}
	good := tenant.Settings{Name: "  Mairie d'Évian-les-Bains ", AccentColor: "#7A1F1F", ContactEmail: " Accueil@Evian.example.FR ",
		ContactPhone: "04 50 00 00 00", PostalAddress: "Place de la Mairie\n74500 Évian", LegalNotice: "Éditeur : la commune."}

	t.Run("OK", func(t *testing.T) {
		before, after, err := update(a.ID, a.ID, good)
		if err != nil {
			t.Fatal(err)
		}
		if before.Name != a.Name || after.Name != "Mairie d'Évian-les-Bains" || after.AccentColor != "#7a1f1f" ||
			after.ContactEmail != "accueil@evian.example.fr" || after.PostalAddress != "Place de la Mairie\n74500 Évian" ||
			after.LegalNotice != "Éditeur : la commune." || !after.UpdatedAt.After(before.UpdatedAt) {
			t.Fatalf("before %+v\nafter %+v", before, after)
		}
		if after.Slug != a.Slug || after.Status != a.Status || after.Numcli != a.Numcli {
			t.Fatalf("settings changed what administrators do not own: %+v", after)
		}
		// the base host's search finds the new name, accents ignored
		found, err := store.Search(ctx, "evian les bains", 5)
		if err != nil || len(found) != 1 || found[0].ID != a.ID {
			t.Fatalf("search after rename: %+v, %v", found, err)
		}
	})
	t.Run("Unchanged", func(t *testing.T) {
		before, after, err := update(a.ID, a.ID, good)
		if err != nil || !after.UpdatedAt.Equal(before.UpdatedAt) {
			t.Fatalf("same settings again: %v, updated_at %v → %v, want nothing written", err, before.UpdatedAt, after.UpdatedAt)
		}
	})
	t.Run("Invalid", func(t *testing.T) {
		bad := tenant.Settings{Name: " ", AccentColor: "#ffff00", ContactEmail: "pas une adresse", ContactPhone: "appelez-nous",
			PostalAddress: strings.Repeat("x", 301), PrivacyNotice: strings.Repeat("é", 20001)}
		_, _, err := update(a.ID, a.ID, bad)
		fields := map[string]string{}
		var joined interface{ Unwrap() []error }
		if !errors.As(err, &joined) {
			t.Fatalf("err = %v, want every field error joined", err)
		}
		for _, e := range joined.Unwrap() {
			var ve *tenant.ValidationError
			if errors.As(e, &ve) {
				fields[ve.Field] = ve.Message
			}
		}
		for _, f := range []string{"name", "accent_color", "contact_email", "contact_phone", "postal_address", "privacy_notice"} {
			if fields[f] == "" {
				t.Errorf("no error on %s (got %v)", f, fields)
			}
		}
		if !strings.Contains(fields["accent_color"], "4,5:1") {
			t.Errorf("accent colour message %q does not give the contrast needed", fields["accent_color"])
		}
		got, _ := store.ByID(ctx, a.ID)
		if got.Name != "Mairie d'Évian-les-Bains" {
			t.Fatalf("a refused update changed the name to %q", got.Name)
		}
	})
	t.Run("OtherCommune", func(t *testing.T) {
		// B's transaction cannot see, so cannot change, A's row
		_, _, err := update(b.ID, a.ID, tenant.Settings{Name: "Volée", AccentColor: tenant.DefaultAccentColor})
		if !errors.Is(err, tenant.ErrNotFound) {
			t.Fatalf("B updating A: %v, want ErrNotFound", err)
		}
		got, _ := store.ByID(ctx, a.ID)
		if got.Name == "Volée" {
			t.Fatal("B renamed A")
		}
	})
	t.Run("OnlyGrantedColumns", func(t *testing.T) {
		err := tenant.WithTx(ctx, db, a.ID, func(tx *sqlx.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE tenants SET status = 'suspended' WHERE id = $1`, a.ID)
			return err
		})
		if err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Fatalf("regie_app suspending its own commune: %v, want permission denied", err)
		}
	})
}

func TestUpdatePaymentSettingsAndLogo(t *testing.T) {
	db := dbtest.DB(t)
	ctx := context.Background()
	a := tenanttest.MustCreate(t, db, "paysettings")
	run := func(fn func(tx *sqlx.Tx) error) error { return tenant.WithTx(ctx, db, a.ID, fn) }

	var before, after tenant.Tenant
	err := run(func(tx *sqlx.Tx) error {
		var err error
		before, after, err = tenant.UpdatePaymentSettings(ctx, tx, a.ID, tenant.PaymentSettings{Numcli: "002741", Protocol: tenant.ProtocolTIPI, Mode: tenant.ModeProduction})
		return err
	})
	if err != nil || before.Numcli != "001964" || after.Numcli != "002741" || after.Protocol != tenant.ProtocolTIPI || after.Mode != tenant.ModeProduction {
		t.Fatalf("payment settings: %v\nbefore %+v\nafter %+v", err, before, after)
	}
	for _, bad := range []tenant.PaymentSettings{
		{Numcli: "2741", Protocol: tenant.ProtocolPayFiP, Mode: tenant.ModeTest},
		{Numcli: "002741", Protocol: "paypal", Mode: tenant.ModeTest},
		{Numcli: "002741", Protocol: tenant.ProtocolPayFiP, Mode: "live"},
	} {
		err := run(func(tx *sqlx.Tx) error {
			_, _, err := tenant.UpdatePaymentSettings(ctx, tx, a.ID, bad)
			return err
		})
		var ve *tenant.ValidationError
		if !errors.As(err, &ve) {
			t.Errorf("%+v: %v, want a ValidationError", bad, err)
		}
	}
	err = run(func(tx *sqlx.Tx) error {
		var err error
		before, after, err = tenant.SetLogo(ctx, tx, a.ID, "tenants/1/logo-ab12cd34.png")
		return err
	})
	if err != nil || before.LogoKey != "" || after.LogoKey != "tenants/1/logo-ab12cd34.png" {
		t.Fatalf("SetLogo: %v, %q → %q", err, before.LogoKey, after.LogoKey)
	}
	err = run(func(tx *sqlx.Tx) error {
		cur, err := tenant.Current(ctx, tx, a.ID)
		if err == nil && (cur.LogoKey != after.LogoKey || cur.Mode != tenant.ModeProduction) {
			t.Errorf("Current = %+v", cur)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestValidateAccentColor(t *testing.T) {
	for c, ok := range map[string]bool{"#1f4e8c": true, "#000000": true, "#ffffff": false, "#ffff00": false, "#767676": true, "#777777": false, "1f4e8c": false, "#1F4E8C": false} {
		if err := tenant.ValidateAccentColor(c); (err == nil) != ok {
			t.Errorf("ValidateAccentColor(%q) = %v, want ok=%v", c, err, ok)
		}
	}
}
