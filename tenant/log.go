package tenant

import (
	"context"
	"log/slog"
)

type logKey struct{}

// WithLogger returns ctx carrying l, the logger of a request or a job: the
// one that names its request id or job, and its commune, on every line.
func WithLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, logKey{}, l)
}

// Logger returns the logger ctx carries, else fallback, else the default.
func Logger(ctx context.Context, fallback *slog.Logger) *slog.Logger {
	if l, ok := ctx.Value(logKey{}).(*slog.Logger); ok {
		return l
	}
	if fallback != nil {
		return fallback
	}
	return slog.Default()
}
