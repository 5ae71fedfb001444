package portal

import (
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/tenant"
)

// invoicesView is the data of "Mes factures".
type invoicesView struct {
	Page
	Families []billing.Family
}

// invoicesPage lists the invoices of every family that lists the account's
// address.
func (s *Server) invoicesPage(c *gin.Context) {
	ctx := c.Request.Context()
	sess, _ := familyFrom(c)
	v := invoicesView{Page: s.page(c, "Mes factures")}
	err := tenant.WithTx(ctx, s.db, sess.TenantID, func(tx *sqlx.Tx) error {
		var err error
		v.Families, err = billing.FamiliesByEmail(ctx, tx, sess.TenantID, sess.Email)
		return err
	})
	if err != nil {
		s.renderError(c, err)
		return
	}
	s.render(c, http.StatusOK, "invoices.html", v)
}
