package deploy

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const (
	binPath = "/usr/local/bin/regie"
	envFile = "/etc/regie/regie.env"
)

// unit is a parsed systemd unit file: section → key → values in order.
type unit map[string]map[string][]string

func readUnit(t *testing.T, path string) unit {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unit{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: not a key=value line in a section: %q", path, n, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

// get returns the one value of key, failing if it is missing or repeated.
func (u unit) get(t *testing.T, name, section, key string) string {
	t.Helper()
	v := u[section][key]
	if len(v) != 1 {
		t.Errorf("%s: [%s] %s has %d values %q, want one", name, section, key, len(v), v)
		return ""
	}
	return v[0]
}

// words returns the space-separated words of every value of key.
func (u unit) words(section, key string) []string {
	var out []string
	for _, v := range u[section][key] {
		out = append(out, strings.Fields(v)...)
	}
	return out
}

// TestSystemd_Units checks the single-VM units: which command each runs,
// the binary and environment file, and that migrations run first.
func TestSystemd_Units(t *testing.T) {
	units := map[string]string{
		"regie-migrate.service": binPath + " migrate",
		"regie-web.service":     binPath + " serve --web-only",
		"regie-worker.service":  binPath + " worker --listen 127.0.0.1:8081",
	}
	for name, exec := range units {
		t.Run(name, func(t *testing.T) {
			u := readUnit(t, filepath.Join("systemd", name))
			if got := u.get(t, name, "Service", "ExecStart"); got != exec {
				t.Errorf("%s: ExecStart=%s, want %s", name, got, exec)
			}
			if got := u.get(t, name, "Service", "EnvironmentFile"); got != envFile {
				t.Errorf("%s: EnvironmentFile=%s, want %s", name, got, envFile)
			}
			if got := u.get(t, name, "Service", "User"); got == "" || got == "root" {
				t.Errorf("%s: User=%q, want an unprivileged user", name, got)
			}
			if u.get(t, name, "Service", "NoNewPrivileges") != "yes" || u.get(t, name, "Service", "ProtectSystem") != "strict" {
				t.Errorf("%s: want NoNewPrivileges=yes and ProtectSystem=strict", name)
			}
			if name == "regie-migrate.service" {
				if got := u.get(t, name, "Service", "Type"); got != "oneshot" {
					t.Errorf("%s: Type=%s, want oneshot", name, got)
				}
				before := u.words("Unit", "Before")
				if !slices.Contains(before, "regie-web.service") || !slices.Contains(before, "regie-worker.service") {
					t.Errorf("%s: Before=%q, want regie-web.service and regie-worker.service", name, before)
				}
				return
			}
			for _, key := range []string{"After", "Wants"} {
				if !slices.Contains(u.words("Unit", key), "regie-migrate.service") {
					t.Errorf("%s: %s= lacks regie-migrate.service", name, key)
				}
			}
			if got := u.get(t, name, "Service", "Restart"); got != "on-failure" && got != "always" {
				t.Errorf("%s: Restart=%s, want on-failure", name, got)
			}
		})
	}
}

// TestSystemd_Verify runs systemd-analyze verify on the units, with the
// binary path pointing at a stand-in, when systemd-analyze is installed.
func TestSystemd_Verify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed")
	}
	dir := t.TempDir()
	stand := filepath.Join(dir, "regie")
	if err := os.WriteFile(stand, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	paths, _ := filepath.Glob(filepath.Join("systemd", "*.service"))
	var args []string
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, filepath.Base(p))
		if err := os.WriteFile(out, []byte(strings.ReplaceAll(string(b), binPath, stand)), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, out)
	}
	out, err := exec.Command(analyze, append([]string{"verify"}, args...)...).CombinedOutput()
	// Warnings (an unknown key, a bad value) exit 0: any line about our
	// files is a failure.
	var ours []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, dir) {
			ours = append(ours, line)
		}
	}
	if len(ours) > 0 {
		t.Errorf("systemd-analyze verify:\n%s", strings.Join(ours, "\n"))
	}
	if err != nil && len(ours) == 0 {
		t.Logf("systemd-analyze verify exited %v (nothing about our units):\n%s", err, out)
	}
}
