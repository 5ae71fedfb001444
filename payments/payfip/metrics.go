package payfip

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	callDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "regie_dgfip_call_duration_seconds",
		Help:    "Duration of the SOAP calls to DGFiP, by operation and result (ok, fault, error).",
		Buckets: []float64{.05, .1, .25, .5, 1, 2, 5, 10, 20, 30},
	}, []string{"operation", "result"})
	callFaults = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "regie_dgfip_faults_total",
		Help: "SOAP faults DGFiP answered, by operation and fault code.",
	}, []string{"operation", "code"})
)

func observe(op string, d time.Duration, err error) {
	result := "ok"
	var f *Fault
	switch {
	case errors.As(err, &f):
		result = "fault"
		callFaults.WithLabelValues(op, f.Code).Inc()
	case err != nil:
		result = "error"
	}
	callDuration.WithLabelValues(op, result).Observe(d.Seconds())
}
