package portal

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/payments/payfip"
	"github.com/regie/regie/portal/audit"
	"github.com/regie/regie/tenant"
)

// The settings page (administrators): the commune's details and legal
// texts, its logo (staff_logo.go), its payment settings with a check of the
// client number at DGFiP, and its invoice series. Every form posts to its
// own route; a rejected one shows the whole page again with its errors.

// settingsView is the data of the settings page.
type settingsView struct {
	Page
	Commune     tenant.Settings
	CommuneErrs fieldMessages
	Logo        bool  // the commune has a logo
	LogoVersion int64 // cache-busting parameter of /logo
	LogoError   string
	MaxLogoKB   int
	MaxLogoPx   int
	Payment     tenant.PaymentSettings
	Production  bool // the stored mode is production: no confirmation asked
	PaymentErrs fieldMessages
	Protocols   []settingsOption
	Modes       []settingsOption
	Check       *dgfipAnswer // the answer of "Vérifier auprès de la DGFiP"
	Series      []seriesRow
	NewSeries   seriesRow // the creation form
}

// settingsOption is one choice of a select.
type settingsOption struct {
	Value, Label string
	Selected     bool
}

// dgfipAnswer is what DGFiP said about a client number, in words.
type dgfipAnswer struct {
	Numcli  string
	Labels  []string // libelleN1..3 when DGFiP knows it
	Problem string   // otherwise the reason, in plain French
}

// seriesForm is a series as typed in its form.
type seriesForm struct {
	Code, Label, Pattern, Numcli, Next string
}

// seriesRow is a series of the list, with its edit form (or, with ID 0,
// the creation form).
type seriesRow struct {
	ID      int64
	Prefix  string // of its fields' ids: "serie-12", "new"
	Code    string
	Label   string
	Pattern string
	Numcli  string // its own, or "celui de la commune (…)"
	Next    int64
	Example string // the reference its next invoice would get this month
	Form    seriesForm
	Errs    fieldMessages
}

// fieldMessages are the French messages of a rejected form, by field.
type fieldMessages map[string]string

// collectFieldMessages gathers the validation errors of the domain
// packages (one, or several joined) by field. ok is false when err holds
// none: it is then a failure, not a rejected form.
func collectFieldMessages(err error) (fieldMessages, bool) {
	out := fieldMessages{}
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var tv *tenant.ValidationError
		var bv *billing.ValidationError
		switch {
		case errors.As(err, &tv):
			out.add(tv.Field, tv.Message)
		case errors.As(err, &bv):
			out.add(bv.Field, bv.Message)
		}
	}
	walk(err)
	return out, len(out) > 0
}

// add keeps the first message of a field, as a sentence.
func (m fieldMessages) add(field, msg string) {
	if _, ok := m[field]; ok || msg == "" {
		return
	}
	r, n := utf8.DecodeRuneInString(msg)
	msg = string(unicode.ToUpper(r)) + msg[n:]
	if !strings.HasSuffix(msg, ".") {
		msg += "."
	}
	m[field] = msg
}

var (
	protocolLabels = []settingsOption{
		{Value: string(tenant.ProtocolPayFiP), Label: "PayFiP (service web de la DGFiP, recommandé)"},
		{Value: string(tenant.ProtocolTIPI), Label: "TIPI (ancien protocole par adresse)"},
	}
	modeLabels = []settingsOption{
		{Value: string(tenant.ModeTest), Label: "Test (aucun paiement réel)"},
		{Value: string(tenant.ModeActivation), Label: "Activation (paiements réels de recette avec la DGFiP)"},
		{Value: string(tenant.ModeProduction), Label: "Production (paiements réels des familles)"},
	}
)

func choose(opts []settingsOption, value string) []settingsOption {
	out := make([]settingsOption, len(opts))
	for i, o := range opts {
		o.Selected = o.Value == value
		out[i] = o
	}
	return out
}

// settingsData reads the page's data from the database (fresher than the
// resolver's copy of the commune).
func (s *Server) settingsData(c *gin.Context) (settingsView, error) {
	ctx := c.Request.Context()
	sess, _ := staffFrom(c)
	v := settingsView{Page: s.staffPage(c, "Paramètres", "parametres"), MaxLogoKB: maxLogoBytes >> 10, MaxLogoPx: maxLogoPixels}
	var t tenant.Tenant
	var series []billing.Series
	err := s.inStaffTx(c, func(tx *sqlx.Tx) error {
		var err error
		if t, err = tenant.Current(ctx, tx, sess.TenantID); err != nil {
			return err
		}
		series, err = billing.ListSeries(ctx, tx, sess.TenantID)
		return err
	})
	if err != nil {
		return v, err
	}
	v.Commune, v.Payment, v.Production = t.Settings(), t.PaymentSettings(), t.Mode == tenant.ModeProduction
	v.Logo, v.LogoVersion = t.LogoKey != "", t.UpdatedAt.Unix()
	now := s.now().In(tenant.Paris)
	for _, sr := range series {
		row := seriesRow{ID: sr.ID, Prefix: "serie-" + itoa(sr.ID), Code: sr.Code, Label: sr.Label, Pattern: sr.Pattern, Next: sr.NextNumber,
			Numcli: "celui de la commune (" + t.Numcli + ")"}
		row.Form = seriesForm{Code: sr.Code, Label: sr.Label, Pattern: sr.Pattern, Next: itoa(sr.NextNumber)}
		if sr.Numcli != nil {
			row.Numcli, row.Form.Numcli = *sr.Numcli, *sr.Numcli
		}
		row.Example, _ = billing.FormatReference(sr.Pattern, sr.Code, now.Year(), int(now.Month()), sr.NextNumber)
		v.Series = append(v.Series, row)
	}
	v.NewSeries = seriesRow{Prefix: "new", Form: seriesForm{Next: "1"}}
	return v, nil
}

// renderSettings shows the page with the selects filled in.
func (s *Server) renderSettings(c *gin.Context, status int, v settingsView) {
	v.Protocols = choose(protocolLabels, string(v.Payment.Protocol))
	v.Modes = choose(modeLabels, string(v.Payment.Mode))
	s.render(c, status, "staff_settings.html", v)
}

func (s *Server) settingsPage(c *gin.Context) {
	v, err := s.settingsData(c)
	if err != nil {
		s.renderError(c, err)
		return
	}
	s.renderSettings(c, http.StatusOK, v)
}

// tenantChanged drops this instance's cached copy of the commune at once
// and tells the others (best effort: their copies expire anyway).
func (s *Server) tenantChanged(ctx context.Context, id tenant.ID) {
	s.resolver.Invalidate(id)
	if err := tenant.Announce(ctx, s.rdb, id); err != nil {
		logger(ctx).Warn("announce commune change", "err", err)
	}
}

// saveSettings saves the commune's name, colour, contact details and
// legal texts.
func (s *Server) saveSettings(c *gin.Context) {
	ctx := c.Request.Context()
	sess, _ := staffFrom(c)
	in := tenant.Settings{
		Name: c.PostForm("name"), AccentColor: c.PostForm("accent_color"), ContactEmail: c.PostForm("contact_email"),
		ContactPhone: c.PostForm("contact_phone"), PostalAddress: c.PostForm("postal_address"),
		LegalNotice: c.PostForm("legal_notice"), PrivacyNotice: c.PostForm("privacy_notice"),
		AccessibilityStatement: c.PostForm("accessibility_statement"),
	}
	changed := false
	err := s.inStaffTx(c, func(tx *sqlx.Tx) error {
		before, after, err := tenant.UpdateSettings(ctx, tx, sess.TenantID, in)
		if err != nil || before.Settings() == after.Settings() {
			return err
		}
		changed = true
		return audit.Record(ctx, tx, sess.TenantID, actor(c), audit.Entry{Action: "tenant.settings", TargetType: "tenant",
			TargetID: itoa(int64(sess.TenantID)), Before: before.Settings(), After: after.Settings()})
	})
	s.settingsSaved(c, err, changed, func(v *settingsView, msgs fieldMessages) { v.Commune, v.CommuneErrs = in, msgs },
		"Aucune modification : les informations de la commune étaient déjà celles-ci.",
		"Les informations de la commune sont enregistrées.", "/gestion/parametres")
}

// settingsSaved answers a settings form: the page again with the fields'
// messages (keep puts back what was typed), or, saved, the news to every
// instance when changed and a flash saying whether anything changed.
func (s *Server) settingsSaved(c *gin.Context, err error, changed bool, keep func(*settingsView, fieldMessages), same, saved, to string) {
	if msgs, ok := collectFieldMessages(err); ok {
		v, err := s.settingsData(c)
		if err != nil {
			s.renderError(c, err)
			return
		}
		keep(&v, msgs)
		s.renderSettings(c, http.StatusUnprocessableEntity, v)
		return
	}
	if err != nil {
		s.renderError(c, err)
		return
	}
	msg := same
	if changed {
		sess, _ := staffFrom(c)
		s.tenantChanged(c.Request.Context(), sess.TenantID)
		msg = saved
	}
	s.setFlash(c, flash{Msg: msg})
	c.Redirect(http.StatusSeeOther, to)
}

// savePaymentSettings saves the default numcli, the protocol and the mode;
// going into production asks for an explicit confirmation.
func (s *Server) savePaymentSettings(c *gin.Context) {
	ctx := c.Request.Context()
	sess, _ := staffFrom(c)
	in := paymentInput(c)
	confirmed := c.PostForm("confirm_production") != ""
	changed := false
	err := s.inStaffTx(c, func(tx *sqlx.Tx) error {
		before, after, err := tenant.UpdatePaymentSettings(ctx, tx, sess.TenantID, in)
		if err != nil || before.PaymentSettings() == after.PaymentSettings() {
			return err
		}
		if after.Mode == tenant.ModeProduction && before.Mode != tenant.ModeProduction && !confirmed {
			return &tenant.ValidationError{Field: "confirm_production",
				Message: "pour passer en production, cochez « Je confirme le passage en production » : les familles paieront réellement"}
		}
		changed = true
		return audit.Record(ctx, tx, sess.TenantID, actor(c), audit.Entry{Action: "tenant.payment_settings", TargetType: "tenant",
			TargetID: itoa(int64(sess.TenantID)), Before: before.PaymentSettings(), After: after.PaymentSettings()})
	})
	s.settingsSaved(c, err, changed, func(v *settingsView, msgs fieldMessages) { v.Payment, v.PaymentErrs = in, msgs },
		"Aucune modification du paiement en ligne.",
		"Les réglages du paiement en ligne sont enregistrés.", "/gestion/parametres#paiement")
}

func paymentInput(c *gin.Context) tenant.PaymentSettings {
	return tenant.PaymentSettings{Numcli: strings.TrimSpace(c.PostForm("numcli")),
		Protocol: tenant.Protocol(c.PostForm("protocol")), Mode: tenant.Mode(c.PostForm("mode"))}
}

// dgfipCheckTimeout bounds "Vérifier auprès de la DGFiP": someone waits.
const dgfipCheckTimeout = 4 * time.Second

// checkDGFiP asks DGFiP what it knows of the client number typed in the
// payment form (recupererDetailClient) and shows its labels, or why not.
// The form keeps what was typed; nothing is saved.
func (s *Server) checkDGFiP(c *gin.Context) {
	ctx := c.Request.Context()
	v, err := s.settingsData(c)
	if err != nil {
		s.renderError(c, err)
		return
	}
	in := paymentInput(c)
	if in.Numcli == "" {
		in.Numcli = v.Payment.Numcli
	}
	if in.Protocol == "" {
		in.Protocol = v.Payment.Protocol
	}
	if in.Mode == "" {
		in.Mode = v.Payment.Mode
	}
	v.Payment = in
	if err := tenant.ValidateNumcli(in.Numcli); err != nil {
		v.PaymentErrs, _ = collectFieldMessages(err)
		s.renderSettings(c, http.StatusUnprocessableEntity, v)
		return
	}
	v.Check = &dgfipAnswer{Numcli: in.Numcli}
	cctx, cancel := context.WithTimeout(ctx, dgfipCheckTimeout)
	defer cancel()
	info, err := s.payments.PayFiP.ClientDetails(cctx, in.Numcli)
	var fault *payfip.Fault
	switch {
	case err == nil:
		for _, l := range []string{info.Label1, info.Label2, info.Label3} {
			if l = strings.TrimSpace(l); l != "" {
				v.Check.Labels = append(v.Check.Labels, l)
			}
		}
	case errors.As(err, &fault):
		logger(ctx).Info("DGFiP check refused", "numcli", in.Numcli, "err", err)
		v.Check.Problem = fault.French()
	default:
		logger(ctx).Warn("DGFiP check failed", "numcli", in.Numcli, "err", err)
		v.Check.Problem = "La DGFiP ne répond pas pour le moment. Réessayez dans quelques minutes."
	}
	s.renderSettings(c, http.StatusOK, v)
}

// seriesAudit is a series as the audit log records it.
type seriesAudit struct {
	Code       string `json:"code"`
	Label      string `json:"label"`
	Pattern    string `json:"pattern"`
	Numcli     string `json:"numcli"` // empty: the commune's
	NextNumber int64  `json:"next_number"`
}

func auditSeries(sr billing.Series) seriesAudit {
	a := seriesAudit{Code: sr.Code, Label: sr.Label, Pattern: sr.Pattern, NextNumber: sr.NextNumber}
	if sr.Numcli != nil {
		a.Numcli = *sr.Numcli
	}
	return a
}

// seriesInput reads a series form. A next number that is not a whole
// number is reported in msgs.
func seriesInput(c *gin.Context) (seriesForm, billing.Series, fieldMessages) {
	f := seriesForm{Code: strings.ToUpper(strings.TrimSpace(c.PostForm("code"))), Label: strings.TrimSpace(c.PostForm("label")),
		Pattern: strings.TrimSpace(c.PostForm("pattern")), Numcli: strings.TrimSpace(c.PostForm("numcli")),
		Next: strings.TrimSpace(c.PostForm("next"))}
	sr := billing.Series{Code: f.Code, Label: f.Label, Pattern: f.Pattern}
	if f.Numcli != "" {
		sr.Numcli = &f.Numcli
	}
	msgs := fieldMessages{}
	if f.Next == "" {
		sr.NextNumber = 0 // CreateSeries starts at 1; UpdateSeries refuses it
	} else if n, err := strconv.ParseInt(strings.ReplaceAll(f.Next, " ", ""), 10, 64); err != nil || n < 1 {
		msgs.add("next", "le prochain numéro est un nombre entier positif, sans séparateur (ex. 8001516)")
	} else {
		sr.NextNumber = n
	}
	return f, sr, msgs
}

// createSeries adds an invoice series.
func (s *Server) createSeries(c *gin.Context) {
	ctx := c.Request.Context()
	sess, _ := staffFrom(c)
	f, in, msgs := seriesInput(c)
	var created billing.Series
	if len(msgs) == 0 {
		err := s.inStaffTx(c, func(tx *sqlx.Tx) error {
			var err error
			if created, err = billing.CreateSeries(ctx, tx, sess.TenantID, in); err != nil {
				return err
			}
			return audit.Record(ctx, tx, sess.TenantID, actor(c), audit.Entry{Action: "series.create", TargetType: "series",
				TargetID: itoa(created.ID), After: auditSeries(created)})
		})
		switch m, ok := collectFieldMessages(err); {
		case ok:
			msgs = m
		case errors.Is(err, billing.ErrConflict):
			msgs.add("code", "une série porte déjà le code « "+f.Code+" » dans votre commune")
		case err != nil:
			s.renderError(c, err)
			return
		}
	}
	if len(msgs) > 0 {
		v, err := s.settingsData(c)
		if err != nil {
			s.renderError(c, err)
			return
		}
		v.NewSeries.Form, v.NewSeries.Errs = f, msgs
		s.renderSettings(c, http.StatusUnprocessableEntity, v)
		return
	}
	now := s.now().In(tenant.Paris)
	example, _ := billing.FormatReference(created.Pattern, created.Code, now.Year(), int(now.Month()), created.NextNumber)
	s.setFlash(c, flash{Msg: "La série " + created.Code + " est créée : sa prochaine facture aura la référence " + example + "."})
	c.Redirect(http.StatusSeeOther, "/gestion/parametres#series")
}

// updateSeries changes a series' label, pattern, numcli and next number
// (which only moves forward). A series of another commune is not found.
func (s *Server) updateSeries(c *gin.Context) {
	ctx := c.Request.Context()
	sess, _ := staffFrom(c)
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		s.renderError(c, errNotFound)
		return
	}
	f, in, msgs := seriesInput(c)
	var after billing.Series
	if len(msgs) == 0 {
		err := s.inStaffTx(c, func(tx *sqlx.Tx) error {
			var before billing.Series
			var err error
			before, after, err = billing.UpdateSeries(ctx, tx, sess.TenantID, id,
				billing.SeriesChange{Label: in.Label, Pattern: in.Pattern, Numcli: in.Numcli, NextNumber: in.NextNumber})
			if err != nil || auditSeries(before) == auditSeries(after) {
				return err
			}
			return audit.Record(ctx, tx, sess.TenantID, actor(c), audit.Entry{Action: "series.update", TargetType: "series",
				TargetID: itoa(id), Before: auditSeries(before), After: auditSeries(after)})
		})
		switch m, ok := collectFieldMessages(err); {
		case errors.Is(err, billing.ErrNotFound):
			s.renderError(c, errNotFound)
			return
		case ok:
			msgs = m
		case err != nil:
			s.renderError(c, err)
			return
		}
	}
	if len(msgs) > 0 {
		v, err := s.settingsData(c)
		if err != nil {
			s.renderError(c, err)
			return
		}
		found := false
		for i := range v.Series {
			if v.Series[i].ID == id {
				f.Code = v.Series[i].Code
				v.Series[i].Form, v.Series[i].Errs = f, msgs
				found = true
			}
		}
		if !found {
			s.renderError(c, errNotFound)
			return
		}
		s.renderSettings(c, http.StatusUnprocessableEntity, v)
		return
	}
	s.setFlash(c, flash{Msg: "La série " + after.Code + " est enregistrée."})
	c.Redirect(http.StatusSeeOther, "/gestion/parametres#serie-"+itoa(id))
}
