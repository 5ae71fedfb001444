package portal

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/go-redis/redis_rate/v10"
)

// limit is a rate limit kept in Redis (GCRA, through redis_rate): at most
// Rate events per Period, in bursts up to Rate.
type limit struct {
	name   string
	rate   int
	period time.Duration
}

// limits are the rate limits of the family pages. They apply the same way
// to addresses that exist and to those that do not.
type limits struct {
	loginFailuresByAddr, loginFailuresByIP limit
	linkRequestsByAddr, linkRequestsByIP   limit
	// The API: requests by key, and refused keys by address.
	apiRequestsByKey, apiAuthFailuresByIP limit
}

var defaultLimits = limits{
	loginFailuresByAddr: limit{"login-addr", 10, 15 * time.Minute},
	loginFailuresByIP:   limit{"login-ip", 50, 15 * time.Minute},
	linkRequestsByAddr:  limit{"link-addr", 5, time.Hour},
	linkRequestsByIP:    limit{"link-ip", 30, time.Hour},
	apiRequestsByKey:    limit{"api-key", 600, time.Minute},
	apiAuthFailuresByIP: limit{"api-auth-ip", 30, 15 * time.Minute},
}

func (l limit) rl() redis_rate.Limit {
	return redis_rate.Limit{Rate: l.rate, Burst: l.rate, Period: l.period}
}

func (l limit) key(k string) string { return "ratelimit:" + l.name + ":" + k }

// take spends one event of the limit for key; it returns how long to wait
// when none is left (0 when the event is allowed).
func (s *Server) take(ctx context.Context, l limit, key string) (time.Duration, error) {
	res, err := s.limiter.Allow(ctx, l.key(key), l.rl())
	if err != nil {
		return 0, fmt.Errorf("rate limit %s: %w", l.name, err)
	}
	if res.Allowed > 0 {
		return 0, nil
	}
	return res.RetryAfter, nil
}

// exhausted tells, without spending anything, whether the limit has no event
// left for key, and how long until one frees.
func (s *Server) exhausted(ctx context.Context, l limit, key string) (time.Duration, error) {
	res, err := s.limiter.AllowN(ctx, l.key(key), l.rl(), 0)
	if err != nil {
		return 0, fmt.Errorf("rate limit %s: %w", l.name, err)
	}
	if res.Remaining >= 1 {
		return 0, nil
	}
	// With nothing left, one event frees when the oldest of the burst ages
	// out: the reset time less the rest of the burst.
	interval := l.period / time.Duration(l.rate)
	wait := res.ResetAfter - time.Duration(l.rate-1)*interval
	return max(wait, time.Second), nil
}

// retryMessage says in French when to try again.
func retryMessage(d time.Duration) string {
	m := int(math.Ceil(d.Minutes()))
	switch {
	case d < time.Minute:
		return "Trop de tentatives. Par sécurité, veuillez réessayer dans une minute."
	case m == 1:
		return "Trop de tentatives. Par sécurité, veuillez réessayer dans 1 minute."
	}
	return fmt.Sprintf("Trop de tentatives. Par sécurité, veuillez réessayer dans %d minutes.", m)
}
