package deploy

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, COPY…
	args string
}

// stage is one FROM and the instructions under it.
type stage struct {
	image, name string
	body        []instruction
}

// parseDockerfile reads the stages of a Dockerfile. It knows enough of the
// syntax for deploy/Dockerfile: comments, backslash continuations, FROM …
// AS name.
func parseDockerfile(t *testing.T, path string) []stage {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var stages []stage
	var cur strings.Builder
	for _, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		cur.Reset()
		in := instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			for len(f) > 0 && strings.HasPrefix(f[0], "--") {
				f = f[1:]
			}
			s := stage{}
			if len(f) > 0 {
				s.image = f[0]
			}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.name = f[2]
			}
			stages = append(stages, s)
			continue
		}
		if len(stages) == 0 {
			t.Fatalf("%s: %s before the first FROM", path, in.cmd)
		}
		stages[len(stages)-1].body = append(stages[len(stages)-1].body, in)
	}
	return stages
}

// only returns the one instruction cmd of stage s whose arguments contain
// substr.
func (s stage) only(t *testing.T, cmd, substr string) string {
	t.Helper()
	var found []string
	for _, in := range s.body {
		if in.cmd == cmd && strings.Contains(in.args, substr) {
			found = append(found, in.args)
		}
	}
	if len(found) != 1 {
		t.Fatalf("stage %s %q: %d %s instructions with %q, want 1: %q", s.name, s.image, len(found), cmd, substr, found)
	}
	return found[0]
}

// TestDockerfile_BuildsStaticBinary runs the build stage's `go build` line
// exactly as the Dockerfile writes it (only -o points at a temporary
// folder), then checks that the result is a static, stripped binary that
// runs, and that the final stage ships it as a non-root ENTRYPOINT.
func TestDockerfile_BuildsStaticBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the regie binary")
	}
	stages := parseDockerfile(t, "Dockerfile")
	if len(stages) != 2 {
		t.Fatalf("%d stages, want a build stage and a final one", len(stages))
	}
	build, final := stages[0], stages[1]

	gomod, err := os.ReadFile(filepath.Join("..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	if goVersion == nil || !strings.HasPrefix(build.image, "golang:"+string(goVersion[1])+"-") {
		t.Errorf("build stage FROM %s, want golang:%s-… as go.mod says", build.image, goVersion[1])
	}
	if build.name == "" {
		t.Fatal("the build stage has no name (FROM … AS build)")
	}

	run := build.only(t, "RUN", "go build")
	out := regexp.MustCompile(`\s-o\s+(\S+)\s`).FindStringSubmatch(run + " ")
	if out == nil {
		t.Fatalf("RUN %s: no -o OUTPUT", run)
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "./cmd/regie"} {
		if !strings.Contains(run, want) {
			t.Errorf("RUN %s lacks %s", run, want)
		}
	}

	// The final stage copies that output and runs it as a non-root user.
	if !strings.HasPrefix(final.image, "gcr.io/distroless/static") && final.image != "scratch" {
		t.Errorf("final stage FROM %s, want distroless/static or scratch", final.image)
	}
	copyArgs := strings.Fields(final.only(t, "COPY", "--from="+build.name))
	if len(copyArgs) != 3 || copyArgs[1] != out[1] {
		t.Fatalf("COPY %q does not copy %s from the build stage", copyArgs, out[1])
	}
	var entry []string
	if err := json.Unmarshal([]byte(final.only(t, "ENTRYPOINT", "")), &entry); err != nil || len(entry) != 1 || entry[0] != copyArgs[2] {
		t.Errorf("ENTRYPOINT %q, want [%q] in exec form", entry, copyArgs[2])
	}
	user := strings.Split(final.only(t, "USER", ""), ":")[0]
	if user == "" || user == "root" || user == "0" {
		t.Errorf("USER %q, want a non-root user", user)
	}
	if expose := final.only(t, "EXPOSE", ""); expose != "8080" {
		t.Errorf("EXPOSE %s, want 8080 (REGIE_LISTEN's default)", expose)
	}

	// Build exactly the Dockerfile's command, in the repository root (the
	// Dockerfile's build context).
	bin := filepath.Join(t.TempDir(), "regie")
	line := strings.Replace(run, " -o "+out[1], " -o '"+bin+"'", 1)
	if line == run {
		t.Fatalf("RUN %s: cannot redirect -o %s", run, out[1])
	}
	cmd := exec.Command("sh", "-c", line)
	cmd.Dir = ".."
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", line, err, b)
	}

	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the binary has a %s program header: it is dynamically linked", p.Type)
		}
	}
	if f.Section(".symtab") != nil {
		t.Error("the binary has a symbol table: -ldflags=\"-s -w\" did not apply")
	}

	help := exec.Command(bin, "help")
	var stdout bytes.Buffer
	help.Stdout = &stdout
	if err := help.Run(); err != nil {
		t.Fatalf("%s help: %v", bin, err)
	}
	if !strings.Contains(stdout.String(), "usage: regie") {
		t.Errorf("%s help printed %q", bin, stdout.String())
	}
}
