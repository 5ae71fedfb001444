package main

import (
	"log/slog"
	"strings"
	"testing"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func validServerEnv() map[string]string {
	return map[string]string{
		"REGIE_BASE_URL":     "https://regie.example.fr",
		"REGIE_DATABASE_URL": "postgres://regie:hunter2@db:5432/regie?sslmode=disable",
		"REGIE_REDIS_URL":    "redis://:redispass@cache:6379/0",
		"REGIE_SECRET":       strings.Repeat("s", 32),
		"REGIE_SMTP_URL":     "smtp://user:smtppass@mail:587?tls=starttls",
		"REGIE_STORAGE_URL":  "s3://regie-docs?endpoint=http://127.0.0.1:7070&region=us-east-1&path_style=true",
	}
}

func TestLoadConfig(t *testing.T) {
	t.Run("Defaults", func(t *testing.T) {
		c, err := loadConfig(envOf(nil), 0)
		if err != nil {
			t.Fatal(err)
		}
		if c.BaseURL.String() != "http://localhost:8080" || c.Listen != ":8080" || c.PasswordMinLength != 8 ||
			c.PayFiPURL.String() != "https://www.payfip.gouv.fr" || c.MailFrom != "portail@example.fr" {
			t.Fatalf("defaults: %+v", c)
		}
	})
	t.Run("Server", func(t *testing.T) {
		env := validServerEnv()
		env["REGIE_TRUSTED_PROXIES"] = "10.0.0.0/8, 192.168.1.7"
		env["REGIE_PASSWORD_MIN_LENGTH"] = "5"
		c, err := loadConfig(envOf(env), needServer)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.TrustedProxies) != 2 || c.TrustedProxies[1] != "192.168.1.7/32" || c.PasswordMinLength != 5 {
			t.Fatalf("parsed: %+v", c)
		}
	})

	tests := []struct {
		name string
		set  map[string]string
		drop string
		want string
	}{
		{"missing base", nil, "REGIE_BASE_URL", "REGIE_BASE_URL is required"},
		{"missing database", nil, "REGIE_DATABASE_URL", "REGIE_DATABASE_URL is required"},
		{"missing redis", nil, "REGIE_REDIS_URL", "REGIE_REDIS_URL is required"},
		{"missing secret", nil, "REGIE_SECRET", "REGIE_SECRET is required"},
		{"missing smtp", nil, "REGIE_SMTP_URL", "REGIE_SMTP_URL is required"},
		{"missing storage", nil, "REGIE_STORAGE_URL", "REGIE_STORAGE_URL is required"},
		{"base with path", map[string]string{"REGIE_BASE_URL": "https://x.fr/portail"}, "", "REGIE_BASE_URL must be"},
		{"base not a URL", map[string]string{"REGIE_BASE_URL": "regie.example.fr"}, "", "REGIE_BASE_URL must be"},
		{"database scheme", map[string]string{"REGIE_DATABASE_URL": "mysql://x"}, "", "REGIE_DATABASE_URL must be a postgres:// URL"},
		{"redis scheme", map[string]string{"REGIE_REDIS_URL": "127.0.0.1:6379"}, "", "REGIE_REDIS_URL must be"},
		{"storage scheme", map[string]string{"REGIE_STORAGE_URL": "/var/lib/regie"}, "", "REGIE_STORAGE_URL must be"},
		{"smtp tls", map[string]string{"REGIE_SMTP_URL": "smtp://mail:25?tls=maybe"}, "", "REGIE_SMTP_URL must be"},
		{"smtp port", map[string]string{"REGIE_SMTP_URL": "smtp://mail"}, "", "REGIE_SMTP_URL must be"},
		{"short secret", map[string]string{"REGIE_SECRET": "short"}, "", "REGIE_SECRET must be at least 32 characters (got 5)"},
		{"password length low", map[string]string{"REGIE_PASSWORD_MIN_LENGTH": "4"}, "", "REGIE_PASSWORD_MIN_LENGTH must be a whole number from 5"},
		{"password length text", map[string]string{"REGIE_PASSWORD_MIN_LENGTH": "huit"}, "", "REGIE_PASSWORD_MIN_LENGTH"},
		{"listen", map[string]string{"REGIE_LISTEN": "8080"}, "", "REGIE_LISTEN must be"},
		{"proxies", map[string]string{"REGIE_TRUSTED_PROXIES": "10.0.0.0/8,lan"}, "", `REGIE_TRUSTED_PROXIES must list CIDRs such as 10.0.0.0/8,192.168.1.10 (bad entry "lan")`},
		{"tipi ips", map[string]string{"REGIE_TIPI_ALLOWED_IPS": "x"}, "", "REGIE_TIPI_ALLOWED_IPS"},
		{"payfip url", map[string]string{"REGIE_PAYFIP_URL": "ftp://x"}, "", "REGIE_PAYFIP_URL must be"},
		{"mail from", map[string]string{"REGIE_MAIL_FROM": "Portail <p@x.fr>"}, "", "REGIE_MAIL_FROM must be a bare address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := validServerEnv()
			for k, v := range tt.set {
				env[k] = v
			}
			delete(env, tt.drop)
			_, err := loadConfig(envOf(env), needServer)
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q, want one line containing %q", err, tt.want)
			}
		})
	}

	t.Run("OnlyWhatTheCommandNeeds", func(t *testing.T) {
		if _, err := loadConfig(envOf(map[string]string{"REGIE_DATABASE_URL": "postgres://x@db/regie"}), needDatabase); err != nil {
			t.Fatalf("migrate needs the database alone: %v", err)
		}
	})
}

func TestConfig_LogValueMasksSecrets(t *testing.T) {
	env := validServerEnv()
	env["REGIE_METRICS_TOKEN"] = "metrics-token-value"
	c, err := loadConfig(envOf(env), needServer)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	slog.New(slog.NewJSONHandler(&b, nil)).Info("start", "config", c)
	out := b.String()
	for _, secret := range []string{"hunter2", "redispass", "smtppass", strings.Repeat("s", 32), "metrics-token-value"} {
		if strings.Contains(out, secret) {
			t.Errorf("log shows secret %q: %s", secret, out)
		}
	}
	if !strings.Contains(out, "regie.example.fr") || !strings.Contains(out, "********") {
		t.Errorf("log lacks the non-secret settings: %s", out)
	}
}
