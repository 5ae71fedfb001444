package payfip

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Fault is a SOAP fault of the web service, decoded.
type Fault struct {
	HTTPStatus  int
	FaultCode   string // S:Server
	FaultString string // fr.gouv.finances.cp.tpa.webservice.exceptions.FonctionnelleErreur
	Kind        string // FonctionnelleErreur, TechDysfonctionnementErreur, TechIndisponibiliteErreur, TechProtocolaireErreur
	Code        string // R3, A2, P1, P5…
	Label       string // libelle
	Message     string
	Description string // descriptif
	Severity    int
}

func (f *Fault) set(name, v string) {
	switch name {
	case "faultcode":
		f.FaultCode = v
	case "faultstring":
		f.FaultString = v
	case "code":
		f.Code = v
	case "libelle":
		f.Label = v
	case "message":
		f.Message = v
	case "descriptif":
		f.Description = v
	case "severite":
		f.Severity, _ = strconv.Atoi(v)
	}
}

func (f *Fault) Error() string {
	text := f.Label
	if f.Message != "" && f.Message != f.Label {
		text += " — " + f.Message
	}
	return fmt.Sprintf("payfip: fault %s (%s): %s", f.Code, f.Kind, text)
}

// Technical reports a fault of DGFiP's side (unavailable, broken), after
// which the call may be tried again later.
func (f *Fault) Technical() bool {
	return strings.HasPrefix(f.Kind, "Tech") || f.Code == "999" || f.Code == "" ||
		(f.Kind == "" && !strings.Contains(f.FaultString, "Fonctionnelle"))
}

// French is what the fault means, in plain French, for staff and families.
func (f *Fault) French() string {
	if s, ok := faultFrench[f.Code]; ok {
		return s
	}
	if f.Technical() {
		return "Le service de paiement de la DGFiP est momentanément indisponible."
	}
	if f.Label != "" {
		return "La DGFiP a refusé la demande : " + f.Label
	}
	return "La DGFiP a refusé la demande (code " + f.Code + ")."
}

var faultFrench = map[string]string{
	"R3":  "La référence de la facture n'est pas acceptée par la DGFiP (6 à 30 lettres ou chiffres).",
	"A1":  "L'adresse de messagerie du payeur manque.",
	"A2":  "L'adresse de messagerie du payeur n'est pas acceptée par la DGFiP.",
	"P1":  "Opération de paiement inconnue ou expirée.",
	"P3":  "Cette opération de paiement a déjà servi.",
	"P4":  "Cette opération de paiement a expiré (15 minutes).",
	"P5":  "Le résultat du paiement n'est pas encore connu.",
	"T1":  "Identifiant collectivité (numcli) inconnu de la DGFiP.",
	"T2":  "Identifiant collectivité (numcli) non ouvert au paiement en ligne.",
	"T4":  "Identifiant collectivité (numcli) invalide.",
	"M1":  "Montant invalide pour la DGFiP.",
	"M3":  "Montant trop faible pour un paiement en ligne (1 € minimum).",
	"M5":  "Montant trop élevé pour un paiement en ligne.",
	"N1":  "Adresse de notification refusée par la DGFiP.",
	"D1":  "Adresse de retour refusée par la DGFiP.",
	"S1":  "Mode de paiement (saisie) refusé par la DGFiP.",
	"999": "Le service de paiement de la DGFiP est momentanément indisponible.",
}

// IsFault returns the fault of code in err, if it is one.
func IsFault(err error, code string) bool {
	var f *Fault
	return errors.As(err, &f) && f.Code == code
}
