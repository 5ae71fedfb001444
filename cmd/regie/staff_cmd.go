package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/portal/audit"
	"github.com/regie/regie/portal/staff"
	"github.com/regie/regie/tenant"
)

// cmdStaff manages a commune's staff from the command line: `staff invite`
// makes the first administrator of a new commune (or anyone) and prints
// the invitation link, to hand over however the operator sees fit. It needs
// the database and REGIE_BASE_URL, which the link is built on.
func cmdStaff(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "invite" {
		return usageError("staff expects invite")
	}
	fs := newFlags("staff invite", stderr)
	slug := fs.String("tenant", "", "commune slug")
	rawEmail := fs.String("email", "", "address of the person")
	rawRole := fs.String("role", "", "administrateur, agent or lecture")
	name := fs.String("name", "", "name of the person (optional)")
	if err := parseFlags(fs, args[1:], 0, ""); err != nil {
		return err
	}
	if *slug == "" || *rawEmail == "" || *rawRole == "" {
		return usageError("staff invite needs --tenant, --email and --role")
	}
	email, err := billing.NormalizeEmail(*rawEmail)
	if err != nil {
		return usageError(fmt.Sprintf("--email %q is not an e-mail address", *rawEmail))
	}
	role, err := staff.ParseRole(*rawRole)
	if err != nil {
		return usageError(fmt.Sprintf("--role %q: administrateur, agent or lecture", *rawRole))
	}
	cfg, err := loadConfig(env, needBase|needDatabase)
	if err != nil {
		return err
	}
	db, t, err := openTenant(ctx, env, *slug)
	if err != nil {
		return err
	}
	defer db.Close()
	var token string
	err = tenant.WithTx(ctx, db, t.ID, func(tx *sqlx.Tx) error {
		m, raw, err := staff.Invite(ctx, tx, t.ID, email, *name, role, time.Now())
		if err != nil {
			return err
		}
		token = raw
		return audit.Record(ctx, tx, t.ID, audit.Actor{Kind: "operator"}, audit.Entry{Action: "staff.invite", TargetType: "staff",
			TargetID: fmt.Sprint(m.ID), After: map[string]string{"email": email, "name": *name, "role": string(role)}})
	})
	if errors.Is(err, staff.ErrConflict) {
		return fmt.Errorf("%s already has an active account in %s", email, t.Slug)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "invitation for %s (%s) in %s, valid 7 days:\n%s\n", email, role.Label(), t.Name,
		tenant.PortalURL(cfg.BaseURL, t, "/gestion/invitation/"+token))
	return nil
}
