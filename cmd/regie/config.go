package main

import (
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// config is everything the commands read from the environment. Each command
// names the variables it needs; the others keep their defaults.
type config struct {
	BaseURL           *url.URL
	Listen            string
	DatabaseURL       string
	RedisURL          string
	StorageURL        string
	SMTPURL           string
	MailFrom          string
	PayFiPURL         *url.URL
	Secret            string
	PasswordMinLength int
	TrustedProxies    []string
	TIPIAllowedIPs    []netip.Prefix
	MetricsToken      string
	// JobRescueAfter is how long a job may stay running before another
	// process takes it for one of a killed worker; 0 keeps River's hour.
	JobRescueAfter time.Duration
}

// needs lists the variables a command requires.
type needs uint

const (
	needBase needs = 1 << iota
	needDatabase
	needRedis
	needSecret
	needSMTP
	needStorage

	needServer = needBase | needDatabase | needRedis | needSecret | needSMTP | needStorage
)

// loadConfig reads and validates the REGIE_* variables. A missing or
// malformed value gives one line naming the variable and what is expected.
func loadConfig(env func(string) string, need needs) (config, error) {
	c := config{
		Listen:            ":8080",
		MailFrom:          "portail@example.fr",
		PasswordMinLength: 8,
	}
	get := func(name string, n needs) (string, error) {
		v := strings.TrimSpace(env(name))
		if v == "" && need&n != 0 {
			return "", fmt.Errorf("%s is required (%s)", name, examples[name])
		}
		return v, nil
	}
	var err error
	var v string

	if v, err = get("REGIE_BASE_URL", needBase); err != nil {
		return c, err
	}
	if v == "" {
		v = "http://localhost:8080"
	}
	if c.BaseURL, err = parseHTTPURL(v); err != nil || c.BaseURL.Path != "" && c.BaseURL.Path != "/" {
		return c, fmt.Errorf("REGIE_BASE_URL must be an http(s) URL with a host and no path, such as %s (got %q)", examples["REGIE_BASE_URL"], v)
	}
	c.BaseURL.Path = ""

	if v := env("REGIE_LISTEN"); v != "" {
		if _, port, err := splitListen(v); err != nil || port == "" {
			return c, fmt.Errorf("REGIE_LISTEN must be a listen address such as :8080 or 127.0.0.1:8080 (got %q)", v)
		}
		c.Listen = v
	}

	if c.DatabaseURL, err = get("REGIE_DATABASE_URL", needDatabase); err != nil {
		return c, err
	}
	if c.DatabaseURL != "" {
		if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
			return c, fmt.Errorf("REGIE_DATABASE_URL must be a postgres:// URL such as %s", examples["REGIE_DATABASE_URL"])
		}
	}

	if c.RedisURL, err = get("REGIE_REDIS_URL", needRedis); err != nil {
		return c, err
	}
	if c.RedisURL != "" {
		if u, err := url.Parse(c.RedisURL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			return c, fmt.Errorf("REGIE_REDIS_URL must be a redis:// or rediss:// URL such as %s", examples["REGIE_REDIS_URL"])
		}
	}

	if c.StorageURL, err = get("REGIE_STORAGE_URL", needStorage); err != nil {
		return c, err
	}
	if c.StorageURL != "" {
		if u, err := url.Parse(c.StorageURL); err != nil || (u.Scheme != "s3" && u.Scheme != "file") ||
			(u.Scheme == "s3" && u.Host == "") || (u.Scheme == "file" && u.Path == "") {
			return c, fmt.Errorf("REGIE_STORAGE_URL must be s3://BUCKET?endpoint=…&region=…&path_style=true or file:///absolute/folder (got %q)", c.StorageURL)
		}
	}

	if c.SMTPURL, err = get("REGIE_SMTP_URL", needSMTP); err != nil {
		return c, err
	}
	if c.SMTPURL != "" {
		u, err := url.Parse(c.SMTPURL)
		tls := ""
		if err == nil {
			tls = u.Query().Get("tls")
		}
		if err != nil || u.Scheme != "smtp" || u.Hostname() == "" || u.Port() == "" ||
			(tls != "" && tls != "none" && tls != "starttls" && tls != "tls") {
			return c, fmt.Errorf("REGIE_SMTP_URL must be smtp://[user:pass@]host:port?tls=none|starttls|tls (got %q)", redactURL(c.SMTPURL))
		}
	}

	if v := env("REGIE_MAIL_FROM"); v != "" {
		if !strings.Contains(v, "@") || strings.ContainsAny(v, " <>\"") {
			return c, fmt.Errorf("REGIE_MAIL_FROM must be a bare address such as portail@example.fr (got %q)", v)
		}
		c.MailFrom = v
	}

	v = env("REGIE_PAYFIP_URL")
	if v == "" {
		v = "https://www.payfip.gouv.fr"
	}
	if c.PayFiPURL, err = parseHTTPURL(v); err != nil {
		return c, fmt.Errorf("REGIE_PAYFIP_URL must be an http(s) URL such as https://www.payfip.gouv.fr (got %q)", v)
	}
	c.PayFiPURL.Path = strings.TrimSuffix(c.PayFiPURL.Path, "/")

	if c.Secret, err = get("REGIE_SECRET", needSecret); err != nil {
		return c, err
	}
	if c.Secret != "" && len(c.Secret) < 32 {
		return c, fmt.Errorf("REGIE_SECRET must be at least 32 characters (got %d)", len(c.Secret))
	}

	if v := env("REGIE_PASSWORD_MIN_LENGTH"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 5 || n > 128 {
			return c, fmt.Errorf("REGIE_PASSWORD_MIN_LENGTH must be a whole number from 5 to 128 (got %q)", v)
		}
		c.PasswordMinLength = n
	}

	if c.TrustedProxies, err = parseCIDRs("REGIE_TRUSTED_PROXIES", env("REGIE_TRUSTED_PROXIES")); err != nil {
		return c, err
	}
	tipi, err := parseCIDRs("REGIE_TIPI_ALLOWED_IPS", env("REGIE_TIPI_ALLOWED_IPS"))
	if err != nil {
		return c, err
	}
	for _, s := range tipi {
		c.TIPIAllowedIPs = append(c.TIPIAllowedIPs, netip.MustParsePrefix(s))
	}
	c.MetricsToken = env("REGIE_METRICS_TOKEN")
	if v := env("REGIE_JOB_RESCUE_AFTER"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 10*time.Second {
			return c, fmt.Errorf("REGIE_JOB_RESCUE_AFTER must be a duration of at least 10s, such as 45m (got %q)", v)
		}
		c.JobRescueAfter = d
	}
	return c, nil
}

var examples = map[string]string{
	"REGIE_BASE_URL":     "http://localhost:8080",
	"REGIE_DATABASE_URL": "postgres://regie@127.0.0.1:5432/regie?sslmode=disable",
	"REGIE_REDIS_URL":    "redis://127.0.0.1:6379/0",
	"REGIE_STORAGE_URL":  "s3://regie-docs?endpoint=http://127.0.0.1:7070&region=us-east-1&path_style=true or file:///var/lib/regie/docs",
	"REGIE_SMTP_URL":     "smtp://127.0.0.1:1025?tls=none",
	"REGIE_SECRET":       "at least 32 characters",
}

func parseHTTPURL(v string) (*url.URL, error) {
	u, err := url.Parse(v)
	if err != nil {
		return nil, err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("not an http(s) URL")
	}
	return u, nil
}

func splitListen(v string) (string, string, error) {
	i := strings.LastIndex(v, ":")
	if i < 0 {
		return "", "", fmt.Errorf("no port")
	}
	if _, err := strconv.ParseUint(v[i+1:], 10, 16); err != nil {
		return "", "", err
	}
	return v[:i], v[i+1:], nil
}

// parseCIDRs reads a comma- or space-separated list of CIDRs or bare
// addresses (taken as /32 or /128).
func parseCIDRs(name, v string) ([]string, error) {
	var out []string
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
		p, err := netip.ParsePrefix(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil {
				return nil, fmt.Errorf("%s must list CIDRs such as 10.0.0.0/8,192.168.1.10 (bad entry %q)", name, f)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked().String())
	}
	return out, nil
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable)"
	}
	return u.Redacted()
}

// LogValue masks every secret when the configuration is logged.
func (c config) LogValue() slog.Value {
	mask := func(s string) string {
		if s == "" {
			return ""
		}
		return "********"
	}
	return slog.GroupValue(
		slog.String("base_url", c.BaseURL.String()),
		slog.String("listen", c.Listen),
		slog.String("database_url", redactURL(c.DatabaseURL)),
		slog.String("redis_url", redactURL(c.RedisURL)),
		slog.String("storage_url", redactURL(c.StorageURL)),
		slog.String("smtp_url", redactURL(c.SMTPURL)),
		slog.String("mail_from", c.MailFrom),
		slog.String("payfip_url", c.PayFiPURL.String()),
		slog.String("secret", mask(c.Secret)),
		slog.Int("password_min_length", c.PasswordMinLength),
		slog.Any("trusted_proxies", c.TrustedProxies),
		slog.Any("tipi_allowed_ips", c.TIPIAllowedIPs),
		slog.String("metrics_token", mask(c.MetricsToken)),
		slog.Duration("job_rescue_after", c.JobRescueAfter),
	)
}
