package dgfipsim

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/regie/regie/tenant"
)

const userAgent = "dgfipsim/1 (simulateur PayFiP)"

// sendNotification tells urlnotif that a PayFiP operation ended: the
// operation id only, never the result, and no signature.
func (s *Server) sendNotification(p Payment) {
	o := *s.notify.Load()
	pair := url.QueryEscape(o.Param) + "=" + url.QueryEscape(p.ID)
	build := func(ctx context.Context) (*http.Request, error) {
		if o.Method == http.MethodGet {
			return http.NewRequestWithContext(ctx, http.MethodGet, withQuery(p.URLNotif, pair), nil)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.URLNotif, strings.NewReader(pair))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		return req, err
	}
	s.deliver("notification", p.ID, o, build, &s.stats.notifications)
}

// tipiResult is what the TIPI server sends back to urlcl: the request
// fields and the outcome.
func tipiResult(p Payment) url.Values {
	v := url.Values{
		"numcli":     {p.NumCli},
		"exer":       {p.Exer},
		"refdet":     {p.RefDet},
		"montant":    {strconv.FormatInt(p.Amount, 10)},
		"mel":        {p.Mel},
		"objet":      {p.Objet},
		"saisie":     {p.Saisie},
		"resultrans": {p.ResultTrans},
		"dattrans":   {p.Ended.In(tenant.Paris).Format("02012006")},
		"heurtrans":  {p.Ended.In(tenant.Paris).Format("1504")},
	}
	if p.NumAuto != "" {
		v.Set("numauto", p.NumAuto)
	}
	return v
}

// sendTIPIResult posts the outcome to urlcl (or GETs it, when the notify
// options say GET), keeping urlcl's own query string.
func (s *Server) sendTIPIResult(p Payment) {
	o := *s.notify.Load()
	body := tipiResult(p).Encode()
	build := func(ctx context.Context) (*http.Request, error) {
		if o.Method == http.MethodGet {
			return http.NewRequestWithContext(ctx, http.MethodGet, withQuery(p.URLCl, body), nil)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.URLCl, strings.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		return req, err
	}
	s.deliver("résultat TIPI", p.ID, o, build, &s.stats.tipiResults)
}

// deliver sends 1+Duplicates requests in the background, one after the
// other, after Delay, unless Lose. A delivery waiting for its delay is
// dropped by Close; one being sent is waited for.
func (s *Server) deliver(kind, id string, o NotifyOptions, build func(context.Context) (*http.Request, error), sent *atomic.Int64) {
	if o.Lose {
		s.stats.lost.Add(1)
		s.log.Info("dgfipsim: envoi perdu volontairement", "kind", kind, "id", id)
		return
	}
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		s.stats.lost.Add(1)
		return
	}
	s.wg.Add(1)
	s.closeMu.Unlock()

	go func() {
		defer s.wg.Done()
		if o.Delay > 0 {
			t := time.NewTimer(o.Delay)
			select {
			case <-t.C:
			case <-s.done.Done():
				t.Stop()
				s.stats.lost.Add(1)
				return
			}
		}
		for range 1 + o.Duplicates {
			// Requests under way finish even if Close is called: only
			// the client's timeout bounds them.
			req, err := build(context.WithoutCancel(s.done))
			if err != nil {
				s.stats.errors.Add(1)
				s.log.Warn("dgfipsim: envoi impossible", "kind", kind, "id", id, "err", err)
				return
			}
			sent.Add(1)
			s.send(kind, id, req)
		}
	}()
}

func (s *Server) send(kind, id string, req *http.Request) {
	req.Header.Set("User-Agent", userAgent)
	resp, err := s.client.Do(req)
	if err != nil {
		s.stats.errors.Add(1)
		s.log.Warn("dgfipsim: envoi échoué", "kind", kind, "id", id, "url", req.URL.Redacted(), "err", err)
		return
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		s.stats.errors.Add(1)
	}
	s.log.Info("dgfipsim: envoi fait", "kind", kind, "id", id, "method", req.Method, "url", req.URL.Redacted(), "status", resp.StatusCode)
}
