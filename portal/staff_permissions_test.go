package portal

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/regie/regie/portal/staff"
)

// TestStaffPermissionMatrix tries every back-office action with every
// role: refused actions give the 403 page, allowed ones anything else (an
// unknown id gives 404, an empty form 422: the permission was granted). The
// expected table is written from the roles' definition, not read from the
// router, and every route of the router must be in it.
func TestStaffPermissionMatrix(t *testing.T) {
	e := sharedEnv(t)
	tn := importCommune(t, "perm-matrix")
	all := []staff.Role{staff.Admin, staff.Agent, staff.Reader}
	staffRoles := []staff.Role{staff.Admin, staff.Agent}
	admins := []staff.Role{staff.Admin}
	want := map[string][]staff.Role{
		"GET /gestion/":                                          all,
		"GET /gestion/compte":                                    all,
		"POST /gestion/compte/mot-de-passe":                      all,
		"GET /gestion/import":                                    all,
		"GET /gestion/import/:id":                                all,
		"GET /gestion/lots/:id":                                  all,
		"GET /gestion/familles":                                  all,
		"GET /gestion/familles/:id":                              all,
		"GET /gestion/factures":                                  all,
		"GET /gestion/factures/:id":                              all,
		"GET /gestion/factures/:id/pdf":                          all,
		"GET /gestion/paiements":                                 all,
		"GET /gestion/paiements.csv":                             all,
		"POST /gestion/import":                                   staffRoles,
		"POST /gestion/import/:id/importer":                      staffRoles,
		"POST /gestion/lots/:id/publier":                         staffRoles,
		"POST /gestion/lots/:id/annuler":                         staffRoles,
		"POST /gestion/familles/:id":                             staffRoles,
		"POST /gestion/familles/:id/adresses":                    staffRoles,
		"POST /gestion/familles/:id/adresses/supprimer":          staffRoles,
		"POST /gestion/familles/:id/activation":                  staffRoles,
		"POST /gestion/familles/:id/comptes/:account/desactiver": staffRoles,
		"POST /gestion/factures/:id/annuler":                     staffRoles,
		"POST /gestion/factures/:id/paiement":                    staffRoles,
		"GET /gestion/parametres":                                admins,
		"POST /gestion/parametres":                               admins,
		"POST /gestion/parametres/logo":                          admins,
		"POST /gestion/parametres/paiement":                      admins,
		"POST /gestion/parametres/verifier-dgfip":                admins,
		"POST /gestion/parametres/series":                        admins,
		"POST /gestion/parametres/series/:id":                    admins,
		"GET /gestion/equipe":                                    admins,
		"POST /gestion/equipe":                                   admins,
		"POST /gestion/equipe/:id/role":                          admins,
		"POST /gestion/equipe/:id/totp":                          admins,
		"POST /gestion/equipe/:id/retirer":                       admins,
		"GET /gestion/journal":                                   admins,
		"GET /gestion/api":                                       admins,
		"POST /gestion/api":                                      admins,
		"POST /gestion/api/:id/revoquer":                         admins,
	}
	// Logging in and out, invitations and enrolment are open by design.
	open := func(path string) bool {
		for _, p := range []string{"/gestion/connexion", "/gestion/totp", "/gestion/deconnexion", "/gestion/invitation/"} {
			if strings.HasPrefix(path, p) {
				return true
			}
		}
		return path == "/gestion"
	}
	for _, r := range e.srv.commune.(*gin.Engine).Routes() {
		if !strings.HasPrefix(r.Path, "/gestion") || open(r.Path) {
			continue
		}
		if _, ok := want[r.Method+" "+r.Path]; !ok {
			t.Errorf("route %s %s is not in the permission matrix", r.Method, r.Path)
		}
	}

	browsers := map[staff.Role]*browser{}
	for _, role := range all {
		browsers[role] = staffLogin(t, e, tn, newMember(t, e, tn, role, false))
	}
	for action, allowed := range want {
		method, path, _ := strings.Cut(action, " ")
		path = strings.NewReplacer(":id", "999999999", ":account", "999999999").Replace(path)
		for _, role := range all {
			b := browsers[role]
			var (
				res  *http.Response
				body string
			)
			if method == http.MethodGet {
				res, body = b.get(path)
			} else {
				res, body = b.post(path, url.Values{})
			}
			refused := res.StatusCode == http.StatusForbidden
			mayDo := false
			for _, r := range allowed {
				mayDo = mayDo || r == role
			}
			switch {
			case mayDo && refused:
				t.Errorf("%s as %s: refused, want allowed", action, role)
			case !mayDo && !refused:
				t.Errorf("%s as %s: %d, want 403", action, role, res.StatusCode)
			case !mayDo && !strings.Contains(body, "pas accès à cette page"):
				t.Errorf("%s as %s: 403 without the refusal page", action, role)
			}
		}
	}
}
