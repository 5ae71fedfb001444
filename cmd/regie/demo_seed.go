package main

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"net/url"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/payments/dgfipsim"
	"github.com/regie/regie/portal/account"
	"github.com/regie/regie/portal/mfa"
	"github.com/regie/regie/portal/operator"
	"github.com/regie/regie/portal/staff"
	"github.com/regie/regie/tenant"
)

// demodata holds the CSV files the demo imports, exactly as a town hall
// would: one in UTF-8 with ";", one exported from Excel in Windows-1252,
// one with "," and decimal points.
//
//go:embed demodata/*.csv
var demodata embed.FS

// demoCommune is a commune of the walkthrough and what it imports.
type demoCommune struct {
	t      tenant.Tenant
	series []billing.Series
	files  []string // imported and published in this order
	// invoices of periods before this date are paid online
	paidBefore time.Time
	admin      string // a staff administrator's address
}

var demoCommunes = []demoCommune{
	{
		t: tenant.Tenant{
			Slug: "demo", Name: "Mairie de Démonstration", Numcli: "001964",
			Protocol: tenant.ProtocolPayFiP, Mode: tenant.ModeTest,
			Branding: tenant.Branding{
				ContactEmail:  "mairie@demo.example.fr",
				ContactPhone:  "01 23 45 67 89",
				PostalAddress: "1 place de la Mairie, 84000 Démonstration",
			},
		},
		series: []billing.Series{
			{Code: "RS", Label: "Restauration scolaire", Pattern: "{exer}-RS-00-{numero:7}", NextNumber: 8001516},
			{Code: "AP", Label: "Accueil périscolaire", Pattern: "{exer}-AP-00-{numero:7}", NextNumber: 3000001, Numcli: ptr("001965")},
		},
		// the first file holds only the seed invoice, so that it takes
		// number 8001516: 2015-RS-00-8001516
		files:      []string{"demo-1-2015.csv", "demo-2-2026.csv"},
		paidBefore: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), // June and September; the 2015 one stays due
		admin:      "admin@demo.example.fr",
	},
	{
		t: tenant.Tenant{
			Slug: "villes-sur-auzon", Name: "Mairie de Villes-sur-Auzon", Numcli: "002741",
			Protocol: tenant.ProtocolPayFiP, Mode: tenant.ModeTest,
			Branding: tenant.Branding{
				AccentColor:   "#8a3b12",
				ContactEmail:  "accueil@villes-sur-auzon.example.fr",
				ContactPhone:  "04 90 61 82 05",
				PostalAddress: "Place de la Mairie, 84570 Villes-sur-Auzon",
			},
		},
		series: []billing.Series{
			{Code: "CA", Label: "Cantine", Pattern: "VSA-{exer}-CA-{numero:6}", NextNumber: 1},
		},
		files:      []string{"villes-sur-auzon-2026.csv"},
		paidBefore: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC),
	},
}

func ptr[T any](v T) *T { return &v }

// seedDemo creates the demo's communes and series, imports their files
// through the same code as `regie import --publish`, and pays the older
// invoices through the DGFiP stand-in as families would.
func seedDemo(ctx context.Context, a *app, sim *dgfipsim.Server) error {
	for _, c := range demoCommunes {
		t, err := a.tenants.Create(ctx, c.t)
		if err != nil {
			return err
		}
		err = tenant.WithTx(ctx, a.db, t.ID, func(tx *sqlx.Tx) error {
			for _, s := range c.series {
				if _, err := billing.CreateSeries(ctx, tx, t.ID, s); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, name := range c.files {
			b, err := demodata.ReadFile("demodata/" + name)
			if err != nil {
				return err
			}
			res, _, err := importFile(ctx, a.db, a.jobs, t, bytes.NewReader(b), name, importOptions{publish: true})
			if err != nil {
				for _, e := range res.Errors {
					err = fmt.Errorf("%w\n%s", err, e)
				}
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		if err := payDemoInvoices(ctx, a, sim, t, c.paidBefore); err != nil {
			return fmt.Errorf("pay %s: %w", t.Slug, err)
		}
		if c.admin != "" {
			if err := seedAdmin(ctx, a, t, c.admin); err != nil {
				return fmt.Errorf("administrator of %s: %w", t.Slug, err)
			}
		}
	}
	return seedOperator(ctx, a)
}

// The demo's logins and their TOTP secret (DESIGN.md "Demo").
const (
	demoAdminPassword    = "demo-admin-2026"
	demoOperator         = "ops@regie.example.fr"
	demoOperatorPassword = "demo-ops-2026"
	demoTOTPSecret       = "JBSWY3DPEHPK3PXP"
)

// seedOperator makes the demo's platform operator, active, with the
// demo's TOTP secret.
func seedOperator(ctx context.Context, a *app) error {
	hash, sealed, err := demoCredentials(ctx, a, demoOperatorPassword)
	if err != nil {
		return err
	}
	o, _, err := operator.Create(ctx, a.db, demoOperator, time.Now())
	if err != nil {
		return err
	}
	if err := operator.Activate(ctx, a.db, o.ID, hash, time.Now()); err != nil {
		return err
	}
	_, err = operator.EnableTOTP(ctx, a.db, o.ID, sealed)
	return err
}

// demoCredentials are the hash of a demo password and the demo's TOTP
// secret sealed with the platform's secret.
func demoCredentials(ctx context.Context, a *app, password string) (hash, sealedTOTP string, err error) {
	if hash, err = account.NewHasher().Hash(ctx, password); err != nil {
		return "", "", err
	}
	sealer, err := mfa.NewSealer([]byte(a.cfg.Secret))
	if err != nil {
		return "", "", err
	}
	sealedTOTP, err = sealer.Seal(demoTOTPSecret)
	return hash, sealedTOTP, err
}

// seedAdmin makes an active staff administrator with the demo's password
// and TOTP secret.
func seedAdmin(ctx context.Context, a *app, t tenant.Tenant, email string) error {
	hash, sealed, err := demoCredentials(ctx, a, demoAdminPassword)
	if err != nil {
		return err
	}
	now := time.Now()
	return tenant.WithTx(ctx, a.db, t.ID, func(tx *sqlx.Tx) error {
		m, _, err := staff.Invite(ctx, tx, t.ID, email, "Administrateur de la démo", staff.Admin, now)
		if err != nil {
			return err
		}
		if err := staff.SetPassword(ctx, tx, t.ID, m.ID, hash, now); err != nil {
			return err
		}
		_, err = staff.EnableTOTP(ctx, tx, t.ID, m.ID, sealed)
		return err
	})
}

// payDemoInvoices pays, through the stand-in, the commune's invoices of
// the year of before and earlier in it, by card, as their families would.
func payDemoInvoices(ctx context.Context, a *app, sim *dgfipsim.Server, t tenant.Tenant, before time.Time) error {
	var due []struct {
		ID    int64  `db:"id"`
		Email string `db:"email"`
	}
	err := tenant.WithTx(ctx, a.db, t.ID, func(tx *sqlx.Tx) error {
		return tx.SelectContext(ctx, &due, `SELECT DISTINCT ON (i.id) i.id, e.email
			FROM invoices i JOIN family_emails e ON e.tenant_id = i.tenant_id AND e.family_id = i.family_id
			WHERE i.tenant_id = $1 AND i.status = 'published' AND i.period < $2
			  AND i.period >= date_trunc('year', $2::date) ORDER BY i.id, e.email`, t.ID, before)
	})
	if err != nil {
		return err
	}
	for _, d := range due {
		target, err := a.payments.Start(ctx, t, d.ID, d.Email)
		if err != nil {
			return err
		}
		u, err := url.Parse(target)
		if err != nil {
			return err
		}
		idOp := u.Query().Get("idop")
		if err := sim.Complete(idOp, "P"); err != nil {
			return err
		}
		if _, err := a.payments.Return(ctx, t, idOp); err != nil {
			return err
		}
	}
	return nil
}
