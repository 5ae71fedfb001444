package billing

import (
	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"
)

// AddWorkers registers billing's job workers.
func AddWorkers(w *river.Workers, db *sqlx.DB) error { return nil }

// PeriodicJobs are billing's scheduled jobs.
func PeriodicJobs() []*river.PeriodicJob { return nil }
