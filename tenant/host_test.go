package tenant

import (
	"errors"
	"sync"
	"testing"
)

func TestParseHost(t *testing.T) {
	const base = "regie.example.fr"
	tests := []struct {
		host string
		want Host
	}{
		{"demo.regie.example.fr", Host{Kind: HostCommune, Slug: "demo"}},
		{"demo.regie.example.fr:8080", Host{Kind: HostCommune, Slug: "demo"}},
		{"DEMO.Regie.Example.FR", Host{Kind: HostCommune, Slug: "demo"}},
		{"demo.regie.example.fr.", Host{Kind: HostCommune, Slug: "demo"}},
		{"demo.regie.example.fr.:443", Host{Kind: HostCommune, Slug: "demo"}},
		{"villes-sur-auzon.regie.example.fr", Host{Kind: HostCommune, Slug: "villes-sur-auzon"}},
		{"regie.example.fr", Host{Kind: HostBase}},
		{"regie.example.fr:8080", Host{Kind: HostBase}},
		{"www.regie.example.fr", Host{Kind: HostBase}},
		{"admin.regie.example.fr", Host{Kind: HostAdmin}},
		{"paiement.regie.example.fr", Host{Kind: HostPayment}},
		{"api.regie.example.fr", Host{Kind: HostUnknown}},
		{"static.regie.example.fr", Host{Kind: HostUnknown}},
		{"mail.regie.example.fr", Host{Kind: HostUnknown}},
		{"a.demo.regie.example.fr", Host{Kind: HostUnknown}},
		{"x.regie.example.fr", Host{Kind: HostUnknown}}, // one letter is not a slug
		{"-demo.regie.example.fr", Host{Kind: HostUnknown}},
		{"de_mo.regie.example.fr", Host{Kind: HostUnknown}},
		{"portail.mairie-x.fr", Host{Kind: HostCustom, Domain: "portail.mairie-x.fr"}},
		{"Portail.Mairie-X.fr:443", Host{Kind: HostCustom, Domain: "portail.mairie-x.fr"}},
		{"example.fr", Host{Kind: HostCustom, Domain: "example.fr"}},
		{"localhost", Host{Kind: HostUnknown}},
		{"", Host{Kind: HostUnknown}},
		{"[::1]:8080", Host{Kind: HostUnknown}},
		{"bad host.fr", Host{Kind: HostUnknown}},
		{"évry.fr", Host{Kind: HostUnknown}},
		// found by FuzzParseHost: the Kelvin sign lower-cases to "k", and
		// an address is no custom domain
		{"\u212aremlin-bicetre.regie.example.fr", Host{Kind: HostUnknown}},
		{"10.0.0.5:8080", Host{Kind: HostUnknown}},
		{"192.168.1.10", Host{Kind: HostUnknown}},
	}
	for _, tt := range tests {
		if got := ParseHost(tt.host, base); got != tt.want {
			t.Errorf("ParseHost(%q) = %+v, want %+v", tt.host, got, tt.want)
		}
	}

	t.Run("LocalhostBase", func(t *testing.T) {
		for host, want := range map[string]Host{
			"demo.localhost:8080":     {Kind: HostCommune, Slug: "demo"},
			"localhost:8080":          {Kind: HostBase},
			"paiement.localhost:8080": {Kind: HostPayment},
			"nope.localhost:8080":     {Kind: HostCommune, Slug: "nope"}, // unknown to the database, not to the syntax
		} {
			if got := ParseHost(host, "localhost"); got != want {
				t.Errorf("ParseHost(%q) = %+v, want %+v", host, got, want)
			}
		}
	})
}

func TestValidateDomain(t *testing.T) {
	const base = "regie.example.fr"
	for _, ok := range []string{"portail.mairie-x.fr", "mairie-x.fr"} {
		if err := ValidateDomain(ok, base); err != nil {
			t.Errorf("ValidateDomain(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"", "localhost", "demo.regie.example.fr", "regie.example.fr", "http://x.fr", "x.fr:8080", "a b.fr", "10.0.0.5", "\u212a.fr"} {
		if err := ValidateDomain(bad, base); err == nil {
			t.Errorf("ValidateDomain(%q) = nil, want an error", bad)
		}
	}
}

func TestValidate(t *testing.T) {
	good := Tenant{Slug: "demo", Name: "Mairie de Démonstration", Numcli: "001964",
		Protocol: ProtocolPayFiP, Mode: ModeTest, Status: StatusActive, Branding: Branding{AccentColor: DefaultAccentColor}}
	if err := good.Validate(); err != nil {
		t.Fatalf("Validate(good) = %v", err)
	}
	tests := []struct {
		name  string
		edit  func(*Tenant)
		field string
	}{
		{"reserved slug", func(t *Tenant) { t.Slug = "admin" }, "slug"},
		{"upper-case slug", func(t *Tenant) { t.Slug = "Demo" }, "slug"},
		{"short slug", func(t *Tenant) { t.Slug = "d" }, "slug"},
		{"trailing hyphen", func(t *Tenant) { t.Slug = "demo-" }, "slug"},
		{"empty name", func(t *Tenant) { t.Name = "  " }, "name"},
		{"5-digit numcli", func(t *Tenant) { t.Numcli = "12345" }, "numcli"},
		{"numcli with letters", func(t *Tenant) { t.Numcli = "00196A" }, "numcli"},
		{"protocol", func(t *Tenant) { t.Protocol = "sepa" }, "protocol"},
		{"mode", func(t *Tenant) { t.Mode = "W" }, "mode"},
		{"colour syntax", func(t *Tenant) { t.AccentColor = "blue" }, "accent_color"},
		{"colour contrast", func(t *Tenant) { t.AccentColor = "#ffff00" }, "accent_color"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tn := good
			tt.edit(&tn)
			var ve *ValidationError
			err := tn.Validate()
			if !errors.As(err, &ve) || ve.Field != tt.field {
				t.Fatalf("Validate() = %v, want a ValidationError on %s", err, tt.field)
			}
			if ve.Message == "" {
				t.Fatal("empty message")
			}
		})
	}
}

func TestFoldName(t *testing.T) {
	for in, want := range map[string]string{
		"Mairie de Villes-sur-Auzon": "mairie de villes sur auzon",
		"Évry-Courcouronnes":         "evry courcouronnes",
		"L'Haÿ-les-Roses":            "l hay les roses",
		"Cœuvres-et-Valsery":         "coeuvres et valsery",
		"  ":                         "",
	} {
		if got := FoldName(in); got != want {
			t.Errorf("FoldName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestContrastWithWhite(t *testing.T) {
	if r := ContrastWithWhite("#000000"); r < 20.9 || r > 21.1 {
		t.Errorf("black: %v, want 21", r)
	}
	if r := ContrastWithWhite("#ffffff"); r != 1 {
		t.Errorf("white: %v, want 1", r)
	}
	if r := ContrastWithWhite(DefaultAccentColor); r < 4.5 {
		t.Errorf("default accent: %v, want ≥ 4.5", r)
	}
}

// TestFoldName_Concurrent: FoldName is called from many requests at once.
func TestFoldName_Concurrent(t *testing.T) {
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 500 {
				if got := FoldName("Évry-Courcouronnes"); got != "evry courcouronnes" {
					t.Errorf("goroutine %d, call %d: %q", i, j, got)
					return
				}
			}
		})
	}
	wg.Wait()
}
