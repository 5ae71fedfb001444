package portal

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/portal/audit"
	"github.com/regie/regie/tenant"
)

// The audit log page (administrators): every change made to the commune,
// newest first. It only reads: the application role may insert into
// audit_log and select from it, nothing else, and no route changes it.

const auditPageSize = 50

// auditView is the data of the audit log page.
type auditView struct {
	Page
	Entries []auditEntry
	Older   string // link to the next (older) page, if any
	Paged   bool   // not the first page: offer a way back to the newest
}

// auditEntry is one change as the page shows it.
type auditEntry struct {
	At     string
	Who    string
	What   string // the action in words
	Action string // its name, for those who search the log
	Target string
	Before string // indented JSON, escaped by the template
	After  string
}

// auditLabels name the actions in French; an action without a label is
// shown by its name.
var auditLabels = map[string]string{
	"tenant.settings":          "Informations de la commune modifiées",
	"tenant.logo":              "Logo modifié",
	"tenant.payment_settings":  "Paiement en ligne modifié",
	"series.create":            "Série de factures créée",
	"series.update":            "Série de factures modifiée",
	"staff.invite":             "Membre de l'équipe invité",
	"staff.role":               "Rôle modifié",
	"staff.totp_reset":         "Double authentification réinitialisée",
	"staff.remove":             "Membre retiré de l'équipe",
	"staff.password_set":       "Mot de passe choisi (invitation)",
	"staff.password_changed":   "Mot de passe changé",
	"staff.totp_enabled":       "Double authentification activée",
	"staff.recovery_code_used": "Code de secours utilisé",
	"family.update":            "Famille modifiée",
	"family.email_add":         "Adresse ajoutée à une famille",
	"family.email_replace":     "Adresse d'une famille corrigée",
	"family.email_remove":      "Adresse retirée d'une famille",
	"family.activation_resent": "Courriel d'activation renvoyé",
	"account.disable":          "Compte famille désactivé",
	"invoice.cancel":           "Facture annulée",
	"invoice.counter_payment":  "Paiement au guichet enregistré",
	"import.upload":            "Fichier d'import déposé",
	"import.confirm":           "Import confirmé",
	"batch.import":             "Lot importé (API)",
	"batch.publish":            "Lot publié",
	"batch.cancel":             "Lot annulé",
	"apikey.create":            "Clé d'API créée",
	"apikey.revoke":            "Clé d'API révoquée",
}

// targetLabels name the kinds of things changed.
var targetLabels = map[string]string{
	"tenant":        "Commune",
	"commune":       "Commune",
	"series":        "Série",
	"staff":         "Membre de l'équipe",
	"family":        "Famille",
	"account":       "Compte famille",
	"invoice":       "Facture",
	"import_batch":  "Lot",
	"import_upload": "Import",
	"api_key":       "Clé d'API",
}

var actorLabels = map[string]string{
	"operator": "Opérateur de la plateforme",
	"system":   "Système",
	"api":      "API",
}

func auditLabel(action string) string {
	if l, ok := auditLabels[action]; ok {
		return l
	}
	if rest, ok := strings.CutPrefix(action, "operator."); ok {
		return "Opérateur de la plateforme : " + rest
	}
	return action
}

// prettyJSON indents a stored value; the template escapes it.
func prettyJSON(raw *string) string {
	if raw == nil || *raw == "" || *raw == "null" {
		return ""
	}
	var b bytes.Buffer
	if err := json.Indent(&b, []byte(*raw), "", "  "); err != nil {
		return *raw
	}
	return b.String()
}

func newAuditEntry(r audit.Row) auditEntry {
	e := auditEntry{At: r.At.In(tenant.Paris).Format("02/01/2006 à 15:04:05"), What: auditLabel(r.Action), Action: r.Action,
		Before: prettyJSON(r.Before), After: prettyJSON(r.After)}
	e.Who = r.ActorEmail
	if l, ok := actorLabels[r.ActorKind]; ok {
		e.Who = strings.TrimSpace(l + " " + r.ActorEmail)
	}
	if e.Who == "" {
		e.Who = "—"
	}
	if r.TargetType != "" || r.TargetID != "" {
		kind := targetLabels[r.TargetType]
		if kind == "" {
			kind = r.TargetType
		}
		e.Target = strings.TrimSpace(kind + " " + r.TargetID)
	}
	return e
}

// auditPage lists the commune's audit log, newest first, 50 entries a page
// (keyset pagination on the id: ?avant=<id>).
func (s *Server) auditPage(c *gin.Context) {
	ctx := c.Request.Context()
	sess, _ := staffFrom(c)
	before := int64(0)
	if raw := c.Query("avant"); raw != "" {
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n < 1 {
			s.renderError(c, errNotFound)
			return
		}
		before = n
	}
	var rows []audit.Row
	err := s.inStaffTx(c, func(tx *sqlx.Tx) error {
		var err error
		rows, err = audit.List(ctx, tx, sess.TenantID, before, auditPageSize+1)
		return err
	})
	if err != nil {
		s.renderError(c, err)
		return
	}
	v := auditView{Page: s.staffPage(c, "Journal d'audit", "journal"), Paged: before != 0}
	if len(rows) > auditPageSize {
		rows = rows[:auditPageSize]
		v.Older = "/gestion/journal?avant=" + itoa(rows[len(rows)-1].ID)
	}
	for _, r := range rows {
		v.Entries = append(v.Entries, newAuditEntry(r))
	}
	s.render(c, http.StatusOK, "staff_audit.html", v)
}
