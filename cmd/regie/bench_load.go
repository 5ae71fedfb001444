package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/regie/regie/cmd/regie/internal/bench"
)

// cmdBenchLoad logs families of a seeded profile in on a running server and
// loads /factures and /factures/:id, at the maximum and at fixed rates.
func cmdBenchLoad(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("bench load", stderr)
	profile := fs.String("profile", "small", "the seeded data set: "+strings.Join(bench.ProfileNames(), "|"))
	users := fs.Int("users", 400, "families to log in")
	workers := fs.Int("workers", 16, "concurrent clients at the maximum rate")
	rates := fs.String("rates", "", "fixed rates per second, comma-separated (empty: the maximum only)")
	dur := fs.Duration("duration", 15*time.Second, "length of each step")
	if err := parseFlags(fs, args, 0, ""); err != nil {
		return err
	}
	p, ok := bench.Profiles[*profile]
	if !ok {
		return usageError(fmt.Sprintf("bench load: unknown profile %q", *profile))
	}
	cfg, err := loadConfig(env, needBase)
	if err != nil {
		return err
	}
	var fixed []float64
	for _, s := range strings.Split(*rates, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		var r float64
		if _, err := fmt.Sscanf(s, "%g", &r); err != nil || r <= 0 {
			return usageError(fmt.Sprintf("bench load: bad rate %q", s))
		}
		fixed = append(fixed, r)
	}
	tr := bench.Transport()
	us := bench.PickUsers(bench.ShapeFor(p), cfg.BaseURL, *users, 1)
	began := time.Now()
	if err := bench.LoginAll(ctx, us, tr, bench.Password, 8); err != nil {
		return fmt.Errorf("bench load: login: %w", err)
	}
	fmt.Fprintf(stdout, "logged in %d families in %.1f s\n", len(us), time.Since(began).Seconds())
	for _, step := range []struct {
		name string
		req  bench.Request
	}{{"GET /factures", bench.InvoicesPage}, {"GET /factures/:id", bench.InvoicePage}} {
		fmt.Fprintln(stdout, bench.Run(ctx, step.name, us, step.req, 0, *workers, *dur))
		for _, r := range fixed {
			fmt.Fprintln(stdout, bench.Run(ctx, step.name, us, step.req, r, 4**workers, *dur))
		}
	}
	return nil
}

// cmdBenchHTTPCeiling serves pages from memory as HTML on every GET from a
// bare Gin engine: what HTTP costs on this machine with no work behind it,
// with the garbage collector tuned as the server's. The pages are the
// *.html files of a folder, in name order; a request gets the one its
// cookie "page" numbers (0 without it).
func cmdBenchHTTPCeiling(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlags("bench http-ceiling", stderr)
	listen := fs.String("listen", "127.0.0.1:8099", "listen address")
	dir := fs.String("pages", "", "the folder of the pages to serve")
	if err := parseFlags(fs, args, 0, ""); err != nil {
		return err
	}
	files, err := filepath.Glob(filepath.Join(*dir, "*.html"))
	if err == nil && len(files) == 0 {
		err = errors.New("no .html file")
	}
	if err != nil {
		return usageError(fmt.Sprintf("bench http-ceiling: --pages %q: %v", *dir, err))
	}
	pages := make([][]byte, len(files)) // Glob sorts the names
	for i, f := range files {
		if pages[i], err = os.ReadFile(f); err != nil {
			return err
		}
	}
	tuneGC() // the garbage collector's settings of `regie serve`
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: ceilingHandler(pages), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// ceilingHandler is the bare Gin engine of the HTTP ceiling: the page its
// cookie "page" numbers, else the first.
func ceilingHandler(pages [][]byte) http.Handler {
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.GET("/*path", func(c *gin.Context) {
		v, _ := c.Cookie("page")
		i, err := strconv.Atoi(v)
		if err != nil || i < 0 || i >= len(pages) {
			i = 0
		}
		c.Data(http.StatusOK, "text/html; charset=utf-8", pages[i])
	})
	return e
}

// baseURL is http://localhost:<port of addr>.
func baseURL(addr string) *url.URL {
	_, port, _ := net.SplitHostPort(addr)
	return &url.URL{Scheme: "http", Host: "localhost:" + port}
}

// cmdBenchServe is `regie serve --web-only` with Go's profiler on a second,
// loopback address: what `bench run --pprof` profiles.
func cmdBenchServe(ctx context.Context, args []string, env func(string) string, stderr io.Writer) error {
	fs := newFlags("bench serve", stderr)
	pprofAddr := fs.String("pprof", "127.0.0.1:6060", "where /debug/pprof/ answers")
	if err := parseFlags(fs, args, 0, ""); err != nil {
		return err
	}
	cfg, err := loadConfig(env, needServer)
	if err != nil {
		return err
	}
	tuneGC() // as `regie serve`
	a, err := newApp(ctx, cfg, stderr, appOptions{})
	if err != nil {
		return err
	}
	defer a.close()
	pln, err := net.Listen("tcp", *pprofAddr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	go http.Serve(pln, mux) //nolint:errcheck // ends with the process
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("REGIE_LISTEN %s: %w", cfg.Listen, err)
	}
	return a.serve(ctx, ln, false)
}
