package portal

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/portal/apikey"
	"github.com/regie/regie/portal/audit"
)

// The API page (administrators): the keys of the commune's billing
// software. A new key is shown once, on the page that answers its
// creation; afterwards only its prefix is known.

type apiKeysView struct {
	Page
	Keys    []apiKeyRow
	NewKey  string // the secret of the key just created
	NewName string
	Name    string // the name as typed, when refused
	NameErr string
	DocURL  string
}

type apiKeyRow struct {
	ID        int64
	Name      string
	Prefix    string
	CreatedAt string
	CreatedBy string
	LastUsed  string
	Revoked   string
}

func (s *Server) apiKeysData(c *gin.Context) (apiKeysView, error) {
	ctx := c.Request.Context()
	sess, _ := staffFrom(c)
	v := apiKeysView{Page: s.staffPage(c, "API", "api"), DocURL: "/api/v1/openapi.json"}
	var ks []apikey.Key
	err := s.inStaffTx(c, func(tx *sqlx.Tx) error {
		var err error
		ks, err = apikey.List(ctx, tx, sess.TenantID)
		return err
	})
	for _, k := range ks {
		row := apiKeyRow{ID: k.ID, Name: k.Name, Prefix: "regie_" + k.Prefix + "_…", CreatedAt: parisTime(k.CreatedAt), CreatedBy: k.CreatedBy, LastUsed: "jamais"}
		if k.LastUsedAt != nil {
			row.LastUsed = parisTime(*k.LastUsedAt)
		}
		if k.RevokedAt != nil {
			row.Revoked = parisTime(*k.RevokedAt)
		}
		v.Keys = append(v.Keys, row)
	}
	return v, err
}

func (s *Server) apiKeysPage(c *gin.Context) {
	v, err := s.apiKeysData(c)
	if err != nil {
		s.renderError(c, err)
		return
	}
	s.render(c, http.StatusOK, "staff_api_keys.html", v)
}

// apiKeyAudit is a key as the audit log records it (never its secret).
type apiKeyAudit struct {
	Name    string `json:"name"`
	Prefix  string `json:"prefix"`
	Revoked bool   `json:"revoked,omitempty"`
}

// createAPIKey makes a key and shows its secret, once, on the answer
// itself (not after a redirect: the secret is never stored to show again).
func (s *Server) createAPIKey(c *gin.Context) {
	ctx := c.Request.Context()
	sess, _ := staffFrom(c)
	name := c.PostForm("name")
	var (
		key    apikey.Key
		secret string
	)
	err := s.inStaffTx(c, func(tx *sqlx.Tx) error {
		var err error
		if key, secret, err = apikey.Create(ctx, tx, sess.TenantID, name, sess.Email); err != nil {
			return err
		}
		return audit.Record(ctx, tx, sess.TenantID, actor(c), audit.Entry{Action: "apikey.create", TargetType: "api_key",
			TargetID: itoa(key.ID), After: apiKeyAudit{Name: key.Name, Prefix: key.Prefix}})
	})
	status := http.StatusOK
	if errors.Is(err, apikey.ErrName) {
		status = http.StatusUnprocessableEntity
	} else if err != nil {
		s.renderError(c, err)
		return
	}
	v, derr := s.apiKeysData(c)
	if derr != nil {
		s.renderError(c, derr)
		return
	}
	if status == http.StatusOK {
		v.NewKey, v.NewName = secret, key.Name
	} else {
		v.Name, v.NameErr = name, "Donnez un nom à la clé (100 caractères au plus), par exemple le nom du logiciel de facturation."
	}
	c.Header("Cache-Control", "no-store")
	s.render(c, status, "staff_api_keys.html", v)
}

// revokeAPIKey ends a key at once.
func (s *Server) revokeAPIKey(c *gin.Context) {
	ctx := c.Request.Context()
	sess, _ := staffFrom(c)
	id, ok := pathID(c, "id")
	if !ok {
		s.renderError(c, errNotFound)
		return
	}
	var k apikey.Key
	err := s.inStaffTx(c, func(tx *sqlx.Tx) error {
		var err error
		if k, err = apikey.Revoke(ctx, tx, sess.TenantID, id, s.now()); err != nil {
			return err
		}
		return audit.Record(ctx, tx, sess.TenantID, actor(c), audit.Entry{Action: "apikey.revoke", TargetType: "api_key",
			TargetID: itoa(k.ID), Before: apiKeyAudit{Name: k.Name, Prefix: k.Prefix}, After: apiKeyAudit{Name: k.Name, Prefix: k.Prefix, Revoked: true}})
	})
	if errors.Is(err, apikey.ErrNotFound) {
		err = errNotFound
	}
	if err != nil {
		s.renderError(c, err)
		return
	}
	s.setFlash(c, flash{Msg: "Clé « " + k.Name + " » révoquée : elle ne donne plus accès à l'API."})
	c.Redirect(http.StatusSeeOther, "/gestion/api")
}
