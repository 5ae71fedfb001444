package bench

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
)

// WritePublicationCSV writes the month's import of a large commune: one
// canteen invoice of two lines (meals, snacks) for each of families
// families, the address of family k being p<k>@bench.example.fr, with a
// second address for one family in seven, as the town halls' files have.
// It returns the number of lines and of addresses.
func WritePublicationCSV(w io.Writer, families int) (lines, addresses int, err error) {
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, "famille;nom;email;adresse;code_postal;ville;serie;periode;libelle;quantite;prix_unitaire;echeance")
	for k := 1; k <= families; k++ {
		email := fmt.Sprintf("p%d@bench.example.fr", k)
		addresses++
		if k%7 == 0 {
			email += fmt.Sprintf(" p%d.parent2@bench.example.fr", k)
			addresses++
		}
		who := fmt.Sprintf("P%07d;Famille %s;%s;%d %s;%05d;%s", k, surnames[k%len(surnames)], email,
			1+k%180, streets[k%len(streets)], 1000+k%95000, placeNames[k%len(placeNames)])
		meals := 8 + k%13
		fmt.Fprintf(bw, "%s;RS;10/2026;Repas enfant;%d;3,45;15/11/2026\n", who, meals)
		fmt.Fprintf(bw, "%s;RS;10/2026;Goûter;%d;0,80;15/11/2026\n", who, meals)
		lines += 2
	}
	return lines, addresses, bw.Flush()
}

// Sink is an SMTP server that accepts every message, counts it and keeps
// nothing: where the mails of a benchmark go.
type Sink struct {
	srv *smtp.Server
	ln  net.Listener
	n   atomic.Int64
}

// StartSink listens on a free loopback port.
func StartSink() (*Sink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Sink{ln: ln}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return sinkSession{s}, nil }))
	s.srv.Domain = "localhost"
	s.srv.ReadTimeout = 30 * time.Second
	s.srv.WriteTimeout = 30 * time.Second
	go s.srv.Serve(ln) //nolint:errcheck // ends with Close
	return s, nil
}

// URL is the REGIE_SMTP_URL that reaches the sink.
func (s *Sink) URL() string { return "smtp://" + s.ln.Addr().String() + "?tls=none" }

// Count is the number of messages accepted so far.
func (s *Sink) Count() int64 { return s.n.Load() }

// Close stops the server.
func (s *Sink) Close() { s.srv.Close() }

type sinkSession struct{ s *Sink }

func (sinkSession) Reset()                               {}
func (sinkSession) Logout() error                        { return nil }
func (sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (ss sinkSession) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	ss.s.n.Add(1)
	return nil
}
