package payments

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// paymentOutcomes counts settled payment attempts and counter payments,
// once each, after their transaction commits.
var paymentOutcomes = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "regie_payments_total",
	Help: "Payments settled, by channel (online, counter), outcome (paid, refused, abandoned, expired, error, overpayment, cancelled_invoice, amount_mismatch) and test mode.",
}, []string{"channel", "outcome", "test"})

// CountCounterPayment adds a counter payment to the payments metric; call
// it after the transaction that recorded it commits.
func CountCounterPayment(p Payment) {
	outcome := "paid"
	if p.Anomaly != "" {
		outcome = p.Anomaly
	}
	paymentOutcomes.WithLabelValues("counter", outcome, strconv.FormatBool(p.Test)).Inc()
}
