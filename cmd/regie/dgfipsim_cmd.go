package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/regie/regie/payments/dgfipsim"
)

// clientFlags collects repeated --client NUMCLI="LABEL" flags.
type clientFlags map[string]string

func (c clientFlags) String() string { return fmt.Sprint(map[string]string(c)) }

func (c clientFlags) Set(v string) error {
	numcli, label, ok := strings.Cut(v, "=")
	if !ok || len(numcli) != 6 {
		return errors.New(`expected NUMCLI="LABEL", such as 001964="MAIRIE DE DEMONSTRATION"`)
	}
	c[numcli] = strings.Trim(label, `"`)
	return nil
}

// demoClients are the client numbers of the demo communes and their series.
var demoClients = map[string]string{
	"001964": "MAIRIE DE DEMONSTRATION - RESTAURATION SCOLAIRE",
	"001965": "MAIRIE DE DEMONSTRATION - ACCUEIL PERISCOLAIRE",
	"002741": "MAIRIE DE VILLES SUR AUZON",
}

// cmdDGFiPSim runs the DGFiP stand-in on its own port.
func cmdDGFiPSim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("dgfip-sim", stderr)
	listen := fs.String("listen", ":8090", "listen address")
	clients := clientFlags{}
	fs.Var(clients, "client", `a known client number and its label, NUMCLI="LABEL" (repeatable; default: the demo's)`)
	if err := parseFlags(fs, args, 0, ""); err != nil {
		return err
	}
	if len(clients) == 0 {
		clients = demoClients
	}
	sim := dgfipsim.New(dgfipsim.Options{Clients: clients, Log: newLogger(stderr)})
	defer sim.Close()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", *listen, err)
	}
	fmt.Fprintf(stdout, "DGFiP stand-in on http://%s (REGIE_PAYFIP_URL); test cards 4242 4242 4242 4242 (accepted), 4000 0000 0000 0002 (refused)\n", ln.Addr())
	return serveUntil(ctx, ln, sim)
}

// serveUntil serves h on ln until ctx ends.
func serveUntil(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
