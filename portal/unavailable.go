package portal

import (
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/lib/pq"
)

// unavailable reports an error that says a service the request needs does
// not answer now — Redis (errUnavailable), PostgreSQL restarting or
// unreachable, a connection refused or cut — rather than a fault of the
// request or of the code: the visitor can only try again in a moment, and
// is told so (503) instead of "Erreur interne".
func unavailable(err error) bool {
	if errors.Is(err, errUnavailable) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var op *net.OpError
	if errors.As(err, &op) {
		return true
	}
	// 57P: the server is shutting down or starting; 08: connection
	// exceptions
	var pe *pq.Error
	return errors.As(err, &pe) && (strings.HasPrefix(string(pe.Code), "57P") || strings.HasPrefix(string(pe.Code), "08"))
}
