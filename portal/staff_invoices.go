package portal

import "github.com/gin-gonic/gin"

func (s *Server) staffInvoicesPage(c *gin.Context)  { s.renderError(c, errNotFound) }
func (s *Server) staffInvoicePage(c *gin.Context)   { s.renderError(c, errNotFound) }
func (s *Server) staffInvoicePDF(c *gin.Context)    { s.renderError(c, errNotFound) }
func (s *Server) staffCancelInvoice(c *gin.Context) { s.renderError(c, errNotFound) }
func (s *Server) counterPayment(c *gin.Context)     { s.renderError(c, errNotFound) }
