package portal

import "github.com/gin-gonic/gin"

func (s *Server) journalPage(c *gin.Context) { s.renderError(c, errNotFound) }
func (s *Server) journalCSV(c *gin.Context)  { s.renderError(c, errNotFound) }
