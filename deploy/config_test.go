package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// configVariables returns the REGIE_* variables that cmd/regie/config.go
// reads, as string literals.
func configVariables(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "cmd", "regie", "config.go"))
	if err != nil {
		t.Fatal(err)
	}
	var vars []string
	for _, m := range regexp.MustCompile(`"(REGIE_[A-Z0-9_]+)"`).FindAllStringSubmatch(string(b), -1) {
		if !slices.Contains(vars, m[1]) {
			vars = append(vars, m[1])
		}
	}
	for _, want := range []string{"REGIE_BASE_URL", "REGIE_DATABASE_URL", "REGIE_SECRET"} {
		if !slices.Contains(vars, want) {
			t.Fatalf("found %q in cmd/regie/config.go, which lacks %s: has the parser gone stale?", vars, want)
		}
	}
	return vars
}

// checkCovers fails when have misses a variable of config.go or names a
// REGIE_ variable config.go does not read.
func checkCovers(t *testing.T, what string, have []string) {
	t.Helper()
	vars := configVariables(t)
	for _, v := range vars {
		if !slices.Contains(have, v) {
			t.Errorf("%s lacks %s (read by cmd/regie/config.go)", what, v)
		}
	}
	for _, v := range have {
		if strings.HasPrefix(v, "REGIE_") && !slices.Contains(vars, v) {
			t.Errorf("%s sets %s, which cmd/regie/config.go does not read", what, v)
		}
	}
}

// TestEnvExample_ListsEveryVariable: regie.env.example sets every variable
// of config.go, and no other REGIE_ one.
func TestEnvExample_ListsEveryVariable(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("systemd", "regie.env.example"))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for n, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, _, ok := strings.Cut(line, "=")
		if !ok || strings.ContainsAny(k, " \t") {
			t.Errorf("regie.env.example:%d: not KEY=value: %q", n+1, line)
		}
		keys = append(keys, k)
	}
	checkCovers(t, "systemd/regie.env.example", keys)
}

// TestManifests_ConfigCoversEveryVariable: the base's ConfigMap and Secret
// template together set every variable of config.go, and the secrets are
// never in the ConfigMap.
func TestManifests_ConfigCoversEveryVariable(t *testing.T) {
	r := render(t, filepath.Join(kubeDir, "base"))
	var keys []string
	secret := named[*corev1.Secret](t, r, "regie-secrets")
	for k := range secret.StringData {
		keys = append(keys, k)
	}
	for k := range secret.Data {
		keys = append(keys, k)
	}
	secrets := slices.Clone(keys)
	for _, cm := range all[*corev1.ConfigMap](r) {
		for k := range cm.Data {
			keys = append(keys, k)
			if slices.Contains(secrets, k) {
				t.Errorf("%s is in both the ConfigMap and the Secret", k)
			}
		}
	}
	checkCovers(t, "the base's ConfigMap and Secret", keys)
	for _, v := range []string{"REGIE_DATABASE_URL", "REGIE_REDIS_URL", "REGIE_SECRET", "REGIE_SMTP_URL", "REGIE_METRICS_TOKEN", "AWS_SECRET_ACCESS_KEY"} {
		if !slices.Contains(secrets, v) {
			t.Errorf("%s holds credentials: it belongs in the Secret", v)
		}
	}
}
