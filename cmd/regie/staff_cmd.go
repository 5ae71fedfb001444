package main

import (
	"context"
	"errors"
	"io"
)

// cmdStaff manages a commune's staff from the command line.
func cmdStaff(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	return errors.New("staff: not yet")
}
