package portal

import "github.com/gin-gonic/gin"

func (s *Server) teamPage(c *gin.Context)    { s.renderError(c, errNotFound) }
func (s *Server) inviteStaff(c *gin.Context) { s.renderError(c, errNotFound) }
func (s *Server) changeRole(c *gin.Context)  { s.renderError(c, errNotFound) }
func (s *Server) resetTOTP(c *gin.Context)   { s.renderError(c, errNotFound) }
func (s *Server) removeStaff(c *gin.Context) { s.renderError(c, errNotFound) }
func (s *Server) auditPage(c *gin.Context)   { s.renderError(c, errNotFound) }
