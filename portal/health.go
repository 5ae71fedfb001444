package portal

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// healthz says the process is alive; it checks nothing else, so that an
// orchestrator does not restart every instance when a dependency is down.
func (s *Server) healthz(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.String(http.StatusOK, "ok\n")
}

// readyz says whether this instance can serve: PostgreSQL and Redis answer.
func (s *Server) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	status := http.StatusOK
	report := gin.H{"postgres": "ok", "redis": "ok"}
	if err := s.db.PingContext(ctx); err != nil {
		status, report["postgres"] = http.StatusServiceUnavailable, "indisponible"
		logger(ctx).Warn("readyz: postgres", "err", err)
	}
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		status, report["redis"] = http.StatusServiceUnavailable, "indisponible"
		logger(ctx).Warn("readyz: redis", "err", err)
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(status, report)
}
