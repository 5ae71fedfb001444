package bench

import (
	"strings"
	"testing"
)

func TestPgbenchScript(t *testing.T) {
	s, err := PgbenchScript(Shape{Communes: 10, A: 2190}, 7)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`\set r random(1, 10)`, `\set k random(1, greatest(1, 2190 / :r))`, `\set tid 7 + :r - 1`,
		"FROM family_emails e", "WHERE e.tenant_id = :tid AND e.email = ('f' || :k::text || '@bench.example.fr')", "set_config('role', 'regie_app', true)"} {
		if !strings.Contains(s, want) {
			t.Errorf("script lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "$") {
		t.Errorf("script keeps a $ parameter:\n%s", s)
	}
}
