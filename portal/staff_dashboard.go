package portal

import "github.com/gin-gonic/gin"

func (s *Server) dashboard(c *gin.Context) { s.renderError(c, errNotFound) }
