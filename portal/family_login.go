package portal

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// loginView is the data of the commune's home page, the login form of the
// commune guide.
type loginView struct {
	Page
	Email string
	Error string
}

// loginPage shows "Le portail des factures": Mon adresse, Mon mot de passe,
// Se souvenir de moi, Connexion.
func (s *Server) loginPage(c *gin.Context) {
	s.render(c, http.StatusOK, "login.html", loginView{Page: s.page(c, "Connexion")})
}
