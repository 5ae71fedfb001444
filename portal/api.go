package portal

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"

	"github.com/regie/regie/portal/apikey"
	"github.com/regie/regie/tenant"
)

// The JSON API of /api/v1/, for the commune's billing software. It is
// described by api_openapi.json (served at /api/v1/openapi.json), which a
// test holds to the router. Requests carry a key of the commune
// ("Authorization: Bearer regie_…"); every error is an RFC 9457
// problem+json in French, with a machine-readable "code" and, for invalid
// input, the list of "erreurs". POST requests honour an Idempotency-Key:
// the same key with the same request answers the first answer again for
// 24 hours, without doing anything twice.

// problem is an RFC 9457 problem detail. Type stays about:blank: the
// status and the code say what happened.
type problem struct {
	Type    string       `json:"type"`
	Title   string       `json:"title"`
	Status  int          `json:"status"`
	Detail  string       `json:"detail,omitempty"`
	Code    string       `json:"code"`
	Erreurs []fieldError `json:"erreurs,omitempty"`
}

// fieldError is one error of the input: a field, and for the invoices'
// lines, the line (from 1).
type fieldError struct {
	Ligne   int    `json:"ligne,omitempty"`
	Champ   string `json:"champ"`
	Message string `json:"message"`
}

// apiError is an API request refused, with its problem.
type apiError struct {
	p     problem
	cause error // for the log; nil when p says it all
}

func (e *apiError) Error() string {
	if e.cause != nil {
		return e.p.Code + ": " + e.cause.Error()
	}
	return e.p.Code + ": " + e.p.Detail
}

func apiErr(status int, code, detail string) *apiError {
	return &apiError{p: problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Code: code, Detail: detail}}
}

// isAPI tells whether a request is one of the JSON API's, which is answered
// in problem+json rather than HTML, whatever refuses it.
func isAPI(c *gin.Context) bool { return strings.HasPrefix(c.Request.URL.Path, "/api/") }

// writeProblem answers a problem.
func writeProblem(c *gin.Context, p problem) {
	c.Header("Content-Type", "application/problem+json; charset=utf-8")
	c.Header("Cache-Control", "no-store")
	b, _ := json.Marshal(p)
	c.Status(p.Status)
	c.Writer.Write(b) //nolint:errcheck // the client went away
	c.Abort()
}

// apiFail answers err: its problem when it is an *apiError, else a 500
// with the full error in the log only.
func apiFail(c *gin.Context, err error) {
	var ae *apiError
	if !errors.As(err, &ae) && unavailable(err) {
		c.Header("Retry-After", "60")
		ae = &apiError{p: apiErr(http.StatusServiceUnavailable, "indisponible",
			"Le portail ne peut pas répondre pour le moment ; la requête n'a rien changé. Réessayez dans quelques minutes.").p, cause: err}
	}
	if ae == nil {
		ae = &apiError{p: apiErr(http.StatusInternalServerError, "erreur_interne",
			"Le service a rencontré un problème ; la requête n'a rien changé. Réessayez dans quelques instants.").p, cause: err}
	}
	l := logger(c.Request.Context())
	if ae.p.Status >= 500 {
		l.Error("api request failed", "err", err)
	} else {
		l.Info("api request rejected", "status", ae.p.Status, "reason", ae.Error())
	}
	writeProblem(c, ae.p)
}

type apiKeyCtx struct{}

// apiAuth admits requests with a live key of the commune, within the key's
// rate limit. Failed attempts are limited by address, keys known or not.
func (s *Server) apiAuth(c *gin.Context) {
	ctx := c.Request.Context()
	t, _ := tenant.FromContext(ctx)
	if t.Suspended() {
		c.Header("Retry-After", "3600")
		apiFail(c, apiErr(http.StatusServiceUnavailable, "commune_suspendue", "Le portail de cette commune est suspendu ; l'API ne répond plus jusqu'à sa réouverture."))
		return
	}
	ipKey := c.ClientIP()
	if wait, err := s.exhausted(ctx, s.limits.apiAuthFailuresByIP, ipKey); err != nil {
		apiFail(c, errors.Join(errUnavailable, err)) // Redis does not answer
		return
	} else if wait > 0 {
		s.tooManyAPI(c, wait, "Trop de clés refusées depuis cette adresse.")
		return
	}
	presented, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
	if !ok || strings.TrimSpace(presented) == "" {
		c.Header("WWW-Authenticate", `Bearer realm="api"`)
		apiFail(c, apiErr(http.StatusUnauthorized, "cle_manquante", "Clé d'API manquante : envoyez l'en-tête « Authorization: Bearer <clé> ». Les administrateurs de la mairie créent les clés dans la gestion, page « API »."))
		return
	}
	var key apikey.Key
	err := tenant.WithTx(ctx, s.db, t.ID, func(tx *sqlx.Tx) error {
		var err error
		key, err = apikey.Authenticate(ctx, tx, t.ID, strings.TrimSpace(presented), s.now())
		return err
	})
	if errors.Is(err, apikey.ErrInvalid) {
		if _, lerr := s.take(ctx, s.limits.apiAuthFailuresByIP, ipKey); lerr != nil {
			logger(ctx).Error("api auth limit", "err", lerr)
		}
		c.Header("WWW-Authenticate", `Bearer realm="api", error="invalid_token"`)
		apiFail(c, &apiError{p: apiErr(http.StatusUnauthorized, "cle_invalide", "Clé d'API inconnue ou révoquée pour cette commune.").p, cause: err})
		return
	}
	if err != nil {
		apiFail(c, err)
		return
	}
	if wait, err := s.take(ctx, s.limits.apiRequestsByKey, itoa(int64(t.ID))+":"+itoa(key.ID)); err != nil {
		apiFail(c, errors.Join(errUnavailable, err)) // Redis does not answer
		return
	} else if wait > 0 {
		s.tooManyAPI(c, wait, fmt.Sprintf("Cette clé a dépassé %d requêtes par minute.", s.limits.apiRequestsByKey.rate))
		return
	}
	withValue(c, apiKeyCtx{}, key)
	setLogger(c, logger(ctx).With("api_key", key.Prefix))
	c.Next()
}

func (s *Server) tooManyAPI(c *gin.Context, wait time.Duration, why string) {
	secs := int(wait.Round(time.Second) / time.Second)
	c.Header("Retry-After", strconv.Itoa(max(secs, 1)))
	apiFail(c, apiErr(http.StatusTooManyRequests, "trop_de_requetes", fmt.Sprintf("%s Réessayez dans %d seconde(s).", why, max(secs, 1))))
}

func apiKeyFrom(c *gin.Context) apikey.Key {
	k, _ := c.Request.Context().Value(apiKeyCtx{}).(apikey.Key)
	return k
}

// apiResult is what a handler answers: a status and a JSON body.
type apiResult struct {
	status int
	body   any
}

// readJSON decodes the request body into v, strictly: unknown fields, a
// wrong type or trailing data are refused with a French problem.
func readJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("trailing data")
	}
	if err == nil {
		return nil
	}
	detail := "Le corps de la requête n'est pas un JSON valide."
	var (
		typeErr *json.UnmarshalTypeError
		synErr  *json.SyntaxError
	)
	switch {
	case errors.As(err, &typeErr):
		detail = fmt.Sprintf("Le champ « %s » n'a pas le bon type : %s attendu.", typeErr.Field, jsonKind(typeErr.Type.Kind().String()))
	case errors.As(err, &synErr):
		detail = fmt.Sprintf("Le corps de la requête n'est pas un JSON valide (erreur vers l'octet %d).", synErr.Offset)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		detail = fmt.Sprintf("Champ inconnu %s.", strings.TrimPrefix(err.Error(), "json: unknown field "))
	case errors.Is(err, io.EOF):
		detail = "Le corps de la requête est vide : un objet JSON est attendu."
	}
	return &apiError{p: apiErr(http.StatusBadRequest, "json_invalide", detail).p, cause: err}
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "une chaîne"
	case "slice":
		return "une liste"
	case "map", "struct":
		return "un objet"
	case "int64", "int", "float64":
		return "un nombre"
	case "bool":
		return "un booléen"
	}
	return k
}

// readBody reads the whole request body, within the limit limitBody set.
func readBody(c *gin.Context) ([]byte, error) {
	b, err := io.ReadAll(c.Request.Body)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, apiErr(http.StatusRequestEntityTooLarge, "trop_volumineux", fmt.Sprintf("Le corps de la requête dépasse %d Mo.", mbe.Limit>>20))
	}
	return b, err
}

// idempotencyTTL is how long an Idempotency-Key is remembered.
const idempotencyTTL = 24 * time.Hour

// apiWrite runs a writing request: fn, in one transaction of the commune,
// and answers its result. With an Idempotency-Key, the first answer (when
// it changed something) is kept in the same transaction, and the same key
// with the same request answers it again; with another request, 422.
// Requests with the same key wait for each other.
func (s *Server) apiWrite(c *gin.Context, fn func(ctx context.Context, tx *sqlx.Tx, tid tenant.ID, body []byte) (apiResult, error)) {
	ctx := c.Request.Context()
	t, _ := tenant.FromContext(ctx)
	body, err := readBody(c)
	if err != nil {
		apiFail(c, err)
		return
	}
	key := c.GetHeader("Idempotency-Key")
	if len(key) > 200 {
		apiFail(c, apiErr(http.StatusBadRequest, "idempotency_key_invalide", "L'en-tête Idempotency-Key dépasse 200 caractères."))
		return
	}
	sum := sha256.Sum256(append([]byte(c.Request.Method+" "+c.Request.URL.Path+"\n"), body...))
	reqHash := hex.EncodeToString(sum[:])
	var (
		res      apiResult
		replayed *struct {
			Status int    `db:"status"`
			Body   string `db:"body"`
		}
	)
	err = tenant.WithTx(ctx, s.db, t.ID, func(tx *sqlx.Tx) error {
		now := s.now()
		if key != "" {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, $2))`, key, int64(t.ID)); err != nil {
				return err
			}
			var prev struct {
				Hash   string `db:"request_hash"`
				Status int    `db:"status"`
				Body   string `db:"body"`
			}
			err := tx.GetContext(ctx, &prev, `SELECT request_hash, status, body FROM api_idempotency
				WHERE tenant_id = $1 AND key = $2 AND created_at > $3`, t.ID, key, now.Add(-idempotencyTTL))
			switch {
			case err == nil && prev.Hash != reqHash:
				return apiErr(http.StatusUnprocessableEntity, "idempotency_key_reutilisee",
					"Cette clé Idempotency-Key a déjà servi pour une autre requête : utilisez une clé nouvelle pour chaque opération.")
			case err == nil:
				replayed = &struct {
					Status int    `db:"status"`
					Body   string `db:"body"`
				}{prev.Status, prev.Body}
				return nil
			case !errors.Is(err, sql.ErrNoRows):
				return err
			}
		}
		var err error
		if res, err = fn(ctx, tx, t.ID, body); err != nil {
			return err
		}
		if key == "" {
			return nil
		}
		b, err := json.Marshal(res.body)
		if err != nil {
			return err
		}
		// Forget this commune's expired keys as new ones come.
		if _, err := tx.ExecContext(ctx, `DELETE FROM api_idempotency WHERE tenant_id = $1 AND created_at <= $2`, t.ID, now.Add(-idempotencyTTL)); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO api_idempotency (tenant_id, key, request_hash, status, body, created_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, t.ID, key, reqHash, res.status, string(b), now)
		return err
	})
	switch {
	case err != nil:
		apiFail(c, err)
	case replayed != nil:
		c.Header("Idempotent-Replayed", "true")
		c.Data(replayed.Status, "application/json; charset=utf-8", []byte(replayed.Body))
	default:
		c.JSON(res.status, res.body)
	}
}

// apiRead runs a reading request in one transaction of the commune.
func (s *Server) apiRead(c *gin.Context, fn func(ctx context.Context, tx *sqlx.Tx, tid tenant.ID) (any, error)) {
	ctx := c.Request.Context()
	t, _ := tenant.FromContext(ctx)
	var out any
	err := tenant.WithTx(ctx, s.db, t.ID, func(tx *sqlx.Tx) error {
		var err error
		out, err = fn(ctx, tx, t.ID)
		return err
	})
	if err != nil {
		apiFail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

// queryInt reads an optional integer query parameter within [lo, hi].
func queryInt(c *gin.Context, name string, def, lo, hi int64) (int64, error) {
	v := c.Query(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, &apiError{p: problem{Type: "about:blank", Title: http.StatusText(http.StatusBadRequest), Status: http.StatusBadRequest,
			Code: "parametre_invalide", Detail: fmt.Sprintf("Le paramètre « %s » doit être un entier de %d à %d.", name, lo, hi),
			Erreurs: []fieldError{{Champ: name, Message: fmt.Sprintf("entier de %d à %d attendu", lo, hi)}}}}
	}
	return n, nil
}
