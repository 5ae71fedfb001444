package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/regie/regie/tenant"
)

// jobLog gives every job a logger naming the job and its commune (the
// tenant_id of its args, when it has one), which the workers log with, and
// logs one line when the job ends: its outcome and duration.
type jobLog struct {
	river.MiddlewareDefaults
	log *slog.Logger
}

func (m *jobLog) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
	var args struct {
		TenantID tenant.ID `json:"tenant_id"`
	}
	l := m.log.With("job_id", job.ID, "job_kind", job.Kind, "attempt", job.Attempt)
	if json.Unmarshal(job.EncodedArgs, &args) == nil && args.TenantID != 0 {
		l = l.With("commune_id", args.TenantID)
	}
	start := time.Now()
	err := doInner(tenant.WithLogger(ctx, l))
	d := float64(time.Since(start).Microseconds()) / 1000
	if err != nil {
		l.Warn("job failed", "duration_ms", d, "err", err)
	} else {
		l.Info("job done", "duration_ms", d)
	}
	return err
}
