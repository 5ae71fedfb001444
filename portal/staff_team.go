package portal

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/portal/audit"
	"github.com/regie/regie/portal/mail"
	"github.com/regie/regie/portal/staff"
	"github.com/regie/regie/tenant"
)

// The team page (administrators): who may open the back office, and the
// actions on each member. A change of role, a reset of the second factor
// and a removal end the member's sessions at once, so they take effect
// at the next click, not at the next login.

// invitationValidity is how long an invitation link works (staff.Invite).
const invitationValidity = "7 jours"

// teamView is the data of the team page.
type teamView struct {
	Page
	Members    []teamMember
	Invite     inviteForm
	InviteErrs fieldMessages
	Roles      []settingsOption
}

// teamMember is one row of the team.
type teamMember struct {
	ID        int64
	Email     string
	Name      string
	RoleLabel string
	Roles     []settingsOption // the role select, current one chosen
	TOTP      bool
	Invited   bool // has not set a password yet
	LastLogin string
	Self      bool
	Error     string // why the last action on this member was refused
}

// inviteForm is the invitation form as typed.
type inviteForm struct {
	Email, Name, Role string
}

var roleOptions = func() []settingsOption {
	var out []settingsOption
	for _, r := range staff.Roles {
		out = append(out, settingsOption{Value: string(r), Label: r.Label()})
	}
	return out
}()

func (s *Server) teamData(c *gin.Context) (teamView, error) {
	ctx := c.Request.Context()
	sess, _ := staffFrom(c)
	v := teamView{Page: s.staffPage(c, "Équipe", "equipe"), Invite: inviteForm{Role: string(staff.Agent)}}
	var ms []staff.Member
	err := s.inStaffTx(c, func(tx *sqlx.Tx) error {
		var err error
		ms, err = staff.List(ctx, tx, sess.TenantID)
		return err
	})
	for _, m := range ms {
		row := teamMember{ID: m.ID, Email: m.Email, Name: m.Name, RoleLabel: m.Role.Label(), Roles: choose(roleOptions, string(m.Role)),
			TOTP: m.TOTPEnabled, Invited: m.ActivatedAt == nil, LastLogin: "jamais", Self: m.ID == sess.AccountID}
		if m.LastLoginAt != nil {
			row.LastLogin = parisTime(*m.LastLoginAt)
		}
		v.Members = append(v.Members, row)
	}
	return v, err
}

func (s *Server) renderTeam(c *gin.Context, status int, v teamView) {
	v.Roles = choose(roleOptions, v.Invite.Role)
	s.render(c, status, "staff_team.html", v)
}

func (s *Server) teamPage(c *gin.Context) {
	v, err := s.teamData(c)
	if err != nil {
		s.renderError(c, err)
		return
	}
	s.renderTeam(c, http.StatusOK, v)
}

// inviteStaff adds a member and mails the link where they choose their
// password; the mail is queued in the transaction of the invitation.
func (s *Server) inviteStaff(c *gin.Context) {
	ctx := c.Request.Context()
	sess, _ := staffFrom(c)
	t, _ := tenant.FromContext(ctx)
	f := inviteForm{Email: strings.TrimSpace(c.PostForm("email")), Name: strings.TrimSpace(c.PostForm("name")), Role: c.PostForm("role")}
	msgs := fieldMessages{}
	email, err := billing.NormalizeEmail(f.Email)
	if err != nil {
		msgs.add("email", "Saisissez une adresse de messagerie complète, par exemple prenom.nom@mairie-exemple.fr.")
	}
	if utf8.RuneCountInString(f.Name) > 100 {
		msgs.add("name", "Le nom compte 100 caractères au plus.")
	}
	role, err := staff.ParseRole(f.Role)
	if err != nil {
		msgs.add("role", "Choisissez un rôle : administrateur, agent ou lecture seule.")
	}
	if len(msgs) == 0 {
		err = s.inStaffTx(c, func(tx *sqlx.Tx) error {
			m, err := s.inviteStaffBy(ctx, tx, t, email, f.Name, role, sess.Email)
			if err != nil {
				return err
			}
			return audit.Record(ctx, tx, sess.TenantID, actor(c), audit.Entry{Action: "staff.invite", TargetType: "staff",
				TargetID: itoa(m.ID), After: memberAudit{Email: email, Name: f.Name, Role: role}})
		})
		switch {
		case errors.Is(err, staff.ErrConflict):
			msgs.add("email", "Cette adresse a déjà un compte actif dans l'équipe.")
		case err != nil:
			s.renderError(c, err)
			return
		}
	}
	if len(msgs) > 0 {
		v, err := s.teamData(c)
		if err != nil {
			s.renderError(c, err)
			return
		}
		v.Invite, v.InviteErrs = f, msgs
		s.renderTeam(c, http.StatusUnprocessableEntity, v)
		return
	}
	s.setFlash(c, flash{Msg: "Invitation envoyée à " + email + " : le lien reste valable " + invitationValidity + "."})
	c.Redirect(http.StatusSeeOther, "/gestion/equipe")
}

// inviteStaffMember invites a person to commune t's back office in tx (the
// transaction of tenant.WithTx for t) and queues, in the same transaction,
// the mail with the link where they choose their password. It returns the
// member, and staff.ErrConflict when the address already has an active
// account. The caller records the audit entry.
func (s *Server) inviteStaffMember(ctx context.Context, tx *sqlx.Tx, t tenant.Tenant, email, name string, role staff.Role) (staff.Member, error) {
	return s.inviteStaffBy(ctx, tx, t, email, name, role, "")
}

// inviteStaffBy is inviteStaffMember with the address of the administrator
// who invites, which the mail names.
func (s *Server) inviteStaffBy(ctx context.Context, tx *sqlx.Tx, t tenant.Tenant, email, name string, role staff.Role, by string) (staff.Member, error) {
	m, token, err := staff.Invite(ctx, tx, t.ID, email, name, role, s.now())
	if err != nil {
		return m, err
	}
	data := mail.StaffInvitationMail{
		Common: mail.Common{Commune: t.Name, PortalURL: s.communeURL(t, "/"), Contact: t.ContactEmail},
		Name:   name, Role: role.Label(), InvitedBy: by, Validity: invitationValidity, TOTP: role.TOTPRequired(),
		Link: s.communeURL(t, "/gestion/invitation/"+token),
	}
	r, err := mail.Render("staff_invitation", data)
	if err != nil {
		return m, err
	}
	_, _, err = mail.Queue(ctx, tx, s.jobs, t.ID, mail.Mail{Kind: "staff_invitation", To: email,
		FromName: t.Name, ReplyTo: t.ContactEmail, Subject: r.Subject, Text: r.Text, HTML: r.HTML})
	return m, err
}

// memberAudit is a member as the audit log records it.
type memberAudit struct {
	Email string     `json:"email,omitempty"`
	Name  string     `json:"name,omitempty"`
	Role  staff.Role `json:"role,omitempty"`
	TOTP  *bool      `json:"totp,omitempty"`
}

// teamRefusedError carries the French reason an action on a member was
// refused, shown on that member's row.
type teamRefusedError struct{ msg string }

func (e teamRefusedError) Error() string { return "team action refused: " + e.msg }

const lastAdminMessage = "La commune doit garder au moins un administrateur actif : nommez-en un autre avant."

// teamAction runs an action on a member of the commune, in one
// transaction, then ends the member's sessions. fn returns the audit entry
// to record, or nil when nothing changed. An id of another commune, unknown
// or removed, gives the 404 page.
func (s *Server) teamAction(c *gin.Context, fn func(tx *sqlx.Tx, m staff.Member) (*audit.Entry, string, error)) {
	ctx := c.Request.Context()
	sess, _ := staffFrom(c)
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		s.renderError(c, errNotFound)
		return
	}
	var done string
	changed := false
	err = s.inStaffTx(c, func(tx *sqlx.Tx) error {
		m, err := staff.ByID(ctx, tx, sess.TenantID, id)
		if err != nil {
			return err
		}
		if m.RemovedAt != nil {
			return staff.ErrNotFound
		}
		e, msg, err := fn(tx, m)
		if err != nil || e == nil {
			done = msg
			return err
		}
		done, changed = msg, true
		e.TargetType, e.TargetID = "staff", itoa(m.ID)
		return audit.Record(ctx, tx, sess.TenantID, actor(c), *e)
	})
	var refused teamRefusedError
	switch {
	case errors.Is(err, staff.ErrNotFound):
		s.renderError(c, errNotFound)
		return
	case errors.Is(err, staff.ErrLastAdmin):
		refused.msg = lastAdminMessage
	case errors.As(err, &refused):
	case err != nil:
		s.renderError(c, err)
		return
	}
	if refused.msg != "" {
		v, err := s.teamData(c)
		if err != nil {
			s.renderError(c, err)
			return
		}
		for i := range v.Members {
			if v.Members[i].ID == id {
				v.Members[i].Error = refused.msg
			}
		}
		s.renderTeam(c, http.StatusUnprocessableEntity, v)
		return
	}
	if changed {
		s.endStaffSessions(c, sess.TenantID, id)
	}
	s.setFlash(c, flash{Msg: done})
	c.Redirect(http.StatusSeeOther, "/gestion/equipe")
}

// changeRole gives a member another role; the commune keeps an
// administrator.
func (s *Server) changeRole(c *gin.Context) {
	ctx := c.Request.Context()
	sess, _ := staffFrom(c)
	role, roleErr := staff.ParseRole(c.PostForm("role"))
	s.teamAction(c, func(tx *sqlx.Tx, m staff.Member) (*audit.Entry, string, error) {
		if roleErr != nil {
			return nil, "", teamRefusedError{"Choisissez un rôle : administrateur, agent ou lecture seule."}
		}
		if m.Role == role {
			return nil, m.Email + " a déjà le rôle « " + role.Label() + " ».", nil
		}
		if err := staff.SetRole(ctx, tx, sess.TenantID, m.ID, role); err != nil {
			return nil, "", err
		}
		msg := m.Email + " a maintenant le rôle « " + role.Label() + " »."
		if role.TOTPRequired() && !m.TOTPEnabled {
			msg += " À sa prochaine connexion, il lui sera demandé d'activer la double authentification."
		}
		return &audit.Entry{Action: "staff.role", Before: memberAudit{Role: m.Role}, After: memberAudit{Role: role}}, msg, nil
	})
}

// resetTOTP removes a member's second factor (a lost phone): an
// administrator sets one up again at the next login.
func (s *Server) resetTOTP(c *gin.Context) {
	ctx := c.Request.Context()
	sess, _ := staffFrom(c)
	s.teamAction(c, func(tx *sqlx.Tx, m staff.Member) (*audit.Entry, string, error) {
		if !m.TOTPEnabled {
			return nil, m.Email + " n'a pas de double authentification à réinitialiser.", nil
		}
		if err := staff.ResetTOTP(ctx, tx, sess.TenantID, m.ID); err != nil {
			return nil, "", err
		}
		msg := "La double authentification de " + m.Email + " est réinitialisée : "
		if m.Role.TOTPRequired() {
			msg += "il lui sera demandé de la configurer à nouveau à sa prochaine connexion."
		} else {
			msg += "il pourra la réactiver depuis « Mon compte »."
		}
		on, off := true, false
		return &audit.Entry{Action: "staff.totp_reset", Before: memberAudit{TOTP: &on}, After: memberAudit{TOTP: &off}}, msg, nil
	})
}

// removeStaff ends a member's access; nobody removes themselves, and the
// commune keeps an administrator.
func (s *Server) removeStaff(c *gin.Context) {
	ctx := c.Request.Context()
	sess, _ := staffFrom(c)
	s.teamAction(c, func(tx *sqlx.Tx, m staff.Member) (*audit.Entry, string, error) {
		if m.ID == sess.AccountID {
			return nil, "", teamRefusedError{"Vous ne pouvez pas vous retirer vous-même : demandez-le à un autre administrateur."}
		}
		if err := staff.Remove(ctx, tx, sess.TenantID, m.ID, s.now()); err != nil {
			return nil, "", err
		}
		return &audit.Entry{Action: "staff.remove", Before: memberAudit{Email: m.Email, Name: m.Name, Role: m.Role}},
			m.Email + " n'a plus accès à la gestion du portail.", nil
	})
}
