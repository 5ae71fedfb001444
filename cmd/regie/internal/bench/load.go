package bench

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/regie/regie/tenant"
)

// User is a family logged in on its commune's host.
type User struct {
	Base     *url.URL // http://commune-00042.localhost:8080
	Email    string
	Invoices []int64 // the ids "Mes factures" links to
	client   *http.Client
}

// Transport is the HTTP transport of the load: it sends *.localhost to
// 127.0.0.1 itself (Go's resolver does not) and keeps enough idle
// connections for every worker.
func Transport() *http.Transport {
	return &http.Transport{
		DialContext:         tenant.DialLocalhost,
		MaxIdleConns:        4096,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
}

// PickUsers draws n families as pgbench's script does: a commune uniformly
// among the profile's, then one of its families uniformly. base is the
// platform's URL (http://localhost:8080).
func PickUsers(shape Shape, base *url.URL, n int, seed uint64) []*User {
	rnd := rand.New(rand.NewPCG(seed, 9))
	seen := map[[2]int]bool{}
	var out []*User
	for len(out) < n && len(seen) < shape.TotalFamilies() {
		r := 1 + rnd.IntN(shape.Communes)
		k := 1 + rnd.IntN(shape.Families(r))
		if seen[[2]int{r, k}] {
			continue
		}
		seen[[2]int{r, k}] = true
		u := *base
		u.Host = Slug(r) + "." + base.Host
		out = append(out, &User{Base: &u, Email: Email(k)})
	}
	return out
}

var (
	csrfRe    = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
	invoiceRe = regexp.MustCompile(`href="/factures/([0-9]+)"`)
)

// Login logs the user in (the login page for the CSRF token and cookie,
// then POST /connexion), then reads "Mes factures" for the invoice ids.
func (u *User) Login(ctx context.Context, tr http.RoundTripper, password string) error {
	jar, _ := cookiejar.New(nil)
	u.client = &http.Client{Transport: tr, Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	page, _, err := u.get(ctx, "/")
	if err != nil {
		return err
	}
	m := csrfRe.FindSubmatch(page)
	if m == nil {
		return fmt.Errorf("%s: no csrf_token on the login page", u.Base.Host)
	}
	form := url.Values{"email": {u.Email}, "password": {password}, "csrf_token": {html.UnescapeString(string(m[1]))}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.Base.String()+"/connexion", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := u.client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body) //nolint:errcheck // draining for reuse
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return fmt.Errorf("%s %s: login answered %d", u.Base.Host, u.Email, resp.StatusCode)
	}
	list, _, err := u.get(ctx, "/factures")
	if err != nil {
		return err
	}
	for _, m := range invoiceRe.FindAllSubmatch(list, -1) {
		id, _ := strconv.ParseInt(string(m[1]), 10, 64)
		u.Invoices = append(u.Invoices, id)
	}
	if len(u.Invoices) == 0 {
		return fmt.Errorf("%s %s: no invoice on /factures", u.Base.Host, u.Email)
	}
	return nil
}

// Anonymous gives the user a client without logging in (the HTTP
// ceiling serves anyone), the invoice ids to ask for, and the cookie
// "page=<page>": which of its pages the HTTP ceiling answers with.
func (u *User) Anonymous(tr http.RoundTripper, invoices []int64, page int) {
	jar, _ := cookiejar.New(nil)
	jar.SetCookies(u.Base, []*http.Cookie{{Name: "page", Value: strconv.Itoa(page)}})
	u.client = &http.Client{Transport: tr, Jar: jar, Timeout: 30 * time.Second}
	u.Invoices = invoices
}

// Get fetches a path and requires a 200.
func (u *User) Get(ctx context.Context, path string) ([]byte, error) {
	body, _, err := u.get(ctx, path)
	return body, err
}

// get fetches a path and requires a 200.
func (u *User) get(ctx context.Context, path string) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.Base.String()+path, nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := u.client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, resp.StatusCode, err
	}
	if resp.StatusCode != http.StatusOK {
		return body, resp.StatusCode, fmt.Errorf("GET %s%s: %d", u.Base.Host, path, resp.StatusCode)
	}
	return body, resp.StatusCode, nil
}

// LoginAll logs users in with a few at once (argon2id allows about two
// per core on the server anyway) and returns those that succeeded; it fails
// if any did not.
func LoginAll(ctx context.Context, users []*User, tr http.RoundTripper, password string, parallel int) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, len(users))
	for range parallel {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(users)); i = next.Add(1) - 1 {
				errs[i] = users[i].Login(ctx, tr, password)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Request is one kind of request of the load.
type Request func(ctx context.Context, u *User, rnd *rand.Rand) error

// InvoicesPage is GET /factures.
func InvoicesPage(ctx context.Context, u *User, _ *rand.Rand) error {
	_, _, err := u.get(ctx, "/factures")
	return err
}

// InvoicePage is GET /factures/:id of one of the user's invoices.
func InvoicePage(ctx context.Context, u *User, rnd *rand.Rand) error {
	_, _, err := u.get(ctx, "/factures/"+strconv.FormatInt(u.Invoices[rnd.IntN(len(u.Invoices))], 10))
	return err
}

// Result is what one load step measured.
type Result struct {
	Name       string
	Rate       float64 // asked for; 0 at the maximum
	Workers    int
	Duration   time.Duration
	Requests   int64
	Errors     int64
	FirstError string
	Throughput float64 // successful requests per second
	P50, P95   time.Duration
	P99, Max   time.Duration
}

func (r Result) String() string {
	rate := "max"
	if r.Rate > 0 {
		rate = fmt.Sprintf("%.0f/s", r.Rate)
	}
	return fmt.Sprintf("%-28s rate %-8s %7.0f req/s  p50 %6.2f ms  p95 %6.2f ms  p99 %6.2f ms  max %7.2f ms  (%d requests, %d errors)",
		r.Name, rate, r.Throughput, ms(r.P50), ms(r.P95), ms(r.P99), ms(r.Max), r.Requests, r.Errors)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Run sends requests for d, each from a user drawn at random: at rate per
// second (open loop: latency counts from when the request was due, so a
// server that falls behind is not hidden by a driver that waits), or with
// rate 0 as fast as workers concurrent clients can (closed loop).
func Run(ctx context.Context, name string, users []*User, req Request, rate float64, workers int, d time.Duration) Result {
	hist := hdrhistogram.New(1, int64(time.Minute/time.Microsecond), 3)
	var mu sync.Mutex
	var requests, failures atomic.Int64
	var firstErr atomic.Value
	record := func(lat time.Duration, err error) {
		requests.Add(1)
		if err != nil {
			failures.Add(1)
			firstErr.CompareAndSwap(nil, err.Error())
			return
		}
		mu.Lock()
		hist.RecordValue(max(1, lat.Microseconds())) //nolint:errcheck // beyond a minute is clamped below
		mu.Unlock()
	}
	rctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	began := time.Now()
	var wg sync.WaitGroup
	if rate <= 0 {
		for w := range workers {
			wg.Go(func() {
				rnd := rand.New(rand.NewPCG(uint64(w), 1))
				for rctx.Err() == nil {
					u := users[rnd.IntN(len(users))]
					t0 := time.Now()
					err := req(ctx, u, rnd)
					if rctx.Err() == nil {
						record(time.Since(t0), err)
					}
				}
			})
		}
	} else {
		due := make(chan time.Time, 1<<16)
		for w := range workers {
			wg.Go(func() {
				rnd := rand.New(rand.NewPCG(uint64(w), 2))
				for at := range due {
					u := users[rnd.IntN(len(users))]
					err := req(ctx, u, rnd)
					record(time.Since(at), err)
				}
			})
		}
		interval := time.Duration(float64(time.Second) / rate)
		for i := 0; ; i++ {
			at := began.Add(time.Duration(i) * interval)
			if at.Sub(began) >= d {
				break
			}
			if wait := time.Until(at); wait > 0 {
				select {
				case <-time.After(wait):
				case <-rctx.Done():
				}
			}
			if ctx.Err() != nil {
				break
			}
			due <- at
		}
		close(due)
	}
	wg.Wait()
	elapsed := time.Since(began)
	res := Result{Name: name, Rate: rate, Workers: workers, Duration: elapsed, Requests: requests.Load(), Errors: failures.Load(),
		P50: us(hist.ValueAtQuantile(50)), P95: us(hist.ValueAtQuantile(95)), P99: us(hist.ValueAtQuantile(99)), Max: us(hist.Max())}
	if s, ok := firstErr.Load().(string); ok {
		res.FirstError = s
	}
	res.Throughput = float64(res.Requests-res.Errors) / elapsed.Seconds()
	return res
}

func us(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
