package portal

import "github.com/gin-gonic/gin"

func (s *Server) familiesPage(c *gin.Context)      { s.renderError(c, errNotFound) }
func (s *Server) familyPage(c *gin.Context)        { s.renderError(c, errNotFound) }
func (s *Server) updateFamily(c *gin.Context)      { s.renderError(c, errNotFound) }
func (s *Server) addFamilyEmail(c *gin.Context)    { s.renderError(c, errNotFound) }
func (s *Server) removeFamilyEmail(c *gin.Context) { s.renderError(c, errNotFound) }
func (s *Server) resendActivation(c *gin.Context)  { s.renderError(c, errNotFound) }
func (s *Server) disableAccount(c *gin.Context)    { s.renderError(c, errNotFound) }
