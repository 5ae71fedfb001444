package dgfipsim

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/regie/regie/tenant"
)

// The clock rules of DGFiP as the stand-in plays them.
const (
	// RedirectWindow is how long after its creation an idOp opens the
	// payment page (once).
	RedirectWindow = 15 * time.Minute
	// SessionTimeout is how long after its creation the payer may still end
	// a payment on the pages, including coming back (browser "back") after
	// having abandoned it; later, the page answers that the session expired
	// and the payment keeps the result it had.
	SessionTimeout = 20 * time.Minute
	// PurgeHour is the Paris hour at which DGFiP forgets the idOps created
	// the day before (or the same night) that never opened the payment page.
	PurgeHour = 3
)

// Protocol says how a payment was asked for.
type Protocol string

// The two protocols.
const (
	PayFiP Protocol = "payfip" // web service, creerPaiementSecurise
	TIPI   Protocol = "tipi"   // URL protocol, /tpa/paiement.web
)

// Errors of Complete.
var (
	ErrNotFound  = errors.New("dgfipsim: unknown or purged operation")
	ErrFinished  = errors.New("dgfipsim: operation already ended")
	ErrResult    = errors.New("dgfipsim: resultrans must be P, V, R, Z or A")
	errNotOpened = errors.New("dgfipsim: payment page never opened")
	errSession   = errors.New("dgfipsim: payment session expired")
)

// Payment is what the stand-in knows of one operation: the request fields
// as received, the result and the times.
type Payment struct {
	ID       string // idOp (PayFiP), or the stand-in's own id for a TIPI request
	Protocol Protocol

	NumCli, Exer, RefDet string
	Amount               int64 // cents ("montant")
	Mel, Objet, Saisie   string
	URLNotif             string // PayFiP
	URLRedirect          string // PayFiP
	URLCl                string // TIPI

	Created    time.Time
	Redirects  int       // GETs of the payment page for this idOp, refused ones included
	Redirected time.Time // when the page was served (the one redirection); zero if never

	ResultTrans string    // "" until the payment ends; P, V, R, Z or A
	NumAuto     string    // authorisation number; "" unless P or V
	Ended       time.Time // when ResultTrans was last set
	Ends        int       // how many times a result was set (A may be followed by another result)
}

// final reports whether no later result can replace the current one. An
// abandon is not final: the payer may come back to the page and pay.
func (p *Payment) final() bool {
	return p.ResultTrans != "" && p.ResultTrans != "A"
}

// purgeAt is DGFiP's overnight clean-up after a creation: the next 03:00 in
// Paris.
func purgeAt(created time.Time) time.Time {
	c := created.In(tenant.Paris)
	t := time.Date(c.Year(), c.Month(), c.Day(), PurgeHour, 0, 0, 0, tenant.Paris)
	if !t.After(c) {
		t = time.Date(c.Year(), c.Month(), c.Day()+1, PurgeHour, 0, 0, 0, tenant.Paris)
	}
	return t
}

// purged reports whether DGFiP has forgotten the operation: never
// redirected, no result, and the night has passed.
func (p *Payment) purged(now time.Time) bool {
	return p.Redirected.IsZero() && p.ResultTrans == "" && !now.Before(purgeAt(p.Created))
}

// Payment returns a copy of the operation, and false when the id is unknown.
// Purged operations are still returned (the stand-in never forgets what
// tests may want to inspect).
func (s *Server) Payment(id string) (Payment, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	p, ok := s.payments[id]
	if !ok {
		return Payment{}, false
	}
	return *p, true
}

// Payments returns a copy of every operation, oldest first; tests use it to
// find a TIPI request, whose id the requester never sees.
func (s *Server) Payments() []Payment {
	s.mu.RLock()
	out := make([]Payment, 0, len(s.payments))
	for _, p := range s.payments {
		out = append(out, *p)
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b Payment) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// add stores a new operation and returns its id.
func (s *Server) add(p Payment) string {
	p.ID = s.ids.next(p.Created)
	s.mu.Lock()
	s.payments[p.ID] = &p
	s.mu.Unlock()
	s.stats.created.Add(1)
	return p.ID
}

// Complete ends a payment as the payer would on the page (P, V, R, Z or A),
// then delivers the notification (PayFiP) or the result to urlcl (TIPI).
// Unlike the pages, it ignores the 15- and 20-minute limits and needs no
// redirection, so tests can play late outcomes. It returns ErrResult for
// another result, ErrNotFound for an unknown or purged id and ErrFinished
// when the payment already has a result other than A.
func (s *Server) Complete(id, resultrans string) error {
	switch resultrans {
	case "P", "V", "R", "Z", "A":
	default:
		return fmt.Errorf("%w: %q", ErrResult, resultrans)
	}
	_, err := s.finish(id, resultrans, false)
	return err
}

// finish sets a payment's result and starts its delivery. From the pages,
// the payment must have been redirected and be within its session.
func (s *Server) finish(id, result string, fromPage bool) (Payment, error) {
	now := s.now()
	s.mu.Lock()
	p, ok := s.payments[id]
	switch {
	case !ok || p.purged(now):
		s.mu.Unlock()
		return Payment{}, ErrNotFound
	case p.final():
		s.mu.Unlock()
		return Payment{}, ErrFinished
	case fromPage && p.Redirected.IsZero():
		s.mu.Unlock()
		return Payment{}, errNotOpened
	case fromPage && !now.Before(p.Created.Add(SessionTimeout)):
		s.mu.Unlock()
		return Payment{}, errSession
	}
	p.ResultTrans = result
	p.NumAuto = numAuto(result)
	p.Ended = now
	p.Ends++
	c := *p
	s.mu.Unlock()

	s.log.Info("dgfipsim: paiement terminé", "id", c.ID, "protocol", string(c.Protocol), "resultrans", result)
	if c.Protocol == TIPI {
		s.sendTIPIResult(c)
	} else {
		s.sendNotification(c)
	}
	return c, nil
}

// numAuto makes an authorisation number: six digits for a card, the shape
// recorded on DGFiP's test platform for a direct debit, none otherwise.
func numAuto(result string) string {
	switch result {
	case "P":
		return fmt.Sprintf("%06d", rand.IntN(1_000_000))
	case "V":
		return fmt.Sprintf("%012d-tip", rand.Int64N(1_000_000_000_000))
	}
	return ""
}
