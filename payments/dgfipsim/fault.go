package dgfipsim

// fault is a SOAP fault as DGFiP's JAX-WS server writes it; the whole
// envelope is built once, at start-up.
type fault struct {
	kind    string // element of the detail, and last part of the faultstring
	code    string
	libelle string
	xml     []byte
}

const (
	functional = "FonctionnelleErreur"
	protocol   = "TechProtocolaireErreur"
)

func newFault(kind, code, libelle string) *fault {
	f := &fault{kind: kind, code: code, libelle: libelle}
	b := append([]byte(nil), `<?xml version='1.0' encoding='UTF-8'?><S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body>`...)
	b = append(b, `<S:Fault xmlns:ns4="http://www.w3.org/2003/05/soap-envelope"><faultcode>S:Server</faultcode><faultstring>fr.gouv.finances.cp.tpa.webservice.exceptions.`...)
	b = append(b, kind...)
	b = append(b, `</faultstring><detail><ns2:`...)
	b = append(b, kind...)
	b = append(b, ` xmlns:ns2="`+Namespace+`">`...)
	b = appendField(b, "code", code)
	b = append(b, "<descriptif></descriptif>"...)
	b = appendField(b, "libelle", libelle)
	b = appendField(b, "message", libelle)
	b = append(b, "<severite>2</severite></ns2:"...)
	b = append(b, kind...)
	b = append(b, "></detail></S:Fault>"+envelopeClose...)
	f.xml = b
	return f
}

func (f *fault) append(b []byte) []byte { return append(b, f.xml...) }

// The faults the stand-in answers. Codes and labels of R3, A2, P1 and P5
// were seen against the real server; the others are reported by client
// libraries ([?] in PAYFIP.md), except E1 (exer) and O1 (objet), which the
// stand-in adds because DGFiP's code for them is unknown.
var (
	faultT1 = newFault(functional, "T1", "Le numéro de client (NUMCLI) est absent, mal formé ou inconnu.")
	faultE1 = newFault(functional, "E1", "Le format du paramètre EXER n'est pas conforme : une année sur 4 chiffres est attendue.")
	faultR3 = newFault(functional, "R3", "Le format du paramètre REFDET n'est pas conforme : 6 à 30 lettres ou chiffres sont attendus.")
	faultM1 = newFault(functional, "M1", "Le format du paramètre MONTANT n'est pas conforme : un nombre entier de centimes est attendu.")
	faultM3 = newFault(functional, "M3", "Le montant doit être d'au moins 1,00 euro.")
	faultM5 = newFault(functional, "M5", "Le montant dépasse le maximum autorisé de 100 000,00 euros.")
	faultA1 = newFault(functional, "A1", "L'adresse électronique (MEL) est obligatoire.")
	faultA2 = newFault(functional, "A2", "Le format du paramètre MEL n'est pas conforme.")
	faultO1 = newFault(functional, "O1", "Le format du paramètre OBJET n'est pas conforme : lettres, chiffres et espaces, 100 caractères au plus.")
	faultS1 = newFault(functional, "S1", "Le paramètre SAISIE doit valoir T, X ou W.")
	faultN1 = newFault(functional, "N1", "Le paramètre URLNOTIF n'est pas une URL http ou https valide.")
	faultD1 = newFault(functional, "D1", "Le paramètre URLREDIRECT n'est pas une URL http ou https valide.")
	faultP1 = newFault(functional, "P1", "IdOp incorrect.")
	faultP5 = newFault(functional, "P5", "Résultat de la transaction non connu.")

	faultProtocol = newFault(protocol, "999", "Requête SOAP invalide ou opération inconnue.")
)
