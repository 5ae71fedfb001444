// Package mail sends the platform's e-mails. A mail is rendered from the
// templates here, stored in the mails table with a send job inserted in the
// same transaction as the change that caused it, and sent over SMTP by that
// job: a mail is never lost while SMTP is down, and a retried job does not
// send a mail twice once it is recorded as sent.
package mail

import (
	"context"
	"errors"
	"fmt"
	netmail "net/mail"
	"net/url"
	"strconv"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Message is one e-mail ready to go.
type Message struct {
	ID       string // Message-ID without angle brackets, stable across retries
	To       string
	FromName string // the commune's name
	ReplyTo  string // the commune's contact address, if any
	Subject  string
	Text     string
	HTML     string
}

// Sender sends messages.
type Sender interface {
	// Send hands the messages to the relay, over one connection, and
	// returns each one's error (nil when sent), in order.
	Send(ctx context.Context, ms []Message) []error
}

// SMTP sends through an SMTP server described by a REGIE_SMTP_URL:
// smtp://[user:pass@]host:port?tls=none|starttls|tls.
type SMTP struct {
	opts []gomail.Option
	host string
	from string
}

// NewSMTP parses the URL; from is the sender address (REGIE_MAIL_FROM).
func NewSMTP(rawURL, from string) (*SMTP, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "smtp" || u.Hostname() == "" {
		return nil, fmt.Errorf("mail: bad SMTP URL")
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		return nil, fmt.Errorf("mail: SMTP URL needs a port")
	}
	// No RSET after each accepted message: the reply to its data ends the
	// transaction (RFC 5321, 4.1.1.4), and go-mail's RSET came with a NOOP,
	// two round trips of the six a message took on a connection carrying a
	// job's messages. go-mail still resets after a refused sender or
	// recipient. Send hands go-mail one message at a time, so that each
	// message gets the whole timeout (go-mail renews the deadline there).
	opts := []gomail.Option{gomail.WithPort(port), gomail.WithTimeout(20 * time.Second), gomail.WithoutRset(), gomail.WithoutNoop()}
	switch u.Query().Get("tls") {
	case "none":
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	case "tls":
		opts = append(opts, gomail.WithSSL())
	default: // starttls, the safe default
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if u.User != nil {
		pass, _ := u.User.Password()
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(u.User.Username()), gomail.WithPassword(pass))
	}
	return &SMTP{opts: opts, host: u.Hostname(), from: from}, nil
}

// Send delivers messages, text and HTML parts, with the commune's name as
// the sender's display name and its contact as Reply-To, over one
// connection. A message that cannot be written (a malformed address) gets
// a permanent error; a connection or relay failure a temporary one.
func (s *SMTP) Send(ctx context.Context, ms []Message) []error {
	errs := make([]error, len(ms))
	msgs := make([]*gomail.Msg, 0, len(ms))
	at := make([]int, 0, len(ms)) // index in ms of msgs[i]
	for i, m := range ms {
		msg, err := s.message(m)
		if err != nil {
			errs[i] = err
			continue
		}
		msgs, at = append(msgs, msg), append(at, i)
	}
	if len(msgs) == 0 {
		return errs
	}
	c, err := gomail.NewClient(s.host, s.opts...)
	if err != nil {
		return fill(errs, ms, at, fmt.Errorf("mail: client: %w", err))
	}
	conn, err := c.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return fill(errs, ms, at, fmt.Errorf("connect to the relay: %w", err))
	}
	defer c.CloseWithSMTPClient(conn) //nolint:errcheck // what was accepted is sent
	for k, msg := range msgs {
		err := c.SendWithSMTPClient(conn, msg)
		switch {
		case msg.HasSendError():
			errs[at[k]] = fmt.Errorf("mail: send to %s: %w", ms[at[k]].To, msg.SendError())
		case err != nil:
			// the connection is gone: this message and the rest wait
			return fill(errs, ms, at[k:], err)
		}
	}
	return errs
}

// fill sets err for the messages at those indexes.
func fill(errs []error, ms []Message, at []int, err error) []error {
	for _, i := range at {
		errs[i] = fmt.Errorf("mail: send to %s: %w", ms[i].To, err)
	}
	return errs
}

// message builds the go-mail message of m.
func (s *SMTP) message(m Message) (*gomail.Msg, error) {
	msg := gomail.NewMsg()
	// FromFormat writes the name between quotes as is: a commune named
	// with a quote (Mairie de "Les Ormes") made every mail unsendable.
	// net/mail quotes and encodes the name properly.
	if err := msg.From((&netmail.Address{Name: m.FromName, Address: s.from}).String()); err != nil {
		return nil, fmt.Errorf("mail: from: %w", err)
	}
	if err := msg.To(m.To); err != nil {
		return nil, permanent(fmt.Errorf("mail: to %q: %w", m.To, err))
	}
	if m.ReplyTo != "" {
		if err := msg.ReplyTo((&netmail.Address{Name: m.FromName, Address: m.ReplyTo}).String()); err != nil {
			return nil, fmt.Errorf("mail: reply-to: %w", err)
		}
	}
	if m.ID != "" {
		msg.SetMessageIDWithValue(m.ID)
	} else {
		msg.SetMessageID()
	}
	msg.SetDate()
	msg.Subject(m.Subject)
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

// permanentError marks a failure that retrying cannot fix.
type permanentError struct{ error }

func (e permanentError) Unwrap() error { return e.error }

func permanent(err error) error { return permanentError{err} }

// IsPermanent reports whether retrying a send is pointless.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}
