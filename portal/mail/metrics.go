package mail

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// mailsSent counts the attempts to hand a mail to the SMTP relay by
// result: sent, retry (failed, will be tried again) or failed (given up).
var mailsSent = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "regie_mails_total",
	Help: "Mails handed to the SMTP relay, by result: sent, retry (failed, to be tried again), failed (given up).",
}, []string{"result"})

func sendResult(err error, final bool) string {
	switch {
	case err == nil:
		return "sent"
	case final:
		return "failed"
	}
	return "retry"
}
