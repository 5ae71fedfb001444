// Package portal is the web face of Régie and the only package that imports
// Gin: routes and middleware, sessions, accounts, CSRF, rate limits, pages,
// the JSON API, and every e-mail.
package portal

import (
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-redis/redis_rate/v10"
	"github.com/jmoiron/sqlx"
	"github.com/redis/go-redis/v9"
	"github.com/riverqueue/river"

	"github.com/regie/regie/billing/docstore"
	"github.com/regie/regie/payments"
	"github.com/regie/regie/portal/account"
	"github.com/regie/regie/portal/mfa"
	"github.com/regie/regie/portal/session"
	"github.com/regie/regie/tenant"
)

// Options are the settings of the portal, read by cmd/regie from the
// environment.
type Options struct {
	// BaseURL is the public URL of the platform; communes are <slug>. + its
	// host, with its scheme and port.
	BaseURL *url.URL
	// Secret keys signed tokens and CSRF (at least 32 bytes).
	Secret []byte
	// TrustedProxies are the CIDRs whose X-Forwarded-For is believed.
	TrustedProxies []string
	// PayFiPURL is DGFiP's base URL; forms may post there.
	PayFiPURL *url.URL
	// PasswordMinLength is the minimum length of a new password.
	PasswordMinLength int
	// TIPIAllowedIPs, if not empty, are the only addresses whose TIPI
	// results are taken.
	TIPIAllowedIPs []netip.Prefix
	// MetricsToken, if set, is the bearer token /metrics requires;
	// without it /metrics answers only on loopback.
	MetricsToken string
}

// Deps are the shared services the portal runs on.
type Deps struct {
	DB       *sqlx.DB
	Redis    *redis.Client
	Tenants  *tenant.Store
	Resolver *tenant.Resolver
	// Jobs inserts background jobs (mails, link requests) in the
	// transaction of the change that causes them.
	Jobs *river.Client[*sql.Tx]
	// Docs stores invoice PDFs and logos.
	Docs docstore.Store
	// Payments takes payments through DGFiP.
	Payments *payments.Service
	Log      *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Server answers every host of the platform.
type Server struct {
	opts     Options
	baseHost string // host of BaseURL without port
	db       *sqlx.DB
	rdb      *redis.Client
	tenants  *tenant.Store
	resolver *tenant.Resolver
	jobs     *river.Client[*sql.Tx]
	docs     docstore.Store
	payments *payments.Service
	dgfip    *dgfipChecks
	log      *slog.Logger
	now      func() time.Time
	views    *views
	static   *staticFiles
	sessions *session.Store
	limiter  *redis_rate.Limiter
	limits   limits
	uploads  *uploadLimits
	hasher   *account.Hasher
	sealer   *mfa.Sealer

	commune, base, admin, payment, unknown http.Handler
	ops                                    http.Handler
}

// Ops is what a worker process serves on its port: /healthz, /readyz and
// /metrics, nothing else.
func (s *Server) Ops() http.Handler { return s.ops }

// New builds the portal. It parses every template, so a broken page stops
// the start rather than a request.
func New(opts Options, deps Deps) (*Server, error) {
	if opts.BaseURL == nil || opts.BaseURL.Host == "" {
		return nil, fmt.Errorf("portal: base URL missing")
	}
	if len(opts.Secret) < 32 {
		return nil, fmt.Errorf("portal: secret shorter than 32 bytes")
	}
	st, err := loadStatic()
	if err != nil {
		return nil, err
	}
	v, err := loadViews(st)
	if err != nil {
		return nil, err
	}
	if opts.PasswordMinLength < 5 {
		opts.PasswordMinLength = 8
	}
	s := &Server{
		opts:     opts,
		baseHost: strings.ToLower(opts.BaseURL.Hostname()),
		db:       deps.DB,
		rdb:      deps.Redis,
		tenants:  deps.Tenants,
		resolver: deps.Resolver,
		jobs:     deps.Jobs,
		docs:     deps.Docs,
		payments: deps.Payments,
		dgfip:    &dgfipChecks{m: map[string]dgfipCheck{}},
		log:      deps.Log,
		now:      deps.Now,
		views:    v,
		static:   st,
		sessions: session.NewStore(deps.Redis),
		limiter:  redis_rate.NewLimiter(deps.Redis),
		limits:   defaultLimits,
		uploads:  defaultUploadLimits(),
		hasher:   account.NewHasher(),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.sealer, err = mfa.NewSealer(opts.Secret); err != nil {
		return nil, err
	}
	if err := s.routes(); err != nil {
		return nil, err
	}
	return s, nil
}

// tipiSenderAllowed says whether an address may post TIPI results.
func (s *Server) tipiSenderAllowed(ip string) bool {
	if len(s.opts.TIPIAllowedIPs) == 0 {
		return true
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	for _, p := range s.opts.TIPIAllowedIPs {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// ServeHTTP sends each request to the engine of its host's kind.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch tenant.ParseHost(r.Host, s.baseHost).Kind {
	case tenant.HostCommune, tenant.HostCustom:
		s.commune.ServeHTTP(w, r)
	case tenant.HostBase:
		s.base.ServeHTTP(w, r)
	case tenant.HostAdmin:
		s.admin.ServeHTTP(w, r)
	case tenant.HostPayment:
		s.payment.ServeHTTP(w, r)
	default:
		s.unknown.ServeHTTP(w, r)
	}
}

// communeURL returns the public URL of a commune's portal, path included.
func (s *Server) communeURL(t tenant.Tenant, path string) string {
	return tenant.PortalURL(s.opts.BaseURL, t, path)
}

func newEngine() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.RedirectTrailingSlash = false
	e.RedirectFixedPath = false
	e.HandleMethodNotAllowed = true
	e.ContextWithFallback = true
	return e
}
