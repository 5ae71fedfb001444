package main

import (
	"context"
	"errors"
	"io"
)

// cmdWorker works background jobs only.
func cmdWorker(ctx context.Context, args []string, env func(string) string, stderr io.Writer) error {
	return errors.New("worker: not wired yet")
}
