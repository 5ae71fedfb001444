package portal

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/payments"
	"github.com/regie/regie/portal/account"
	"github.com/regie/regie/portal/audit"
	"github.com/regie/regie/portal/mail"
	"github.com/regie/regie/portal/session"
	"github.com/regie/regie/portal/staff"
)

// staffFamiliesView is the data of the family search.
type staffFamiliesView struct {
	Page
	Query    string
	Families []familyHit
	Total    int
	Nav      pageNav
}

type familyHit struct {
	ID              int64
	Ref, Name, Town string
	Emails          []string
	RefMatch        bool // the family id typed exactly
}

// familiesPage searches the commune's families by name, family id or
// address, 50 a page.
func (s *Server) familiesPage(c *gin.Context) {
	ctx := c.Request.Context()
	sess, _ := staffFrom(c)
	v := staffFamiliesView{Page: s.staffPage(c, "Familles", "familles"), Query: strings.TrimSpace(c.Query("q"))}
	if utf8.RuneCountInString(v.Query) > 200 || !utf8.ValidString(v.Query) {
		v.Query = ""
	}
	page := queryPage(c)
	var fams []billing.Family
	err := s.inStaffTx(c, func(tx *sqlx.Tx) error {
		var err error
		fams, v.Total, err = billing.SearchFamilies(ctx, tx, sess.TenantID,
			billing.FamilySearch{Query: v.Query, Limit: staffListSize, Offset: (page - 1) * staffListSize})
		return err
	})
	if err != nil {
		s.renderError(c, err)
		return
	}
	if v.Query != "" {
		v.Title = "Familles : « " + v.Query + " »"
	}
	for _, f := range fams {
		v.Families = append(v.Families, familyHit{ID: f.ID, Ref: f.Ref, Name: f.Name,
			Town: strings.TrimSpace(f.PostalCode + " " + f.City), Emails: f.Emails,
			RefMatch: strings.EqualFold(f.Ref, v.Query)})
	}
	v.Nav = newPageNav(c, page, v.Total, len(fams))
	s.render(c, http.StatusOK, "staff_families.html", v)
}

// staffFamilyView is the data of a family's page and of its forms.
type staffFamilyView struct {
	Page
	Family       billing.Family
	CanEdit      bool
	Addresses    []familyAddress
	Invoices     []staffInvoiceRow
	InvoiceCount int
	InvoiceNav   pageNav
	Payments     []staffPaymentRow
	Mails        []familyMail

	// the forms as typed, with their errors
	Details       billing.FamilyDetails
	NameError     string
	AddressError  string
	NewEmail      string
	NewEmailError string
	FixFor        string // the address whose correction failed
	FixTo         string
	FixError      string
	ActionError   string
}

// familyAddress is an address of the family and the account that uses it.
type familyAddress struct {
	Email       string
	AccountID   int64
	State       string // none, active, disabled
	StateLabel  string
	ActivatedAt string
	LastLogin   string
	DisabledAt  string
}

// familyMail is a mail sent to one of the family's addresses.
type familyMail struct {
	At, To, Kind, Subject string
	State, StateLabel     string
	Error                 string
	Attempts              int
}

var familyMailKinds = map[string]string{
	"activation": "Activation du compte", "reset": "Mot de passe oublié", "already_active": "Rappel : compte déjà actif",
	"invoices": "Nouvelle facture", "invitation": "Nouvelle facture (invitation à activer)", "receipt": "Justificatif de paiement",
}

var familyMailStates = map[mail.State]string{mail.Queued: "En attente", mail.Sent: "Envoyé", mail.Failed: "Échec"}

// staffFamilyData fills the page of family id: everything in one
// transaction, one query per list. An id of another commune is a 404.
func (s *Server) staffFamilyData(c *gin.Context, id int64) (staffFamilyView, error) {
	ctx := c.Request.Context()
	sess, _ := staffFrom(c)
	tid := sess.TenantID
	v := staffFamilyView{Page: s.staffPage(c, "Famille", "familles"), CanEdit: staffRole(sess).Can(staff.PermFamilies)}
	page := queryPage(c)
	today := billing.Today(s.now())
	var accounts []account.Account
	var invoices []billing.InvoiceListItem
	var pays []payments.FamilyPayment
	var mails []mail.Mail
	err := s.inStaffTx(c, func(tx *sqlx.Tx) error {
		var err error
		if v.Family, err = billing.FamilyByID(ctx, tx, tid, id); err != nil {
			return missingAs404(err)
		}
		if accounts, err = account.ForEmails(ctx, tx, tid, v.Family.Emails); err != nil {
			return err
		}
		var totals billing.InvoiceTotals
		invoices, totals, err = billing.SearchInvoices(ctx, tx, tid, billing.InvoiceFilter{FamilyID: &id}, today,
			staffListSize, (page-1)*staffListSize)
		if err != nil {
			return err
		}
		v.InvoiceCount = totals.Count
		if pays, err = payments.FamilyPayments(ctx, tx, tid, id, staffListSize); err != nil {
			return err
		}
		mails, err = mail.ToAddresses(ctx, tx, tid, v.Family.Emails, staffListSize)
		return err
	})
	if err != nil {
		return v, err
	}
	v.Title = v.Family.Name + " (" + v.Family.Ref + ")"
	v.Details = v.Family.Details()
	byEmail := map[string]account.Account{}
	for _, a := range accounts {
		byEmail[a.Email] = a
	}
	for _, e := range v.Family.Emails {
		r := familyAddress{Email: e, State: "none", StateLabel: "Pas de compte"}
		if a, ok := byEmail[e]; ok {
			r.AccountID, r.ActivatedAt = a.ID, parisTime(a.CreatedAt)
			r.State, r.StateLabel = "active", "Compte actif"
			if a.LastLoginAt != nil {
				r.LastLogin = parisTime(*a.LastLoginAt)
			}
			if a.DisabledAt != nil {
				r.State, r.StateLabel, r.DisabledAt = "disabled", "Compte désactivé", parisTime(*a.DisabledAt)
			}
		}
		v.Addresses = append(v.Addresses, r)
	}
	for _, i := range invoices {
		v.Invoices = append(v.Invoices, newStaffInvoiceRow(i, today))
	}
	v.InvoiceNav = newPageNav(c, page, v.InvoiceCount, len(invoices))
	for _, p := range pays {
		v.Payments = append(v.Payments, newStaffPaymentRow(p.Payment, p.Reference))
	}
	for _, m := range mails {
		r := familyMail{At: parisTime(m.CreatedAt), To: m.To, Kind: familyMailKinds[m.Kind], Subject: m.Subject,
			State: string(m.State), StateLabel: familyMailStates[m.State], Error: m.LastError, Attempts: m.Attempts}
		if r.Kind == "" {
			r.Kind = m.Kind
		}
		v.Mails = append(v.Mails, r)
	}
	return v, nil
}

// familyPage shows a family: addresses and accounts, invoices, payments
// and mails; agents and administrators get the forms.
func (s *Server) familyPage(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		s.renderError(c, errNotFound)
		return
	}
	v, err := s.staffFamilyData(c, id)
	if err != nil {
		s.renderError(c, err)
		return
	}
	s.render(c, http.StatusOK, "staff_family.html", v)
}

// rejectFamilyForm shows the family's page again, with what was typed and
// the errors (422).
func (s *Server) rejectFamilyForm(c *gin.Context, id int64, fill func(v *staffFamilyView)) {
	v, err := s.staffFamilyData(c, id)
	if err != nil {
		s.renderError(c, err)
		return
	}
	fill(&v)
	s.render(c, http.StatusUnprocessableEntity, "staff_family.html", v)
}

// familyDone ends a successful change: a message, and back to the family.
func (s *Server) familyDone(c *gin.Context, id int64, msg string) {
	s.setFlash(c, flash{Msg: msg})
	c.Redirect(http.StatusSeeOther, "/gestion/familles/"+itoa(id))
}

// errFamilyUnchanged is a form that changed nothing: no audit row, a message.
var errFamilyUnchanged = errors.New("portal: nothing changed")

// updateFamily corrects the family's name and postal address.
func (s *Server) updateFamily(c *gin.Context) {
	ctx := c.Request.Context()
	sess, _ := staffFrom(c)
	id, ok := pathID(c, "id")
	if !ok {
		s.renderError(c, errNotFound)
		return
	}
	d := billing.FamilyDetails{Name: c.PostForm("nom"), Address: c.PostForm("adresse"),
		PostalCode: c.PostForm("code_postal"), City: c.PostForm("ville")}
	err := s.inStaffTx(c, func(tx *sqlx.Tx) error {
		before, after, err := billing.UpdateFamilyDetails(ctx, tx, sess.TenantID, id, d)
		if err != nil {
			return missingAs404(err)
		}
		if before == after {
			return errFamilyUnchanged
		}
		return audit.Record(ctx, tx, sess.TenantID, actor(c), audit.Entry{Action: "family.update",
			TargetType: "family", TargetID: itoa(id), Before: before, After: after})
	})
	var ve *billing.ValidationError
	switch {
	case errors.As(err, &ve):
		s.rejectFamilyForm(c, id, func(v *staffFamilyView) {
			v.Details = d
			if ve.Field == "nom" {
				v.NameError = frenchSentence(ve.Message)
			} else {
				v.AddressError = frenchSentence(ve.Message)
			}
		})
	case errors.Is(err, errFamilyUnchanged):
		s.familyDone(c, id, "Aucune modification : le nom et l'adresse sont inchangés.")
	case err != nil:
		s.renderError(c, err)
	default:
		s.familyDone(c, id, "Le nom et l'adresse postale de la famille sont enregistrés.")
	}
}

// addFamilyEmail adds an e-mail address to the family.
func (s *Server) addFamilyEmail(c *gin.Context) {
	ctx := c.Request.Context()
	sess, _ := staffFrom(c)
	id, ok := pathID(c, "id")
	if !ok {
		s.renderError(c, errNotFound)
		return
	}
	raw := strings.TrimSpace(c.PostForm("email"))
	email, err := billing.NormalizeEmail(raw)
	if err == nil {
		err = s.inStaffTx(c, func(tx *sqlx.Tx) error {
			if err := billing.AddFamilyEmail(ctx, tx, sess.TenantID, id, email); err != nil {
				return missingAs404(err)
			}
			return audit.Record(ctx, tx, sess.TenantID, actor(c), audit.Entry{Action: "family.email_add",
				TargetType: "family", TargetID: itoa(id), After: map[string]string{"email": email}})
		})
	}
	var ve *billing.ValidationError
	switch {
	case errors.As(err, &ve):
		s.rejectFamilyForm(c, id, func(v *staffFamilyView) {
			v.NewEmail, v.NewEmailError = raw, "Adresse de messagerie invalide (exemple : prenom.nom@exemple.fr)."
		})
	case errors.Is(err, billing.ErrConflict):
		s.rejectFamilyForm(c, id, func(v *staffFamilyView) {
			v.NewEmail, v.NewEmailError = raw, "Cette adresse est déjà celle de la famille."
		})
	case err != nil:
		s.renderError(c, err)
	default:
		s.familyDone(c, id, "Adresse ajoutée : "+email+".")
	}
}

// removeFamilyEmail takes an address off the family (action "retirer", the
// default) or corrects it in place (action "corriger", with nouvel_email).
func (s *Server) removeFamilyEmail(c *gin.Context) {
	ctx := c.Request.Context()
	sess, _ := staffFrom(c)
	id, ok := pathID(c, "id")
	if !ok {
		s.renderError(c, errNotFound)
		return
	}
	old := strings.ToLower(strings.TrimSpace(c.PostForm("email")))
	fix := c.PostForm("action") == "corriger"
	rawNew := strings.TrimSpace(c.PostForm("nouvel_email"))
	var repl string
	var fixErr string
	if fix {
		var err error
		if repl, err = billing.NormalizeEmail(rawNew); err != nil {
			fixErr = "Saisissez la nouvelle adresse, complète (exemple : prenom.nom@exemple.fr)."
		}
	}
	var err error
	if fixErr == "" {
		err = s.inStaffTx(c, func(tx *sqlx.Tx) error {
			if _, err := billing.FamilyByID(ctx, tx, sess.TenantID, id); err != nil {
				return missingAs404(err)
			}
			e := audit.Entry{TargetType: "family", TargetID: itoa(id), Before: map[string]string{"email": old}}
			if fix {
				if repl == old {
					return errFamilyUnchanged
				}
				if err := billing.ReplaceFamilyEmail(ctx, tx, sess.TenantID, id, old, repl); err != nil {
					return err
				}
				e.Action, e.After = "family.email_replace", map[string]string{"email": repl}
			} else {
				if err := billing.RemoveFamilyEmail(ctx, tx, sess.TenantID, id, old); err != nil {
					return err
				}
				e.Action = "family.email_remove"
			}
			return audit.Record(ctx, tx, sess.TenantID, actor(c), e)
		})
	}
	switch {
	case fixErr != "" || errors.Is(err, billing.ErrConflict):
		if fixErr == "" {
			fixErr = "La famille a déjà cette adresse."
		}
		s.rejectFamilyForm(c, id, func(v *staffFamilyView) { v.FixFor, v.FixTo, v.FixError = old, rawNew, fixErr })
	case errors.Is(err, billing.ErrNotFound):
		s.rejectFamilyForm(c, id, func(v *staffFamilyView) {
			v.ActionError = "L'adresse « " + old + " » n'est pas (ou plus) celle de la famille."
		})
	case errors.Is(err, errFamilyUnchanged):
		s.familyDone(c, id, "Aucune modification : l'adresse est inchangée.")
	case err != nil:
		s.renderError(c, err)
	case fix:
		s.familyDone(c, id, "Adresse corrigée : "+old+" devient "+repl+".")
	default:
		s.familyDone(c, id, "Adresse retirée : "+old+".")
	}
}

// resendActivation mails an activation link to one of the family's
// addresses: the same job as the family's "Activer mon compte" (an address
// whose account is active gets the reminder to log in instead). Staff are
// not rate-limited; each sending is audited.
func (s *Server) resendActivation(c *gin.Context) {
	ctx := c.Request.Context()
	sess, _ := staffFrom(c)
	id, ok := pathID(c, "id")
	if !ok {
		s.renderError(c, errNotFound)
		return
	}
	email := strings.ToLower(strings.TrimSpace(c.PostForm("email")))
	active := false
	err := s.inStaffTx(c, func(tx *sqlx.Tx) error {
		f, err := billing.FamilyByID(ctx, tx, sess.TenantID, id)
		if err != nil {
			return missingAs404(err)
		}
		if !slices.Contains(f.Emails, email) {
			return billing.ErrNotFound
		}
		switch a, err := account.ByEmail(ctx, tx, sess.TenantID, email); {
		case err == nil:
			active = a.Active()
		case !errors.Is(err, account.ErrNotFound):
			return err
		}
		args := LinkRequestArgs{TenantID: sess.TenantID, Email: email, Purpose: account.PurposeActivation}
		if _, err := s.jobs.InsertTx(ctx, tx.Tx, args, nil); err != nil {
			return err
		}
		return audit.Record(ctx, tx, sess.TenantID, actor(c), audit.Entry{Action: "family.activation_resent",
			TargetType: "family", TargetID: itoa(id), After: map[string]string{"email": email}})
	})
	switch {
	case errors.Is(err, billing.ErrNotFound):
		s.rejectFamilyForm(c, id, func(v *staffFamilyView) {
			v.ActionError = "L'adresse « " + email + " » n'est pas (ou plus) celle de la famille."
		})
	case err != nil:
		s.renderError(c, err)
	case active:
		s.familyDone(c, id, "Le compte de "+email+" est déjà actif : un rappel pour se connecter (ou changer de mot de passe) lui est envoyé.")
	default:
		s.familyDone(c, id, "Le courriel d'activation est envoyé à "+email+".")
	}
}

// disableAccount stops an account of one of the family's addresses from
// logging in and ends its sessions. An account that is not of an address
// of this family, in this commune, is a 404.
func (s *Server) disableAccount(c *gin.Context) {
	ctx := c.Request.Context()
	sess, _ := staffFrom(c)
	id, ok1 := pathID(c, "id")
	accountID, ok2 := pathID(c, "account")
	if !ok1 || !ok2 {
		s.renderError(c, errNotFound)
		return
	}
	var acc account.Account
	changed := false
	err := s.inStaffTx(c, func(tx *sqlx.Tx) error {
		f, err := billing.FamilyByID(ctx, tx, sess.TenantID, id)
		if err != nil {
			return missingAs404(err)
		}
		if acc, err = account.ByID(ctx, tx, sess.TenantID, accountID); err != nil {
			return missingAs404(err)
		}
		if !slices.Contains(f.Emails, acc.Email) {
			return errNotFound
		}
		before := map[string]any{"email": acc.Email, "disabled_at": acc.DisabledAt}
		if acc, changed, err = account.Disable(ctx, tx, sess.TenantID, accountID, s.now()); err != nil || !changed {
			return err
		}
		return audit.Record(ctx, tx, sess.TenantID, actor(c), audit.Entry{Action: "account.disable",
			TargetType: "account", TargetID: itoa(accountID), Before: before,
			After: map[string]any{"email": acc.Email, "disabled_at": acc.DisabledAt}})
	})
	if err != nil {
		s.renderError(c, err)
		return
	}
	// also when it was already disabled: a failed attempt is retried whole
	if err := s.sessions.DeleteAll(ctx, session.Family, sess.TenantID, accountID, ""); err != nil {
		s.renderError(c, errors.Join(errUnavailable, err))
		return
	}
	if !changed {
		s.familyDone(c, id, "Le compte de "+acc.Email+" était déjà désactivé ; ses sessions sont fermées.")
		return
	}
	s.familyDone(c, id, "Le compte de "+acc.Email+" est désactivé : ses sessions sont fermées et il ne peut plus se connecter.")
}
