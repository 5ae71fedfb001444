package portal

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/portal/operator"
	"github.com/regie/regie/portal/session"
	"github.com/regie/regie/portal/staff"
	"github.com/regie/regie/tenant"
)

// communeRowView is a commune in the console's list.
type communeRowView struct {
	operator.CommuneRow
	URL        string
	LastImport string
	LastLogin  string
	DGFiP      string // "joignable", "injoignable", "non vérifié"
	DGFiPOK    bool
}

// communesView is the data of the console's home: every commune's state.
type communesView struct {
	Page
	Query    string
	Communes []communeRowView
	Offset   int
	More     bool
	Next     int // offset of the next page
}

const communesPerPage = 50

// communesPage lists communes with their state at a glance; those still in
// test mode come first and stand out.
func (s *Server) communesPage(c *gin.Context) {
	ctx := c.Request.Context()
	v := communesView{Page: s.adminPage(c, "Communes"), Query: strings.TrimSpace(c.Query("q"))}
	v.Offset, _ = strconv.Atoi(c.Query("depuis"))
	v.Offset = max(v.Offset, 0)
	now := s.now().In(tenant.Paris)
	month := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, tenant.Paris)
	rows, err := operator.CommuneOverview(ctx, s.db, v.Query, month, communesPerPage+1, v.Offset)
	if err != nil {
		s.renderError(c, err)
		return
	}
	if len(rows) > communesPerPage {
		rows, v.More, v.Next = rows[:communesPerPage], true, v.Offset+communesPerPage
	}
	for _, r := range rows {
		rv := communeRowView{CommuneRow: r, URL: tenant.PortalURL(s.opts.BaseURL, tenant.Tenant{Slug: r.Slug}, "/"), DGFiP: "non vérifié"}
		if r.LastImport != nil {
			rv.LastImport = parisTime(*r.LastImport)
		}
		if r.LastStaffLogin != nil {
			rv.LastLogin = parisTime(*r.LastStaffLogin)
		}
		if r.DGFiPOK != nil {
			rv.DGFiPOK = *r.DGFiPOK
			rv.DGFiP = "injoignable"
			if *r.DGFiPOK {
				rv.DGFiP = "joignable"
			}
		}
		v.Communes = append(v.Communes, rv)
	}
	s.render(c, http.StatusOK, "admin_communes.html", v)
}

// newCommuneView is the data of the form that creates a commune.
type newCommuneView struct {
	Page
	Slug, Name, Numcli, Protocol, Mode, AdminEmail string
	Errors                                         map[string]string
}

func (s *Server) newCommunePage(c *gin.Context) {
	s.render(c, http.StatusOK, "admin_commune_new.html", newCommuneView{Page: s.adminPage(c, "Nouvelle commune"),
		Protocol: string(tenant.ProtocolPayFiP), Mode: string(tenant.ModeTest), Errors: map[string]string{}})
}

// createCommune creates a commune and invites its first administrator by
// mail.
func (s *Server) createCommune(c *gin.Context) {
	ctx := c.Request.Context()
	o, _ := operatorFrom(c)
	v := newCommuneView{Page: s.adminPage(c, "Nouvelle commune"), Errors: map[string]string{},
		Slug: strings.TrimSpace(c.PostForm("slug")), Name: strings.TrimSpace(c.PostForm("name")),
		Numcli: strings.TrimSpace(c.PostForm("numcli")), Protocol: c.PostForm("protocol"), Mode: c.PostForm("mode"),
		AdminEmail: strings.TrimSpace(c.PostForm("admin_email"))}
	email, err := billing.NormalizeEmail(v.AdminEmail)
	if err != nil {
		v.Errors["admin_email"] = "Adresse de messagerie invalide."
	}
	t := tenant.Tenant{Slug: v.Slug, Name: v.Name, Numcli: v.Numcli, Protocol: tenant.Protocol(v.Protocol), Mode: tenant.Mode(v.Mode)}
	if len(v.Errors) == 0 {
		t, err = s.tenants.Create(ctx, t)
		var ve *tenant.ValidationError
		switch {
		case errors.As(err, &ve):
			v.Errors[ve.Field] = ve.Message
		case errors.Is(err, tenant.ErrConflict):
			v.Errors["slug"] = "Cette adresse est déjà prise par une autre commune."
		case err != nil:
			s.renderError(c, err)
			return
		}
	}
	if len(v.Errors) > 0 {
		s.render(c, http.StatusUnprocessableEntity, "admin_commune_new.html", v)
		return
	}
	err = tenant.WithTx(ctx, s.db, t.ID, func(tx *sqlx.Tx) error {
		_, err := s.inviteStaffMember(ctx, tx, t, email, "", staff.Admin)
		return err
	})
	if err == nil {
		err = operator.Audit(ctx, s.db, o, "commune.create", t.ID, t.Slug, nil,
			map[string]any{"slug": t.Slug, "name": t.Name, "numcli": t.Numcli, "protocol": t.Protocol, "mode": t.Mode, "admin": email})
	}
	if err != nil {
		s.renderError(c, err)
		return
	}
	s.setFlash(c, flash{Msg: "Commune créée ; son administrateur a reçu une invitation par courriel."})
	c.Redirect(http.StatusSeeOther, "/communes/"+itoa(int64(t.ID)))
}

// communeView is the data of one commune's console page.
type communeView struct {
	Page
	Commune   tenant.Tenant
	URL       string
	Domains   []string
	Admins    []staff.Member
	Trail     []operator.Entry
	DomainErr string
}

func (s *Server) communeData(c *gin.Context) (communeView, error) {
	ctx := c.Request.Context()
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return communeView{}, errNotFound
	}
	t, err := s.tenants.ByID(ctx, tenant.ID(id))
	if err != nil {
		return communeView{}, err
	}
	v := communeView{Page: s.adminPage(c, t.Name), Commune: t, URL: tenant.PortalURL(s.opts.BaseURL, t, "/")}
	if v.Domains, err = s.tenants.Domains(ctx, t.ID); err != nil {
		return v, err
	}
	err = tenant.WithTx(ctx, s.db, t.ID, func(tx *sqlx.Tx) error {
		team, err := staff.List(ctx, tx, t.ID)
		for _, m := range team {
			if m.Role == staff.Admin {
				v.Admins = append(v.Admins, m)
			}
		}
		return err
	})
	if err != nil {
		return v, err
	}
	v.Trail, err = operator.CommuneTrail(ctx, s.db, t.ID, 50)
	return v, err
}

func (s *Server) communePage(c *gin.Context) {
	v, err := s.communeData(c)
	if err != nil {
		s.renderError(c, err)
		return
	}
	s.render(c, http.StatusOK, "admin_commune.html", v)
}

// setCommuneStatus suspends or resumes a commune; every instance hears of
// it at once through Redis.
func (s *Server) setCommuneStatus(st tenant.Status) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		o, _ := operatorFrom(c)
		v, err := s.communeData(c)
		if err != nil {
			s.renderError(c, err)
			return
		}
		if err := s.tenants.SetStatus(ctx, v.Commune.ID, st); err != nil {
			s.renderError(c, err)
			return
		}
		s.announce(ctx, v.Commune.ID)
		if err := operator.Audit(ctx, s.db, o, "commune."+string(st), v.Commune.ID, v.Commune.Slug,
			map[string]any{"status": v.Commune.Status}, map[string]any{"status": st}); err != nil {
			s.renderError(c, err)
			return
		}
		msg := "Commune suspendue : ses familles voient « service suspendu » ; les paiements déjà engagés sont toujours enregistrés."
		if st == tenant.StatusActive {
			msg = "Commune rétablie."
		}
		s.setFlash(c, flash{Msg: msg})
		c.Redirect(http.StatusSeeOther, "/communes/"+itoa(int64(v.Commune.ID)))
	}
}

// addDomain attaches a custom domain to a commune.
func (s *Server) addDomain(c *gin.Context) {
	ctx := c.Request.Context()
	o, _ := operatorFrom(c)
	v, err := s.communeData(c)
	if err != nil {
		s.renderError(c, err)
		return
	}
	domain := strings.TrimSpace(c.PostForm("domain"))
	err = s.tenants.AddDomain(ctx, v.Commune.ID, domain, s.baseHost)
	var ve *tenant.ValidationError
	switch {
	case errors.As(err, &ve):
		v.DomainErr = ve.Message
	case errors.Is(err, tenant.ErrConflict):
		v.DomainErr = "Ce domaine est déjà attaché à une commune."
	case err != nil:
		s.renderError(c, err)
		return
	}
	if v.DomainErr != "" {
		s.render(c, http.StatusUnprocessableEntity, "admin_commune.html", v)
		return
	}
	s.announce(ctx, v.Commune.ID)
	if err := operator.Audit(ctx, s.db, o, "commune.domain_add", v.Commune.ID, v.Commune.Slug, nil, map[string]any{"domain": tenant.NormalizeHost(domain)}); err != nil {
		s.renderError(c, err)
		return
	}
	s.setFlash(c, flash{Msg: "Domaine ajouté. Il répond dès que son DNS pointe vers la plateforme."})
	c.Redirect(http.StatusSeeOther, "/communes/"+itoa(int64(v.Commune.ID)))
}

// resetAdminTOTP removes a commune administrator's second factor (lost
// phone): they set it up again at their next login.
func (s *Server) resetAdminTOTP(c *gin.Context) {
	ctx := c.Request.Context()
	o, _ := operatorFrom(c)
	v, err := s.communeData(c)
	if err != nil {
		s.renderError(c, err)
		return
	}
	sid, err := strconv.ParseInt(c.Param("staff"), 10, 64)
	if err != nil {
		s.renderError(c, errNotFound)
		return
	}
	var m staff.Member
	err = tenant.WithTx(ctx, s.db, v.Commune.ID, func(tx *sqlx.Tx) error {
		if m, err = staff.ByID(ctx, tx, v.Commune.ID, sid); err != nil {
			return err
		}
		if m.Role != staff.Admin || m.RemovedAt != nil {
			return errNotFound
		}
		return staff.ResetTOTP(ctx, tx, v.Commune.ID, sid)
	})
	if errors.Is(err, staff.ErrNotFound) {
		err = errNotFound
	}
	if err != nil {
		s.renderError(c, err)
		return
	}
	if err := s.sessions.DeleteAll(ctx, session.Staff, v.Commune.ID, sid, ""); err != nil {
		logger(ctx).Error("end sessions after a TOTP reset", "err", err)
	}
	if err := operator.Audit(ctx, s.db, o, "staff.totp_reset", v.Commune.ID, m.Email, nil, nil); err != nil {
		s.renderError(c, err)
		return
	}
	s.setFlash(c, flash{Msg: "Double authentification réinitialisée pour " + m.Email + " : elle sera configurée à la prochaine connexion."})
	c.Redirect(http.StatusSeeOther, "/communes/"+itoa(int64(v.Commune.ID)))
}

// trailView is the data of the operators' audit trail.
type trailView struct {
	Page
	Trail []operator.Entry
}

func (s *Server) operatorTrail(c *gin.Context) {
	ctx := c.Request.Context()
	trail, err := operator.Trail(ctx, s.db, 200)
	if err != nil {
		s.renderError(c, err)
		return
	}
	s.render(c, http.StatusOK, "admin_trail.html", trailView{Page: s.adminPage(c, "Journal des opérateurs"), Trail: trail})
}

// announce tells every instance that a commune changed.
func (s *Server) announce(ctx context.Context, id tenant.ID) {
	s.resolver.Invalidate(id)
	if err := tenant.Announce(ctx, s.rdb, id); err != nil {
		logger(ctx).Warn("announce commune change", "commune", id, "err", err)
	}
}
