package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/portal/operator"
)

// cmdOperator creates platform operators: `regie operator create --email E`
// prints a one-time activation link on admin.<base>.
func cmdOperator(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return usageError("operator expects create")
	}
	fs := newFlags("operator create", stderr)
	raw := fs.String("email", "", "the operator's address")
	if err := parseFlags(fs, args[1:], 0, ""); err != nil {
		return err
	}
	email, err := billing.NormalizeEmail(*raw)
	if err != nil {
		return usageError("--email needs an address, such as ops@regie.example.fr")
	}
	cfg, err := loadConfig(env, needDatabase)
	if err != nil {
		return err
	}
	db, err := openDB(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	o, token, err := operator.Create(ctx, db, email, time.Now())
	if errors.Is(err, operator.ErrConflict) {
		return fmt.Errorf("%s is already an active operator", email)
	}
	if err != nil {
		return err
	}
	if err := operator.Audit(ctx, db, o, "operator.create", 0, email, nil, map[string]any{"email": email, "by": "regie operator create"}); err != nil {
		return err
	}
	u := *cfg.BaseURL
	u.Host = "admin." + u.Host
	u.Path = "/activation/" + token
	fmt.Fprintf(stdout, "operator %s: activation link (valid 48 hours, once):\n%s\n", email, u.String())
	return nil
}
