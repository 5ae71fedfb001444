package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/regie/regie/tenant"
)

// cmdTenant manages communes: create, list, suspend, resume. It needs the
// database alone; with REGIE_REDIS_URL set it also tells running servers to
// drop their cached copy at once (otherwise they notice within 30 s).
func cmdTenant(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError("tenant expects create, list, suspend or resume")
	}
	cfg, err := loadConfig(env, needDatabase)
	if err != nil {
		return err
	}
	sub, rest := args[0], args[1:]
	fs := newFlags("tenant "+sub, stderr)
	switch sub {
	case "create":
		slug := fs.String("slug", "", "host label of the commune (`villes-sur-auzon`)")
		name := fs.String("name", "", "display name (`Mairie de Villes-sur-Auzon`)")
		numcli := fs.String("numcli", "", "DGFiP client number, 6 digits")
		protocol := fs.String("protocol", "payfip", "payment protocol: payfip or tipi")
		mode := fs.String("mode", "test", "payment mode: test, activation or production")
		if err := parseFlags(fs, rest, 0, ""); err != nil {
			return err
		}
		db, err := openDB(ctx, cfg.DatabaseURL)
		if err != nil {
			return err
		}
		defer db.Close()
		t, err := tenant.NewStore(db).Create(ctx, tenant.Tenant{
			Slug: *slug, Name: *name, Numcli: *numcli,
			Protocol: tenant.Protocol(*protocol), Mode: tenant.Mode(*mode),
		})
		if err != nil {
			return err
		}
		u := *cfg.BaseURL
		u.Host = t.Slug + "." + u.Host
		fmt.Fprintf(stdout, "commune %d created: %s (%s), numcli %s, %s in %s mode\n", t.ID, t.Name, u.String(), t.Numcli, t.Protocol, t.Mode)
		return nil

	case "list":
		if err := parseFlags(fs, rest, 0, ""); err != nil {
			return err
		}
		db, err := openDB(ctx, cfg.DatabaseURL)
		if err != nil {
			return err
		}
		defer db.Close()
		ts, err := tenant.NewStore(db).List(ctx)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tSLUG\tNAME\tNUMCLI\tPROTOCOL\tMODE\tSTATUS\tCREATED")
		for _, t := range ts {
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Slug, t.Name, t.Numcli, t.Protocol, t.Mode, t.Status,
				t.CreatedAt.In(tenant.Paris).Format("2006-01-02 15:04"))
		}
		return w.Flush()

	case "suspend", "resume":
		slug := fs.String("slug", "", "host label of the commune")
		if err := parseFlags(fs, rest, 0, ""); err != nil {
			return err
		}
		if *slug == "" {
			return usageError("tenant " + sub + " needs --slug")
		}
		db, err := openDB(ctx, cfg.DatabaseURL)
		if err != nil {
			return err
		}
		defer db.Close()
		store := tenant.NewStore(db)
		t, err := store.BySlug(ctx, *slug)
		if err != nil {
			return fmt.Errorf("commune %q: %w", *slug, err)
		}
		st := tenant.StatusSuspended
		if sub == "resume" {
			st = tenant.StatusActive
		}
		if err := store.SetStatus(ctx, t.ID, st); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "commune %s is now %s\n", t.Slug, st)
		announce(ctx, cfg, t.ID, stderr)
		return nil
	}
	return usageError(fmt.Sprintf("unknown tenant command %q (create, list, suspend, resume)", sub))
}

// announce tells running servers that a commune changed, when Redis is
// configured; otherwise their caches catch up within 30 seconds.
func announce(ctx context.Context, cfg config, id tenant.ID, stderr io.Writer) {
	if cfg.RedisURL == "" {
		fmt.Fprintln(stderr, "note: REGIE_REDIS_URL is not set; running servers will see the change within 30 seconds")
		return
	}
	rdb, err := openRedis(cfg.RedisURL)
	if err == nil {
		actx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err = tenant.Announce(actx, rdb, id)
		cancel()
		rdb.Close()
	}
	if err != nil {
		fmt.Fprintf(stderr, "note: could not notify running servers through Redis (%v); they will see the change within 30 seconds\n", err)
	}
}
