// Package catcher is a real SMTP server, in process, that keeps every
// message it receives in memory: the demo's mailbox and the tests' mail
// server. It can be stopped and restarted on the same address to play an
// SMTP outage.
package catcher

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// Message is a caught e-mail, decoded.
type Message struct {
	From      string    `json:"from"`
	To        []string  `json:"to"`
	Subject   string    `json:"subject"`
	Text      string    `json:"text"`
	HTML      string    `json:"html"`
	At        time.Time `json:"at"`
	MessageID string    `json:"message_id"`
	ReplyTo   string    `json:"reply_to"`
	FromName  string    `json:"from_name"`
}

// Catcher is the server and its mailbox.
type Catcher struct {
	addr string

	mu   sync.Mutex
	msgs []Message
	srv  *smtp.Server
}

// Start listens on addr (host:port, port 0 for any) and serves until Close.
func Start(addr string) (*Catcher, error) {
	c := &Catcher{}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	c.addr = ln.Addr().String()
	c.serve(ln)
	return c, nil
}

func (c *Catcher) serve(ln net.Listener) {
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &session{c: c}, nil
	}))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.MaxMessageBytes = 10 << 20
	c.mu.Lock()
	c.srv = srv
	c.mu.Unlock()
	go srv.Serve(ln) //nolint:errcheck // ends with Stop
}

// Addr returns host:port.
func (c *Catcher) Addr() string { return c.addr }

// URL returns the REGIE_SMTP_URL that reaches the catcher.
func (c *Catcher) URL() string { return "smtp://" + c.addr + "?tls=none" }

// Stop closes the server (connections are refused) and keeps the mailbox.
func (c *Catcher) Stop() {
	c.mu.Lock()
	srv := c.srv
	c.srv = nil
	c.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// Restart serves again on the same address after Stop.
func (c *Catcher) Restart() error {
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return err
	}
	c.serve(ln)
	return nil
}

// Close stops the server for good.
func (c *Catcher) Close() { c.Stop() }

// Messages returns a copy of the mailbox, oldest first.
func (c *Catcher) Messages() []Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Message(nil), c.msgs...)
}

// To returns the messages sent to an address, oldest first.
func (c *Catcher) To(addr string) []Message {
	var out []Message
	for _, m := range c.Messages() {
		for _, t := range m.To {
			if strings.EqualFold(t, addr) {
				out = append(out, m)
				break
			}
		}
	}
	return out
}

// WaitFor polls until n messages have been sent to addr or ctx ends, and
// returns them.
func (c *Catcher) WaitFor(ctx context.Context, addr string, n int) ([]Message, error) {
	for {
		if ms := c.To(addr); len(ms) >= n {
			return ms, nil
		}
		select {
		case <-ctx.Done():
			return c.To(addr), fmt.Errorf("catcher: %d message(s) to %s, want %d: %w", len(c.To(addr)), addr, n, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

type session struct {
	c    *Catcher
	from string
	to   []string
}

func (s *session) Reset()                                      { s.from, s.to = "", nil }
func (s *session) Logout() error                               { return nil }
func (s *session) Mail(from string, _ *smtp.MailOptions) error { s.from = from; return nil }
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error   { s.to = append(s.to, to); return nil }

func (s *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m, err := decode(raw)
	if err != nil {
		return &smtp.SMTPError{Code: 554, Message: "cannot parse message: " + err.Error()}
	}
	m.To = append([]string(nil), s.to...)
	m.At = time.Now()
	s.c.mu.Lock()
	s.c.msgs = append(s.c.msgs, m)
	s.c.mu.Unlock()
	return nil
}

// decode reads the headers and the text and HTML parts of a message.
func decode(raw []byte) (Message, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Message{}, err
	}
	var dec mime.WordDecoder
	subject, _ := dec.DecodeHeader(msg.Header.Get("Subject"))
	m := Message{Subject: subject, MessageID: msg.Header.Get("Message-Id")}
	if a, err := mail.ParseAddress(msg.Header.Get("From")); err == nil {
		m.From, m.FromName = a.Address, a.Name
	}
	if a, err := mail.ParseAddress(msg.Header.Get("Reply-To")); err == nil {
		m.ReplyTo = a.Address
	}
	err = walk(msg.Header, msg.Body, &m)
	return m, err
}

// header is what mail.Header and a part's textproto.MIMEHeader share.
type header interface{ Get(string) string }

func walk(h header, body io.Reader, m *Message) error {
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		mt = "text/plain"
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := walk(p.Header, p, m); err != nil {
				return err
			}
		}
	}
	var r io.Reader = body
	switch strings.ToLower(h.Get("Content-Transfer-Encoding")) {
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, body)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	switch mt {
	case "text/plain":
		m.Text += string(b)
	case "text/html":
		m.HTML += string(b)
	}
	return nil
}
