package main

import (
	"context"

	"github.com/regie/regie/tenant"
)

// seedDemo fills the demo database with the two communes of the walkthrough.
func seedDemo(ctx context.Context, a *app) error {
	communes := []tenant.Tenant{
		{
			Slug: "demo", Name: "Mairie de Démonstration", Numcli: "001964",
			Protocol: tenant.ProtocolPayFiP, Mode: tenant.ModeTest,
			Branding: tenant.Branding{
				ContactEmail:  "mairie@demo.example.fr",
				ContactPhone:  "01 23 45 67 89",
				PostalAddress: "1 place de la Mairie, 84000 Démonstration",
			},
		},
		{
			Slug: "villes-sur-auzon", Name: "Mairie de Villes-sur-Auzon", Numcli: "002741",
			Protocol: tenant.ProtocolPayFiP, Mode: tenant.ModeTest,
			Branding: tenant.Branding{
				AccentColor:   "#8a3b12",
				ContactEmail:  "accueil@villes-sur-auzon.example.fr",
				ContactPhone:  "04 90 61 82 05",
				PostalAddress: "Place de la Mairie, 84570 Villes-sur-Auzon",
			},
		},
	}
	for _, t := range communes {
		if _, err := a.tenants.Create(ctx, t); err != nil {
			return err
		}
	}
	return nil
}
