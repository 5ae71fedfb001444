package portal

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // the logo formats, registered for image.DecodeConfig
	_ "image/png"
	"io"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/billing/docstore"
	"github.com/regie/regie/portal/audit"
	"github.com/regie/regie/tenant"
)

// Limits of a commune's logo: it heads every page and every invoice PDF.
const (
	maxLogoBytes  = 500 << 10
	maxLogoPixels = 2000
	// maxLogoBody bounds the whole upload: the file plus the form around it.
	maxLogoBody = maxLogoBytes + 64<<10
)

// logoFormats are the image formats a logo may have, with the extension
// its key carries (the folder store tells the content type by it).
var logoFormats = map[string]struct{ ext, contentType string }{
	"png":  {".png", "image/png"},
	"jpeg": {".jpg", "image/jpeg"},
}

// uploadLogo stores a new logo with the commune's documents (or removes
// it, with the "supprimer" button). The format is read from the image
// itself, never from the file's name.
func (s *Server) uploadLogo(c *gin.Context) {
	ctx := c.Request.Context()
	sess, _ := staffFrom(c)
	// limitBody bounds the body (and removes the temporary files); the CSRF
	// check usually parsed the form already, else it happens here
	err := c.Request.ParseMultipartForm(1 << 20)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		s.logoRejected(c, http.StatusRequestEntityTooLarge, fmt.Sprintf("Ce fichier est trop lourd : le logo doit peser %d Ko au plus.", maxLogoBytes>>10))
		return
	}
	if c.Request.PostFormValue("supprimer") != "" {
		s.saveLogoKey(c, "", "Le logo est retiré.")
		return
	}
	if err != nil && !errors.Is(err, http.ErrNotMultipart) {
		logger(ctx).Info("unreadable logo upload", "err", err)
	}
	f, fh, err := c.Request.FormFile("logo")
	if err != nil {
		s.logoRejected(c, http.StatusUnprocessableEntity, "Choisissez un fichier PNG ou JPEG à envoyer.")
		return
	}
	defer f.Close()
	if fh.Size > maxLogoBytes {
		s.logoRejected(c, http.StatusRequestEntityTooLarge, fmt.Sprintf("Ce fichier pèse %d Ko : le logo doit peser %d Ko au plus.", (fh.Size+1023)>>10, maxLogoBytes>>10))
		return
	}
	data, err := io.ReadAll(io.LimitReader(f, maxLogoBytes+1))
	if err != nil {
		s.renderError(c, err)
		return
	}
	if len(data) > maxLogoBytes {
		s.logoRejected(c, http.StatusRequestEntityTooLarge, fmt.Sprintf("Ce fichier est trop lourd : le logo doit peser %d Ko au plus.", maxLogoBytes>>10))
		return
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	kind, known := logoFormats[format]
	if err != nil || !known {
		s.logoRejected(c, http.StatusUnprocessableEntity, "Ce fichier n'est pas une image PNG ou JPEG : enregistrez votre logo dans l'un de ces formats.")
		return
	}
	if cfg.Width < 1 || cfg.Height < 1 || cfg.Width > maxLogoPixels || cfg.Height > maxLogoPixels {
		s.logoRejected(c, http.StatusUnprocessableEntity, fmt.Sprintf("Cette image mesure %d × %d pixels : le logo doit mesurer %d × %d pixels au plus.",
			cfg.Width, cfg.Height, maxLogoPixels, maxLogoPixels))
		return
	}
	// the header was fine; the pixels must be too, since every invoice
	// PDF embeds the logo
	if _, _, err := image.Decode(bytes.NewReader(data)); err != nil {
		s.logoRejected(c, http.StatusUnprocessableEntity, "Cette image est endommagée : enregistrez-la à nouveau depuis votre logiciel, puis envoyez-la.")
		return
	}
	sum := sha256.Sum256(data)
	key := docstore.LogoKey(sess.TenantID, hex.EncodeToString(sum[:4])+kind.ext)
	if err := s.docs.Put(ctx, key, bytes.NewReader(data), int64(len(data)), kind.contentType); err != nil {
		s.renderError(c, fmt.Errorf("store logo: %w", err))
		return
	}
	s.saveLogoKey(c, key, "Le logo est enregistré.")
}

// saveLogoKey points the commune at its new logo (or none), audits the
// change, then removes the logo it replaces.
func (s *Server) saveLogoKey(c *gin.Context, key, done string) {
	ctx := c.Request.Context()
	sess, _ := staffFrom(c)
	var old string
	changed := false
	err := s.inStaffTx(c, func(tx *sqlx.Tx) error {
		before, after, err := tenant.SetLogo(ctx, tx, sess.TenantID, key)
		if err != nil || before.LogoKey == after.LogoKey {
			return err
		}
		old, changed = before.LogoKey, true
		return audit.Record(ctx, tx, sess.TenantID, actor(c), audit.Entry{Action: "tenant.logo", TargetType: "tenant",
			TargetID: itoa(int64(sess.TenantID)), Before: logoAudit{old}, After: logoAudit{key}})
	})
	if err != nil {
		if key != "" && !changed {
			s.dropLogo(c, key) // stored for nothing
		}
		s.renderError(c, err)
		return
	}
	if changed {
		s.tenantChanged(ctx, sess.TenantID)
		if old != "" {
			s.dropLogo(c, old)
		}
	}
	s.setFlash(c, flash{Msg: done})
	c.Redirect(http.StatusSeeOther, "/gestion/parametres#logo")
}

// logoAudit is a logo as the audit log records it.
type logoAudit struct {
	Key string `json:"logo_key"`
}

func (s *Server) dropLogo(c *gin.Context, key string) {
	ctx := c.Request.Context()
	if err := s.docs.Delete(ctx, key); err != nil {
		logger(ctx).Warn("remove logo", "key", key, "err", err)
	}
}

// logoRejected shows the settings page again with the logo's error.
func (s *Server) logoRejected(c *gin.Context, status int, msg string) {
	logger(c.Request.Context()).Info("logo refused", "reason", msg)
	v, err := s.settingsData(c)
	if err != nil {
		s.renderError(c, err)
		return
	}
	v.LogoError = msg
	s.renderSettings(c, status, v)
}

// logo serves the commune's logo, public like its pages. Pages link it as
// /logo?v=<last change>, so such a URL never changes content and is cached
// for a year.
func (s *Server) logo(c *gin.Context) {
	ctx := c.Request.Context()
	t, _ := tenant.FromContext(ctx)
	if t.LogoKey == "" {
		s.renderError(c, errNotFound)
		return
	}
	rc, info, err := s.docs.Get(ctx, t.LogoKey)
	if errors.Is(err, docstore.ErrNotFound) {
		s.renderError(c, errNotFound)
		return
	}
	if err != nil {
		s.renderError(c, fmt.Errorf("read logo: %w", err))
		return
	}
	defer rc.Close()
	ct := info.ContentType
	if ct != "image/png" && ct != "image/jpeg" {
		ct = "image/png"
		if strings.HasSuffix(t.LogoKey, ".jpg") {
			ct = "image/jpeg"
		}
	}
	if c.Query("v") != "" {
		c.Header("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		c.Header("Cache-Control", "public, max-age=300")
	}
	size := info.Size
	if size <= 0 {
		size = -1 // unknown: no Content-Length
	}
	c.DataFromReader(http.StatusOK, size, ct, rc, nil)
}
