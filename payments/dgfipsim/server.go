package dgfipsim

import (
	"context"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/regie/regie/tenant"
)

// NotifyOptions says how the stand-in calls urlnotif when a PayFiP payment
// ends. Delay, Duplicates and Lose apply to the TIPI result sent to urlcl as
// well, and so does Method; Param does not (TIPI sends named fields).
type NotifyOptions struct {
	Param      string        // "idOp" (default) or "idop"
	Method     string        // "POST" (default, form body) or "GET" (query)
	Delay      time.Duration // before sending
	Duplicates int           // extra copies sent (0 = one notification)
	Lose       bool          // send none
}

func (n NotifyOptions) normalized() NotifyOptions {
	if n.Param == "" {
		n.Param = "idOp"
	}
	if strings.EqualFold(n.Method, http.MethodGet) {
		n.Method = http.MethodGet
	} else {
		n.Method = http.MethodPost
	}
	n.Duplicates = max(n.Duplicates, 0)
	return n
}

// Options configures a Server. The zero value is usable but knows no
// client number, so every payment is refused (fault T1).
type Options struct {
	Clients    map[string]string // known numcli → label (libelleN2 in recupererDetailClient); unknown numcli are refused
	Now        func() time.Time  // injectable clock for the 15-minute, 20-minute and overnight-purge rules; nil = time.Now
	HTTPClient *http.Client      // for notifications and TIPI results; nil = 10 s timeout, *.localhost sent to 127.0.0.1
	Notify     NotifyOptions
	Latency    time.Duration // added to every SOAP answer (to test timeouts / a slow DGFiP)
	Log        *slog.Logger  // nil = discard
}

// Server is the stand-in: an http.Handler serving DGFiP's paths, and the
// memory of every operation it was asked for. All methods are safe for
// concurrent use.
type Server struct {
	clients map[string]string
	now     func() time.Time
	client  *http.Client
	log     *slog.Logger
	mux     *http.ServeMux
	ids     *uuidGen

	notify  atomic.Pointer[NotifyOptions]
	latency atomic.Int64

	// mu guards payments and every field of the payments it holds; it is
	// never held while doing I/O.
	mu       sync.RWMutex
	payments map[string]*Payment

	// closeMu orders deliveries started against Close.
	closeMu sync.Mutex
	closed  bool
	done    context.Context
	stop    context.CancelFunc
	wg      sync.WaitGroup

	stats counters
}

// New returns a Server. It starts no goroutine: deliveries start when a
// payment ends, and Close waits for them.
func New(o Options) *Server {
	s := &Server{
		clients:  maps.Clone(o.Clients),
		now:      o.Now,
		client:   o.HTTPClient,
		log:      o.Log,
		ids:      newUUIDGen(),
		payments: make(map[string]*Payment),
	}
	if s.clients == nil {
		s.clients = map[string]string{}
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.client == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.Proxy = nil // the callbacks are local; a proxy from the environment would only get in the way
		t.DialContext = tenant.DialLocalhost
		s.client = &http.Client{Timeout: 10 * time.Second, Transport: t}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.done, s.stop = context.WithCancel(context.Background())
	s.SetNotify(o.Notify)
	s.SetLatency(o.Latency)

	mux := http.NewServeMux()
	mux.HandleFunc("POST /tpa/services/securite", s.serveSOAP)
	mux.HandleFunc("/tpa/services/securite", methodNotAllowed("POST"))
	mux.HandleFunc("GET /tpa/paiementws.web", s.servePaymentPage)
	mux.HandleFunc("POST /tpa/paiementws.web", s.serveStep)
	mux.HandleFunc("/tpa/paiementws.web", methodNotAllowed("GET, POST"))
	mux.HandleFunc("GET /tpa/paiement.web", s.serveTIPI)
	mux.HandleFunc("POST /tpa/paiement.web", s.serveTIPI)
	mux.HandleFunc("/tpa/paiement.web", methodNotAllowed("GET, POST"))
	mux.HandleFunc("/", s.serveNotFound)
	s.mux = mux
	return s
}

// ServeHTTP serves DGFiP's paths: /tpa/services/securite (SOAP),
// /tpa/paiementws.web (the PayFiP payment page) and /tpa/paiement.web (the
// TIPI URL protocol).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

func methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		http.Error(w, "Méthode non autorisée.", http.StatusMethodNotAllowed)
	}
}

// SetNotify changes how later payment ends are notified; deliveries already
// started keep the options they started with.
func (s *Server) SetNotify(n NotifyOptions) {
	n = n.normalized()
	s.notify.Store(&n)
}

// SetLatency changes the delay added to every SOAP answer from now on.
func (s *Server) SetLatency(d time.Duration) {
	s.latency.Store(int64(max(d, 0)))
}

// Close stops deliveries still waiting for their Delay (they are dropped
// and counted as lost) and waits for those being sent. Payments ended
// after Close send nothing. The Server still answers HTTP requests.
func (s *Server) Close() {
	s.closeMu.Lock()
	s.closed = true
	s.closeMu.Unlock()
	s.stop()
	s.wg.Wait()
}

// Stats are the stand-in's counters since New.
type Stats struct {
	Calls              map[string]int64 // SOAP requests by operation; malformed ones and unknown operations under ""
	Faults             int64            // SOAP faults answered (functional and technical)
	Lookups            int64            // recupererDetailPaiementSecurise answered with a result (not a fault)
	Notifications      int64            // requests sent to urlnotif, copies included
	TIPIResults        int64            // result requests sent to urlcl, copies included
	DeliveryErrors     int64            // notifications and TIPI results that failed or got a non-2xx answer
	DeliveriesLost     int64            // notifications and TIPI results not sent (Lose, or Close before their Delay ran out)
	PaymentsCreated    int64            // creerPaiementSecurise successes and TIPI requests accepted
	PaymentPagesServed int64            // GETs of /tpa/paiementws.web that served the page
}

type counters struct {
	creer, detail, client, bad               atomic.Int64
	faults, lookups                          atomic.Int64
	notifications, tipiResults, errors, lost atomic.Int64
	created, pages                           atomic.Int64
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	c := &s.stats
	return Stats{
		Calls: map[string]int64{
			opCreer:   c.creer.Load(),
			opDetail:  c.detail.Load(),
			opClient:  c.client.Load(),
			opUnknown: c.bad.Load(),
		},
		Faults:             c.faults.Load(),
		Lookups:            c.lookups.Load(),
		Notifications:      c.notifications.Load(),
		TIPIResults:        c.tipiResults.Load(),
		DeliveryErrors:     c.errors.Load(),
		DeliveriesLost:     c.lost.Load(),
		PaymentsCreated:    c.created.Load(),
		PaymentPagesServed: c.pages.Load(),
	}
}
