package portal

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/billing"
	"github.com/regie/regie/portal/audit"
	"github.com/regie/regie/tenant"
)

//go:embed api_openapi.json
var openAPIDoc []byte

func (s *Server) apiOpenAPI(c *gin.Context) {
	c.Data(http.StatusOK, "application/json; charset=utf-8", openAPIDoc)
}

// apiActor is who an API request acts as, for the audit log.
func apiActor(c *gin.Context) audit.Actor {
	k := apiKeyFrom(c)
	return audit.Actor{Kind: "api", ID: k.ID, Email: "clé « " + k.Name + " » (" + k.Prefix + ")"}
}

// apiFamily is a family as the API reads and writes it.
type apiFamily struct {
	ID         int64    `json:"id,omitempty"`
	Famille    string   `json:"famille,omitempty"`
	Nom        string   `json:"nom"`
	Emails     []string `json:"emails"`
	Adresse    string   `json:"adresse"`
	CodePostal string   `json:"code_postal"`
	Ville      string   `json:"ville"`
}

// apiPutFamily creates or updates the family with the commune's id
// :famille: name, postal address and e-mail addresses (the list replaces
// the old one).
func (s *Server) apiPutFamily(c *gin.Context) {
	s.apiWrite(c, func(ctx context.Context, tx *sqlx.Tx, tid tenant.ID, body []byte) (apiResult, error) {
		var in apiFamily
		if err := readJSON(body, &in); err != nil {
			return apiResult{}, err
		}
		var errs []fieldError
		emails := make([]string, 0, len(in.Emails))
		for i, e := range in.Emails {
			n, err := billing.NormalizeEmail(e)
			if err != nil {
				errs = append(errs, fieldError{Champ: fmt.Sprintf("emails[%d]", i), Message: "adresse de messagerie invalide : « " + e + " »"})
				continue
			}
			emails = append(emails, n)
		}
		f := billing.Family{Ref: c.Param("famille"), Name: strings.TrimSpace(in.Nom), Emails: emails,
			Address: strings.TrimSpace(in.Adresse), PostalCode: strings.TrimSpace(in.CodePostal), City: strings.TrimSpace(in.Ville)}
		var ve *billing.ValidationError
		if err := f.Validate(); errors.As(err, &ve) && len(errs) == 0 {
			errs = append(errs, fieldError{Champ: ve.Field, Message: ve.Message})
		}
		if len(errs) > 0 {
			return apiResult{}, invalid(errs)
		}
		saved, err := billing.SaveFamily(ctx, tx, tid, f)
		if err != nil {
			return apiResult{}, err
		}
		return apiResult{http.StatusOK, apiFamily{ID: saved.ID, Famille: saved.Ref, Nom: saved.Name, Emails: append([]string{}, saved.Emails...),
			Adresse: saved.Address, CodePostal: saved.PostalCode, Ville: saved.City}}, nil
	})
}

func invalid(errs []fieldError) *apiError {
	p := apiErr(http.StatusUnprocessableEntity, "donnees_invalides",
		fmt.Sprintf("La requête contient %d erreur(s) : rien n'a été enregistré.", len(errs))).p
	p.Erreurs = errs
	return &apiError{p: p}
}

// maxAPIBody bounds the body of an invoices request.
const maxAPIBody = 16 << 20

// maxAPILines bounds the lines of one invoices request; larger sets go
// through the CSV import.
const maxAPILines = 20_000

// apiImportResult is the outcome of an invoices request.
type apiImportResult struct {
	Lot                *int64 `json:"lot"`
	Lignes             int    `json:"lignes"`
	FacturesNouvelles  int    `json:"factures_nouvelles"`
	FacturesRemplacees int    `json:"factures_remplacees"`
	FacturesInchangees int    `json:"factures_inchangees"`
	FamillesNouvelles  int    `json:"familles_nouvelles"`
	FamillesModifiees  int    `json:"familles_modifiees"`
	TotalCentimes      int64  `json:"total_centimes"`
}

// apiCreateInvoices imports invoice lines, with the columns, rules and
// numbering of the CSV import, all or nothing, into a new batch to publish.
func (s *Server) apiCreateInvoices(c *gin.Context) {
	s.apiWrite(c, func(ctx context.Context, tx *sqlx.Tx, tid tenant.ID, body []byte) (apiResult, error) {
		var in struct {
			Lignes []map[string]json.RawMessage `json:"lignes"`
		}
		if err := readJSON(body, &in); err != nil {
			return apiResult{}, err
		}
		switch {
		case len(in.Lignes) == 0:
			return apiResult{}, invalid([]fieldError{{Champ: "lignes", Message: "aucune ligne de facture"}})
		case len(in.Lignes) > maxAPILines:
			return apiResult{}, invalid([]fieldError{{Champ: "lignes", Message: fmt.Sprintf("%d lignes au plus par requête (%d envoyées) : découpez l'envoi ou importez un fichier CSV", maxAPILines, len(in.Lignes))}})
		}
		rows, errs := apiRows(in.Lignes)
		if len(errs) > 0 {
			return apiResult{}, invalid(errs)
		}
		series, err := billing.ListSeries(ctx, tx, tid)
		if err != nil {
			return apiResult{}, err
		}
		codes := make([]string, len(series))
		for i, se := range series {
			codes[i] = se.Code
		}
		key := apiKeyFrom(c)
		res, err := billing.Import(ctx, tx, tid, billing.NewFieldsSource(rows, codes), billing.ImportOptions{Filename: "API (clé « " + key.Name + " »)"})
		if errors.Is(err, billing.ErrInvalidImport) {
			fe := make([]fieldError, len(res.Errors))
			for i, e := range res.Errors {
				fe[i] = fieldError{Ligne: e.Line, Champ: e.Column, Message: e.Message}
			}
			return apiResult{}, invalid(fe)
		}
		if err != nil {
			return apiResult{}, err
		}
		out := apiImportResult{Lignes: res.Rows, FacturesNouvelles: res.NewInvoices, FacturesRemplacees: res.ReplacedInvoices,
			FacturesInchangees: res.UnchangedInvoices, FamillesNouvelles: res.NewFamilies, FamillesModifiees: res.UpdatedFamilies, TotalCentimes: res.TotalCents}
		if res.BatchID == 0 {
			return apiResult{http.StatusOK, out}, nil
		}
		out.Lot = &res.BatchID
		err = audit.Record(ctx, tx, tid, apiActor(c), audit.Entry{Action: "batch.import", TargetType: "import_batch", TargetID: itoa(res.BatchID),
			After: map[string]any{"invoices": res.NewInvoices + res.ReplacedInvoices, "total_cents": res.TotalCents, "source": "api"}})
		return apiResult{http.StatusCreated, out}, err
	})
}

// apiRows turns the JSON lines into import fields: strings and numbers as
// written, null as empty, a list of strings (the e-mail addresses) joined.
func apiRows(lines []map[string]json.RawMessage) ([]map[string]string, []fieldError) {
	rows := make([]map[string]string, len(lines))
	var errs []fieldError
	for i, l := range lines {
		row := make(map[string]string, len(l))
		for k, raw := range l {
			var v any
			if err := json.Unmarshal(raw, &v); err != nil {
				errs = append(errs, fieldError{Ligne: i + 1, Champ: k, Message: "valeur illisible"})
				continue
			}
			switch v := v.(type) {
			case nil:
				row[k] = ""
			case string:
				row[k] = v
			case float64:
				row[k] = string(raw) // as written: no float rounding
			case []any:
				var parts []string
				for _, p := range v {
					ps, ok := p.(string)
					if !ok {
						errs = append(errs, fieldError{Ligne: i + 1, Champ: k, Message: "liste de chaînes attendue"})
						break
					}
					parts = append(parts, ps)
				}
				row[k] = strings.Join(parts, ",")
			default:
				errs = append(errs, fieldError{Ligne: i + 1, Champ: k, Message: "chaîne ou nombre attendu"})
			}
		}
		rows[i] = row
	}
	return rows, errs
}

// apiPublish publishes an imported batch: its invoices get their numbers
// and the families are told by e-mail.
func (s *Server) apiPublish(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		apiFail(c, apiErr(http.StatusNotFound, "introuvable", "Aucun lot de cette commune ne porte ce numéro."))
		return
	}
	s.apiWrite(c, func(ctx context.Context, tx *sqlx.Tx, tid tenant.ID, _ []byte) (apiResult, error) {
		before, err := billing.BatchByID(ctx, tx, tid, id)
		if errors.Is(err, billing.ErrNotFound) {
			return apiResult{}, apiErr(http.StatusNotFound, "introuvable", "Aucun lot de cette commune ne porte ce numéro.")
		}
		if err != nil {
			return apiResult{}, err
		}
		n, err := billing.Publish(ctx, tx, s.jobs, tid, id, s.now())
		var ve *billing.ValidationError
		switch {
		case errors.Is(err, billing.ErrBatchState):
			return apiResult{}, apiErr(http.StatusConflict, "lot_deja_traite", "Ce lot est déjà publié ou annulé.")
		case errors.As(err, &ve):
			return apiResult{}, apiErr(http.StatusUnprocessableEntity, "publication_refusee", "Publication refusée : "+ve.Message+".")
		case err != nil:
			return apiResult{}, err
		}
		err = audit.Record(ctx, tx, tid, apiActor(c), audit.Entry{Action: "batch.publish", TargetType: "import_batch",
			TargetID: itoa(id), Before: batchAudit{Status: before.Status, PublishAt: before.PublishAt},
			After: batchAudit{Status: billing.BatchPublished, Invoices: n}})
		return apiResult{http.StatusOK, map[string]any{"lot": id, "factures_publiees": n}}, err
	})
}

// apiStatuses are the invoice statuses as the API names them.
var apiStatuses = map[billing.InvoiceStatus]string{
	billing.Draft: "brouillon", billing.Published: "publiee", billing.Paid: "payee", billing.Cancelled: "annulee",
}

// apiInvoice is an invoice as the API lists it.
type apiInvoice struct {
	ID            int64      `json:"id" db:"id"`
	Lot           int64      `json:"lot" db:"batch_id"`
	Reference     *string    `json:"reference" db:"reference"`
	Numero        *int64     `json:"numero" db:"number"`
	Famille       string     `json:"famille" db:"family_ref"`
	Serie         string     `json:"serie" db:"series_code"`
	Periode       string     `json:"periode" db:"-"`
	Echeance      string     `json:"echeance" db:"-"`
	TotalCentimes int64      `json:"total_centimes" db:"total_cents"`
	Statut        string     `json:"statut" db:"-"`
	PublieeLe     *time.Time `json:"publiee_le" db:"published_at"`
	PayeeLe       *time.Time `json:"payee_le" db:"paid_at"`
	AnnuleeLe     *time.Time `json:"annulee_le" db:"cancelled_at"`

	Period  time.Time             `json:"-" db:"period"`
	DueDate time.Time             `json:"-" db:"due_date"`
	Status  billing.InvoiceStatus `json:"-" db:"status"`
}

// apiListInvoices lists the commune's invoices by id, optionally of a batch
// or a status, a page at a time: "suivant" is the "apres" of the next page,
// null on the last.
func (s *Server) apiListInvoices(c *gin.Context) {
	status := billing.InvoiceStatus("")
	if v := c.Query("statut"); v != "" {
		for st, name := range apiStatuses {
			if name == v {
				status = st
			}
		}
		if status == "" {
			apiFail(c, &apiError{p: problem{Type: "about:blank", Title: http.StatusText(http.StatusBadRequest), Status: http.StatusBadRequest,
				Code: "parametre_invalide", Detail: "Le paramètre « statut » vaut brouillon, publiee, payee ou annulee.",
				Erreurs: []fieldError{{Champ: "statut", Message: "brouillon, publiee, payee ou annulee"}}}})
			return
		}
	}
	after, err := queryInt(c, "apres", 0, 0, 1<<62)
	if err == nil {
		var batch, limit int64
		if batch, err = queryInt(c, "lot", 0, 0, 1<<62); err == nil {
			if limit, err = queryInt(c, "limite", 100, 1, 1000); err == nil {
				s.apiRead(c, func(ctx context.Context, tx *sqlx.Tx, tid tenant.ID) (any, error) {
					return listAPIInvoices(ctx, tx, tid, status, batch, after, int(limit))
				})
				return
			}
		}
	}
	apiFail(c, err)
}

func listAPIInvoices(ctx context.Context, tx *sqlx.Tx, tid tenant.ID, status billing.InvoiceStatus, batch, after int64, limit int) (any, error) {
	// invoices_by_status_id and invoices_by_batch serve the filters in id
	// order; the primary key serves the rest.
	const q = `SELECT i.id, i.batch_id, i.reference, i.number, f.ref AS family_ref, se.code AS series_code,
			i.period, i.due_date, i.total_cents, i.status, i.published_at, i.paid_at, i.cancelled_at
		FROM invoices i
		JOIN families f ON f.tenant_id = i.tenant_id AND f.id = i.family_id
		JOIN series se ON se.tenant_id = i.tenant_id AND se.id = i.series_id
		WHERE i.tenant_id = $1 AND i.id > $2::bigint AND ($3::text = '' OR i.status = $3) AND ($4::bigint = 0 OR i.batch_id = $4)
		ORDER BY i.id LIMIT $5`
	invs := []apiInvoice{}
	if err := sqlx.SelectContext(ctx, tx, &invs, q, tid, after, string(status), batch, limit+1); err != nil {
		return nil, err
	}
	var next *string
	if len(invs) > limit {
		invs = invs[:limit]
		n := strconv.FormatInt(invs[limit-1].ID, 10)
		next = &n
	}
	for i := range invs {
		invs[i].Periode = invs[i].Period.Format("2006-01")
		invs[i].Echeance = invs[i].DueDate.Format(time.DateOnly)
		invs[i].Statut = apiStatuses[invs[i].Status]
	}
	return map[string]any{"factures": invs, "suivant": next}, nil
}

// apiPayment is a payment as the API lists it.
type apiPayment struct {
	ID              int64     `json:"id" db:"id"`
	Facture         int64     `json:"facture" db:"invoice_id"`
	Reference       *string   `json:"reference" db:"reference"`
	Famille         string    `json:"famille" db:"family_ref"`
	MontantCentimes int64     `json:"montant_centimes" db:"amount_cents"`
	Canal           string    `json:"canal" db:"channel"`
	Moyen           string    `json:"moyen" db:"means"`
	PayeLe          time.Time `json:"paye_le" db:"paid_at"`
	Test            bool      `json:"test" db:"test"`
	Impute          bool      `json:"impute" db:"applied"`
	Anomalie        string    `json:"anomalie" db:"anomaly"`

	XID string `json:"-" db:"xid"`
}

// apiListPayments lists the payments recorded since a cursor, in the order
// their transactions committed, and the cursor to ask next. A payment is
// listed once every transaction that started before it has ended (the
// snapshot's xmin), so one committing late is never skipped: following
// the cursors sees every payment exactly once.
func (s *Server) apiListPayments(c *gin.Context) {
	xid, id, ok := parsePaymentCursor(c.Query("curseur"))
	if !ok {
		apiFail(c, &apiError{p: problem{Type: "about:blank", Title: http.StatusText(http.StatusBadRequest), Status: http.StatusBadRequest,
			Code: "parametre_invalide", Detail: "Le paramètre « curseur » doit être celui d'une réponse précédente (ou absent pour tout recevoir depuis le début).",
			Erreurs: []fieldError{{Champ: "curseur", Message: "curseur illisible"}}}})
		return
	}
	limit, err := queryInt(c, "limite", 100, 1, 1000)
	if err != nil {
		apiFail(c, err)
		return
	}
	s.apiRead(c, func(ctx context.Context, tx *sqlx.Tx, tid tenant.ID) (any, error) {
		const q = `SELECT p.xid::text AS xid, p.id, p.invoice_id, i.reference, f.ref AS family_ref, p.amount_cents,
				p.channel, p.means, p.paid_at, p.test, p.applied, p.anomaly
			FROM payments p
			JOIN invoices i ON i.tenant_id = p.tenant_id AND i.id = p.invoice_id
			JOIN families f ON f.tenant_id = i.tenant_id AND f.id = i.family_id
			WHERE p.tenant_id = $1 AND (p.xid, p.id) > ($2::xid8, $3::bigint)
				AND p.xid < pg_snapshot_xmin(pg_current_snapshot())
			ORDER BY p.xid, p.id LIMIT $4`
		ps := []apiPayment{}
		if err := sqlx.SelectContext(ctx, tx, &ps, q, tid, xid, id, limit); err != nil {
			return nil, err
		}
		cursor := xid + "-" + strconv.FormatInt(id, 10)
		if len(ps) > 0 {
			last := ps[len(ps)-1]
			cursor = last.XID + "-" + strconv.FormatInt(last.ID, 10)
		}
		for i := range ps {
			ps[i].Canal = map[string]string{"online": "en_ligne", "counter": "guichet"}[ps[i].Canal]
		}
		return map[string]any{"paiements": ps, "curseur": cursor, "fin": len(ps) < int(limit)}, nil
	})
}

// parsePaymentCursor reads "<xid>-<id>"; empty is the start.
func parsePaymentCursor(v string) (xid string, id int64, ok bool) {
	if v == "" {
		return "0", 0, true
	}
	x, i, found := strings.Cut(v, "-")
	xn, err1 := strconv.ParseUint(x, 10, 64)
	in, err2 := strconv.ParseInt(i, 10, 64)
	if !found || err1 != nil || err2 != nil || in < 0 {
		return "", 0, false
	}
	return strconv.FormatUint(xn, 10), in, true
}
