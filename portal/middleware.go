package portal

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/regie/regie/tenant"
)

// withValue stores a value on the request's context, where handlers and
// domain code find it.
func withValue(c *gin.Context, key, val any) {
	c.Request = c.Request.WithContext(context.WithValue(c.Request.Context(), key, val))
}

// setLogger makes l the request's logger (see logger).
func setLogger(c *gin.Context, l *slog.Logger) {
	c.Request = c.Request.WithContext(tenant.WithLogger(c.Request.Context(), l))
}

// requestLog gives the request an id and a logger carrying it, then logs one
// JSON line when the request ends: route, status, duration, client IP
// (X-Forwarded-For only from REGIE_TRUSTED_PROXIES) and commune.
func (s *Server) requestLog(site string) gin.HandlerFunc {
	return func(c *gin.Context) { s.logRequest(c, site) }
}

func (s *Server) logRequest(c *gin.Context, site string) {
	start := time.Now()
	b := make([]byte, 8)
	rand.Read(b)
	id := hex.EncodeToString(b)
	c.Header("X-Request-Id", id)
	setLogger(c, s.log.With("request_id", id))
	c.Next()
	route := c.FullPath()
	observeRequest(site, route, c.Request.Method, c.Writer.Status(), time.Since(start))
	if route == "" {
		route = "(none)"
	}
	logger(c.Request.Context()).Info("request",
		"method", c.Request.Method,
		"host", c.Request.Host,
		"route", route,
		"path", c.Request.URL.Path,
		"status", c.Writer.Status(),
		"duration_ms", float64(time.Since(start).Microseconds())/1000,
		"client_ip", c.ClientIP(),
		"bytes", c.Writer.Size(),
	)
}

// recoverPanic turns a panic into a logged 500 page.
func (s *Server) recoverPanic(c *gin.Context) {
	defer func() {
		if p := recover(); p != nil {
			if err, ok := p.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(p)
			}
			logger(c.Request.Context()).Error("panic", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			s.renderError(c, fmt.Errorf("panic: %v", p))
		}
	}()
	c.Next()
}

// securityHeaders sets the headers every answer carries. The CSP allows no
// inline script or style; forms may post to the platform and to DGFiP (the
// payment button's 303 leads there, and browsers apply form-action to
// redirects).
func (s *Server) securityHeaders() gin.HandlerFunc {
	formAction := "'self'"
	if s.opts.PayFiPURL != nil {
		formAction += " " + s.opts.PayFiPURL.Scheme + "://" + s.opts.PayFiPURL.Host
	}
	csp := "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
		"font-src 'self'; connect-src 'self'; form-action " + formAction + "; " +
		"frame-ancestors 'none'; base-uri 'none'"
	https := s.opts.BaseURL.Scheme == "https"
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		if https {
			h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
		}
		c.Next()
	}
}

// resolveTenant finds the commune of the host and puts it on the request's
// context; an unknown host gets the plain 404 page.
func (s *Server) resolveTenant(c *gin.Context) {
	ctx := c.Request.Context()
	t, err := s.resolver.Resolve(ctx, tenant.ParseHost(c.Request.Host, s.baseHost))
	if errors.Is(err, tenant.ErrNotFound) {
		s.unknownHost(c)
		c.Abort()
		return
	}
	if err != nil {
		s.renderError(c, fmt.Errorf("resolve host %q: %w", c.Request.Host, err))
		return
	}
	setLogger(c, logger(ctx).With("commune", t.Slug, "commune_id", t.ID))
	c.Request = c.Request.WithContext(tenant.NewContext(c.Request.Context(), t))
	c.Next()
}

// blockSuspended shows "service suspendu" (503) on a suspended commune's
// pages. Routes that record money already taken are mounted outside it.
func (s *Server) blockSuspended(c *gin.Context) {
	t, ok := tenant.FromContext(c.Request.Context())
	if ok && t.Suspended() {
		c.Header("Retry-After", "3600")
		s.render(c, http.StatusServiceUnavailable, "suspended.html", s.page(c, "Service suspendu"))
		c.Abort()
		return
	}
	c.Next()
}

// unknownHost answers a host that names no commune.
func (s *Server) unknownHost(c *gin.Context) {
	if isAPI(c) {
		writeProblem(c, apiErr(http.StatusNotFound, "commune_inconnue", "Aucune commune ne répond à cette adresse.").p)
		return
	}
	s.render(c, http.StatusNotFound, "unknown_host.html", s.page(c, "Adresse inconnue"))
}
