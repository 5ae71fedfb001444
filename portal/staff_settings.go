package portal

import "github.com/gin-gonic/gin"

func (s *Server) settingsPage(c *gin.Context)        { s.renderError(c, errNotFound) }
func (s *Server) saveSettings(c *gin.Context)        { s.renderError(c, errNotFound) }
func (s *Server) uploadLogo(c *gin.Context)          { s.renderError(c, errNotFound) }
func (s *Server) savePaymentSettings(c *gin.Context) { s.renderError(c, errNotFound) }
func (s *Server) checkDGFiP(c *gin.Context)          { s.renderError(c, errNotFound) }
func (s *Server) createSeries(c *gin.Context)        { s.renderError(c, errNotFound) }
func (s *Server) updateSeries(c *gin.Context)        { s.renderError(c, errNotFound) }
func (s *Server) logo(c *gin.Context)                { s.renderError(c, errNotFound) }
