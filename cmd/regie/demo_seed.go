package main

import (
	"context"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/tenant"
)

// seedDemo fills the demo database with the two communes of the walkthrough
// and their families.
func seedDemo(ctx context.Context, a *app) error {
	communes := []struct {
		t        tenant.Tenant
		families []billing.Family
	}{
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
			families: []billing.Family{
				{Ref: "F0001", Name: "Famille Martin", Address: "12 rue des Écoles", PostalCode: "84000", City: "Démonstration",
					Emails: []string{"famille.martin@example.fr"}},
				{Ref: "F0002", Name: "Famille Durand", Address: "3 chemin du Moulin", PostalCode: "84000", City: "Démonstration",
					Emails: []string{"claire.durand@example.fr", "paul.durand@example.fr"}},
				{Ref: "F0003", Name: "Famille Petit", Address: "8 avenue de la Gare", PostalCode: "84000", City: "Démonstration",
					Emails: []string{"famille.petit@example.fr", "mamie.roux@example.fr"}},
				{Ref: "F0004", Name: "Famille Roux", Address: "5 impasse des Lilas", PostalCode: "84000", City: "Démonstration",
					Emails: []string{"mamie.roux@example.fr"}},
			},
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
			families: []billing.Family{
				{Ref: "VSA-101", Name: "Famille Garcia", Address: "2 rue du Ventoux", PostalCode: "84570", City: "Villes-sur-Auzon",
					Emails: []string{"garcia.famille@example.fr"}},
				{Ref: "VSA-102", Name: "Famille Moreau", Address: "14 route de Mormoiron", PostalCode: "84570", City: "Villes-sur-Auzon",
					Emails: []string{"moreau@example.fr"}},
			},
		},
	}
	for _, c := range communes {
		t, err := a.tenants.Create(ctx, c.t)
		if err != nil {
			return err
		}
		err = tenant.WithTx(ctx, a.db, t.ID, func(tx *sqlx.Tx) error {
			for _, f := range c.families {
				if _, err := billing.SaveFamily(ctx, tx, t.ID, f); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
