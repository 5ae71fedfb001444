// Package portal is the web face of Régie and the only package that imports
// Gin: routes and middleware, sessions, accounts, CSRF, rate limits, pages,
// the JSON API, and every e-mail.
package portal

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"
	"github.com/redis/go-redis/v9"

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
}

// Deps are the shared services the portal runs on.
type Deps struct {
	DB       *sqlx.DB
	Redis    *redis.Client
	Tenants  *tenant.Store
	Resolver *tenant.Resolver
	Log      *slog.Logger
}

// Server answers every host of the platform.
type Server struct {
	opts     Options
	baseHost string // host of BaseURL without port
	db       *sqlx.DB
	rdb      *redis.Client
	tenants  *tenant.Store
	resolver *tenant.Resolver
	log      *slog.Logger
	views    *views
	static   *staticFiles

	commune, base, admin, payment, unknown http.Handler
}

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
	s := &Server{
		opts:     opts,
		baseHost: strings.ToLower(opts.BaseURL.Hostname()),
		db:       deps.DB,
		rdb:      deps.Redis,
		tenants:  deps.Tenants,
		resolver: deps.Resolver,
		log:      deps.Log,
		views:    v,
		static:   st,
	}
	if err := s.routes(); err != nil {
		return nil, err
	}
	return s, nil
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
	u := *s.opts.BaseURL
	u.Host = t.Slug + "." + u.Host
	u.Path = path
	u.RawQuery = ""
	return u.String()
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
