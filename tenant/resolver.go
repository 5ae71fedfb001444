package tenant

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"
)

// InvalidationChannel is the Redis pub/sub channel on which a change to a
// commune is announced (the payload is its id), so that every instance drops
// its cached copy within a second.
const InvalidationChannel = "regie:tenant-changed"

// Cache lifetimes. The TTL bounds how stale a copy can get while Redis is
// unreachable; unknown hosts are remembered briefly so that a flood of random
// Host headers does not reach the database.
const (
	positiveTTL = 30 * time.Second
	negativeTTL = 5 * time.Second
	maxEntries  = 100_000
)

// Resolver finds the commune of a host, through an in-process cache that
// Redis pub/sub invalidates.
type Resolver struct {
	store *Store
	rdb   *redis.Client
	log   *slog.Logger
	now   func() time.Time

	mu      sync.Mutex
	entries map[string]entry
	group   singleflight.Group
}

type entry struct {
	t       Tenant
	found   bool
	expires time.Time
}

// NewResolver returns a resolver reading store and listening on rdb.
func NewResolver(store *Store, rdb *redis.Client, log *slog.Logger) *Resolver {
	return &Resolver{store: store, rdb: rdb, log: log, now: time.Now, entries: map[string]entry{}}
}

// Resolve returns the commune a commune or custom-domain host names. It
// returns ErrNotFound for other kinds and for hosts no commune owns.
func (r *Resolver) Resolve(ctx context.Context, h Host) (Tenant, error) {
	var key string
	switch h.Kind {
	case HostCommune:
		key = "s:" + h.Slug
	case HostCustom:
		key = "d:" + h.Domain
	default:
		return Tenant{}, ErrNotFound
	}
	now := r.now()
	r.mu.Lock()
	e, ok := r.entries[key]
	r.mu.Unlock()
	if ok && now.Before(e.expires) {
		if !e.found {
			return Tenant{}, ErrNotFound
		}
		return e.t, nil
	}
	v, err, _ := r.group.Do(key, func() (any, error) {
		var t Tenant
		var err error
		if h.Kind == HostCommune {
			t, err = r.store.BySlug(ctx, h.Slug)
		} else {
			t, err = r.store.ByDomain(ctx, h.Domain)
		}
		switch {
		case err == nil:
			r.put(key, entry{t: t, found: true, expires: r.now().Add(positiveTTL)})
		case errors.Is(err, ErrNotFound):
			r.put(key, entry{expires: r.now().Add(negativeTTL)})
		}
		return t, err
	})
	if err != nil {
		return Tenant{}, err
	}
	return v.(Tenant), nil
}

func (r *Resolver) put(key string, e entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.entries) >= maxEntries {
		now := r.now()
		for k, old := range r.entries {
			if !now.Before(old.expires) {
				delete(r.entries, k)
			}
		}
		if len(r.entries) >= maxEntries {
			r.entries = map[string]entry{}
		}
	}
	r.entries[key] = e
}

// Invalidate drops this instance's cached copy of commune id and every cached
// "unknown host" (a new custom domain may now exist).
func (r *Resolver) Invalidate(id ID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, e := range r.entries {
		if !e.found || e.t.ID == id {
			delete(r.entries, k)
		}
	}
}

func (r *Resolver) flush() {
	r.mu.Lock()
	r.entries = map[string]entry{}
	r.mu.Unlock()
}

// Listen follows the invalidation channel until ctx ends, reconnecting with
// back-off when Redis goes away; after each (re)subscription it empties the
// cache, since announcements may have been missed meanwhile. ready, if not
// nil, is closed once the first subscription is confirmed.
func (r *Resolver) Listen(ctx context.Context, ready chan<- struct{}) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		ps := r.rdb.Subscribe(ctx, InvalidationChannel)
		if _, err := ps.Receive(ctx); err != nil {
			ps.Close()
			if ctx.Err() == nil {
				r.log.Warn("tenant cache: cannot subscribe to invalidations, retrying", "err", err, "retry_in", backoff)
			}
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		r.flush()
		if ready != nil {
			close(ready)
			ready = nil
		}
		for {
			msg, err := ps.ReceiveMessage(ctx)
			if err != nil {
				break
			}
			id, err := strconv.ParseInt(msg.Payload, 10, 64)
			if err != nil {
				r.flush()
				continue
			}
			r.Invalidate(ID(id))
		}
		ps.Close()
	}
}

// Announce tells every instance that commune id changed. It is best effort:
// without Redis, caches catch up within their TTL.
func Announce(ctx context.Context, rdb *redis.Client, id ID) error {
	return rdb.Publish(ctx, InvalidationChannel, strconv.FormatInt(int64(id), 10)).Err()
}
