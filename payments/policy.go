package payments

import (
	"errors"
	"time"

	"github.com/regie/regie/payments/payfip"
)

// verdict is what one look at DGFiP says about an attempt.
type verdict struct {
	status  Status // the new status (Pending: no final answer yet)
	retry   bool   // DGFiP could not answer: unchanged, look again later
	details payfip.Details
	fault   *payfip.Fault
}

// judge applies PAYFIP.md's status policy to a lookup's answer for an
// attempt of age age (now − creation of its operation):
//
//	P or V                   paid
//	R or Z                   refused
//	A, age < 20 min          pending (the payer may still come back)
//	A, age ≥ 20 min          abandoned
//	fault P5, age < 20 min   pending
//	fault P5 age ≥ 20, P1    expired
//	technical fault, timeout unchanged; retry later with back-off
//	any other result         error
func judge(d payfip.Details, err error, age time.Duration) verdict {
	if err != nil {
		var f *payfip.Fault
		switch {
		case errors.As(err, &f) && f.Code == "P5" && age < PayerWindow:
			return verdict{status: Pending, fault: f}
		case errors.As(err, &f) && (f.Code == "P5" || f.Code == "P1"):
			return verdict{status: Expired, fault: f}
		}
		// technical faults, timeouts, and functional faults a lookup
		// should never give: keep looking (they are logged)
		return verdict{retry: true, fault: f}
	}
	switch d.Resultrans {
	case "P", "V":
		return verdict{status: Paid, details: d}
	case "R", "Z":
		return verdict{status: Refused, details: d}
	case "A":
		if age < PayerWindow {
			return verdict{status: Pending, details: d}
		}
		return verdict{status: Abandoned, details: d}
	}
	return verdict{status: Failed, details: d}
}
