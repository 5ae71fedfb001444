package portal

import (
	"github.com/gin-gonic/gin"
	"github.com/riverqueue/river"
)

func (s *Server) importPage(c *gin.Context)    { s.renderError(c, errNotFound) }
func (s *Server) uploadPage(c *gin.Context)    { s.renderError(c, errNotFound) }
func (s *Server) batchPage(c *gin.Context)     { s.renderError(c, errNotFound) }
func (s *Server) upload(c *gin.Context)        { s.renderError(c, errNotFound) }
func (s *Server) confirmUpload(c *gin.Context) { s.renderError(c, errNotFound) }
func (s *Server) publishBatch(c *gin.Context)  { s.renderError(c, errNotFound) }
func (s *Server) cancelBatch(c *gin.Context)   { s.renderError(c, errNotFound) }

// addImportWorkers registers the jobs of uploaded imports.
func addImportWorkers(w *river.Workers, d WorkerDeps) error { return nil }
