// Command regie is the one binary of Régie: the web server, the job worker,
// migrations, the operators' command line and the demo.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "regie: "+err.Error())
		}
		var u usageError
		if errors.As(err, &u) || errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// usageError is a command line that could not be understood.
type usageError string

func (e usageError) Error() string { return string(e) }

const usage = `usage: regie <command> [flags] [arguments]

commands:
  serve [--web-only]     the web server (also works jobs unless --web-only)
  worker                 background jobs only
  migrate                apply database migrations
  demo                   the whole product with embedded defaults
  tenant create|list|suspend|resume
                         manage communes
  series create          invoice series of a commune
  import [--dry-run] [--publish] FILE.csv
                         import invoice lines, all or nothing
  publish --batch ID     publish an imported batch
  invoice cancel         cancel an unpaid invoice
  payments               payment attempts and overpayments of a commune
  staff invite           invite a town hall's staff member (prints the link)
  operator create        create a platform operator (prints the link)
  dgfip-sim              the DGFiP stand-in, for tests and demos
  backup --out DIR       dump the database (pg_dump) and copy the documents
  restore --from DIR     restore a backup into an empty database and the store
  bench seed|load|run    benchmarks (see BENCHMARKS.md)

Configuration comes from REGIE_* environment variables (see README.md).`

// run executes one command. It is main without the process: tests call it.
func run(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return usageError("missing command")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return cmdServe(ctx, rest, env, stderr)
	case "worker":
		return cmdWorker(ctx, rest, env, stderr)
	case "migrate":
		return cmdMigrate(ctx, rest, env, stderr)
	case "demo":
		return cmdDemo(ctx, rest, env, stdout, stderr)
	case "tenant":
		return cmdTenant(ctx, rest, env, stdout, stderr)
	case "series":
		return cmdSeries(ctx, rest, env, stdout, stderr)
	case "import":
		return cmdImport(ctx, rest, env, stdout, stderr)
	case "publish":
		return cmdPublish(ctx, rest, env, stdout, stderr)
	case "invoice":
		return cmdInvoice(ctx, rest, env, stdout, stderr)
	case "payments":
		return cmdPayments(ctx, rest, env, stdout, stderr)
	case "staff":
		return cmdStaff(ctx, rest, env, stdout, stderr)
	case "operator":
		return cmdOperator(ctx, rest, env, stdout, stderr)
	case "dgfip-sim":
		return cmdDGFiPSim(ctx, rest, stdout, stderr)
	case "backup":
		return cmdBackup(ctx, rest, env, stdout, stderr)
	case "restore":
		return cmdRestore(ctx, rest, env, stdout, stderr)
	case "bench":
		return cmdBench(ctx, rest, env, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	fmt.Fprintln(stderr, usage)
	return usageError(fmt.Sprintf("unknown command %q", cmd))
}

// newFlags returns a flag set that reports errors instead of exiting.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("regie "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses flags and checks the number of remaining arguments.
func parseFlags(fs *flag.FlagSet, args []string, nargs int, what string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError(err.Error())
	}
	if fs.NArg() != nargs {
		if nargs == 0 {
			return usageError(fmt.Sprintf("%s takes no arguments (got %q); flags go before arguments", fs.Name(), fs.Args()))
		}
		return usageError(fmt.Sprintf("%s expects %s", fs.Name(), what))
	}
	return nil
}
