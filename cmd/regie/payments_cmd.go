package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/payments"
	"github.com/regie/regie/tenant"
)

// cmdPayments lists a commune's payment attempts and overpayments.
func cmdPayments(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("payments", stderr)
	slug := fs.String("tenant", "", "commune slug")
	limit := fs.Int("limit", 100, "most recent attempts to show")
	if err := parseFlags(fs, args, 0, ""); err != nil {
		return err
	}
	db, t, err := openTenant(ctx, env, *slug)
	if err != nil {
		return err
	}
	defer db.Close()
	var attempts []payments.Attempt
	var overs []payments.Overpayment
	refs := map[int64]string{}
	err = tenant.WithTx(ctx, db, t.ID, func(tx *sqlx.Tx) error {
		var err error
		if attempts, err = payments.Attempts(ctx, tx, t.ID, *limit); err != nil {
			return err
		}
		if overs, err = payments.Overpayments(ctx, tx, t.ID); err != nil {
			return err
		}
		for _, a := range attempts {
			refs[a.InvoiceID] = ""
		}
		for _, o := range overs {
			refs[o.InvoiceID] = ""
		}
		for id := range refs {
			inv, err := billing.InvoiceByID(ctx, tx, t.ID, id)
			if err != nil {
				return err
			}
			refs[id] = inv.Ref()
		}
		return nil
	})
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tCREATED\tINVOICE\tAMOUNT\tPROTOCOL\tSAISIE\tSTATUS\tRESULT\tNUMAUTO\tLOOKUPS\tIDOP")
	for _, a := range attempts {
		flag := ""
		if a.AmountMismatch {
			flag = " (amount mismatch)"
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s%s\t%s\t%s\t%d\t%s\n", a.ID, a.CreatedAt.In(tenant.Paris).Format("2006-01-02 15:04:05"),
			refs[a.InvoiceID], billing.FormatEuros(a.AmountCents), a.Protocol, a.Saisie, a.Status, flag, a.Resultrans, a.Numauto, a.Lookups, a.IDOpOrEmpty())
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if len(overs) == 0 {
		fmt.Fprintln(stdout, "\nno overpayment")
		return nil
	}
	fmt.Fprintln(stdout, "\noverpayments (trop-perçu — à rembourser):")
	w = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tCREATED\tINVOICE\tAMOUNT\tREASON\tSTATUS")
	for _, o := range overs {
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\n", o.ID, o.CreatedAt.In(tenant.Paris).Format("2006-01-02 15:04"), refs[o.InvoiceID],
			billing.FormatEuros(o.AmountCents), o.Reason, o.Status)
	}
	return w.Flush()
}
