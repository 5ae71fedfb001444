package portal

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/regie/regie/portal/operator"
	"github.com/regie/regie/tenant"
)

// jobRow is a job of the queue as the console shows it.
type jobRow struct {
	ID        int64
	Kind      string
	State     string
	Commune   string
	Attempts  string
	LastError string
	When      string
	Retryable bool
}

// jobsView is the data of the job queue page.
type jobsView struct {
	Page
	Jobs []jobRow
}

// jobsPage shows the jobs that failed (discarded) or are waiting to be
// retried, with their last error.
func (s *Server) jobsPage(c *gin.Context) {
	ctx := c.Request.Context()
	res, err := s.jobs.JobList(ctx, river.NewJobListParams().
		States(rivertype.JobStateDiscarded, rivertype.JobStateRetryable).
		OrderBy(river.JobListOrderByTime, river.SortOrderDesc).First(200))
	if err != nil {
		s.renderError(c, err)
		return
	}
	v := jobsView{Page: s.adminPage(c, "Tâches en échec")}
	communes := map[tenant.ID]string{}
	for _, j := range res.Jobs {
		r := jobRow{ID: j.ID, Kind: j.Kind, State: string(j.State), Attempts: strconv.Itoa(j.Attempt) + "/" + strconv.Itoa(j.MaxAttempts),
			Retryable: true}
		if n := len(j.Errors); n > 0 {
			r.LastError, r.When = j.Errors[n-1].Error, parisTime(j.Errors[n-1].At)
		}
		var args struct {
			TenantID tenant.ID `json:"tenant_id"`
		}
		if json.Unmarshal(j.EncodedArgs, &args) == nil && args.TenantID != 0 {
			if _, seen := communes[args.TenantID]; !seen {
				if t, err := s.tenants.ByID(ctx, args.TenantID); err == nil {
					communes[args.TenantID] = t.Slug
				}
			}
			r.Commune = communes[args.TenantID]
		}
		v.Jobs = append(v.Jobs, r)
	}
	s.render(c, http.StatusOK, "admin_jobs.html", v)
}

// jobAction retries a failed job now, or discards it for good.
func (s *Server) jobAction(retry bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		o, _ := operatorFrom(c)
		id, err := strconv.ParseInt(c.Param("id"), 10, 64)
		if err != nil {
			s.renderError(c, errNotFound)
			return
		}
		action, msg := "job.retry", "Tâche relancée."
		var job *rivertype.JobRow
		if retry {
			job, err = s.jobs.JobRetry(ctx, id)
		} else {
			action, msg = "job.discard", "Tâche abandonnée."
			if job, err = s.jobs.JobCancel(ctx, id); err == nil && job.State == rivertype.JobStateDiscarded {
				job, err = s.jobs.JobDelete(ctx, id)
			}
		}
		if errors.Is(err, river.ErrNotFound) {
			s.renderError(c, errNotFound)
			return
		}
		if err != nil {
			s.renderError(c, err)
			return
		}
		var args struct {
			TenantID tenant.ID `json:"tenant_id"`
		}
		json.Unmarshal(job.EncodedArgs, &args) //nolint:errcheck // a job without a commune
		if err := operator.Audit(ctx, s.db, o, action, args.TenantID, job.Kind+" #"+strconv.FormatInt(id, 10), nil, nil); err != nil {
			s.renderError(c, err)
			return
		}
		s.setFlash(c, flash{Msg: msg})
		c.Redirect(http.StatusSeeOther, "/jobs")
	}
}
