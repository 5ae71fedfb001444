// Package dgfipsim is an offline stand-in for DGFiP's online payment
// services, PayFiP (web service) and TIPI (URL protocol), as described in
// PAYFIP.md. Tests and `regie demo` use it; production never does. It keeps
// everything in memory.
//
// A Server is an http.Handler for DGFiP's paths:
//
//   - POST /tpa/services/securite: SOAP 1.1 (Content-Type text/xml, any
//     SOAPAction) with creerPaiementSecurise, recupererDetailPaiementSecurise
//     and recupererDetailClient. Requests are read by local element names,
//     whatever their prefixes; answers are written as DGFiP's JAX-WS server
//     writes them (S: envelope, ns2: operation, unqualified children), and
//     errors as SOAP faults (HTTP 500, faultcode S:Server, a
//     FonctionnelleErreur detail with code, descriptif, libelle, message and
//     severite). Malformed requests and unknown operations get a
//     TechProtocolaireErreur with code 999.
//   - GET /tpa/paiementws.web?idop=: the payment page of an idOp, served
//     once (P3 page otherwise) and within 15 minutes of the creation (P4).
//     The payer chooses "Carte bancaire" or "Prélèvement SEPA unique", fills
//     in the card or the IBAN, or presses "Annuler"; the steps are POSTs to
//     the same path. At the end, the stand-in notifies urlnotif in the
//     background and answers the browser with a 303 to
//     urlredirect?idop=<idOp>.
//   - GET or POST /tpa/paiement.web: the TIPI URL protocol. A valid request
//     opens the same pages; at the end the request fields and the outcome
//     (resultrans, numauto, dattrans, heurtrans) are POSTed to urlcl in the
//     background, and the browser sees "Paiement accepté", "refusé" or
//     "abandonné" with a link "Retour au site de la collectivité" to urlcl.
//
// Outcomes come from the test cards: 4242 4242 4242 4242 is accepted
// (resultrans P, a 6-digit numauto), 4000 0000 0000 0002 is refused (R), as
// is any other number passing the Luhn check; a number failing it shows
// "Numéro de carte invalide" and ends nothing. Any future expiry date and
// any 3-digit code will do. Any IBAN with valid check digits is debited
// (V), for instance FR76 3000 6000 0112 3456 7890 189. "Annuler" at any step
// abandons (A). Z (direct debit refused) is reachable through
// Server.Complete only.
//
// Clock rules, all read from Options.Now: an idOp opens the page once,
// within RedirectWindow (15 minutes) of its creation; the payer may end the
// payment on the pages until SessionTimeout (20 minutes) after the creation,
// which includes paying after an abandon (browser "back"), since an A is not
// final on DGFiP's side either; an idOp that never opened the page is
// forgotten at the next 03:00 Paris time after its creation (lookups then
// answer P1, not P5). The lookup answers P5 until a result is known, then
// the result with dattrans and heurtrans in Paris time; numauto and objet
// are left out when empty, as JAX-WS leaves out null fields.
//
// What can be configured (Options, and at run time SetNotify and
// SetLatency): the known client numbers and their labels (anything else is
// refused, T1), the clock, the HTTP client of the callbacks (by default it
// sends *.localhost to 127.0.0.1, which Go's resolver does not), the
// notification's parameter name (idOp or idop), method (POST form or GET
// query), delay, duplicates and loss (the last three, and the method, apply
// to TIPI results as well), and a latency added to every SOAP answer.
//
// Tests drive it over real HTTP, or end payments directly with
// Server.Complete, inspect them with Server.Payment and Server.Payments, and
// read Server.Stats. Server.Close waits for the callbacks being sent.
package dgfipsim
