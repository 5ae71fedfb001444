package tenant

import (
	"time"
	_ "time/tzdata" // the zone must exist in minimal containers too
)

// Paris is the time zone of every commune: dates shown to people, invoice
// periods and DGFiP's transaction times are all in it.
var Paris = mustLoadLocation("Europe/Paris")

func mustLoadLocation(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}
