package console

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/heraldhq/herald/projection"
)

// Projections is what the projections page reads and where its rebuild
// button files a request: a *projection.Runner (one with no projection
// registered reads every checkpoint, as `herald projection` does)
// satisfies it. A runner of the projection starts the rebuild within its
// poll interval.
type Projections interface {
	// Status returns every projection's checkpoint.
	Status(ctx context.Context) ([]projection.Status, error)
	// RequestRebuild asks the runners to rebuild projection name.
	RequestRebuild(ctx context.Context, name string) error
}

// projectionRow is a projection as the page shows it.
type projectionRow struct {
	projection.Status
	State string // running, stopped, rebuilding, rebuild-stalled, rebuild-requested
}

// The states the page shows.
const (
	projRunning   = "running"
	projStopped   = "stopped"
	projRebuild   = "rebuilding"
	projStalled   = "rebuild-stalled" // the rebuild's lease expired: its runner died; another takes it over
	projRequested = "rebuild-requested"
)

func projectionState(s projection.Status, now time.Time) string {
	switch {
	case s.Rebuilding && s.RebuildLease.Before(now):
		return projStalled
	case s.Rebuilding:
		return projRebuild
	case s.RebuildRequested:
		return projRequested
	case s.Stopped:
		return projStopped
	}
	return projRunning
}

// CanRebuild reports whether the rebuild button is offered: not while a
// rebuild is requested or under way.
func (p projectionRow) CanRebuild() bool { return !p.Rebuilding && !p.RebuildRequested }

// projectionPage is the projections page's data.
type projectionPage struct {
	Projections []projectionRow
	Requested   string // the projection whose rebuild the form just requested
}

// handleProjections lists the projections: position, lag, state.
func (c *Console) handleProjections(w http.ResponseWriter, r *http.Request) {
	st, err := c.cfg.Projections.Status(r.Context())
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d := projectionPage{Requested: r.URL.Query().Get("requested")}
	now := time.Now()
	for _, s := range st {
		d.Projections = append(d.Projections, projectionRow{s, projectionState(s, now)})
	}
	c.render(w, http.StatusOK, "projections", "Projections", "projections", d)
}

// handleRebuildProjection requests a projection's rebuild once the form
// repeats its name, as `herald projection rebuild` does.
func (c *Console) handleRebuildProjection(w http.ResponseWriter, r *http.Request) {
	if err := c.checkForm(r); err != nil {
		c.fail(w, r, err)
		return
	}
	name := r.PathValue("name")
	if r.PostForm.Get("confirm") != name {
		c.fail(w, r, badRequest("to rebuild projection %q, type its name in the confirmation box", name))
		return
	}
	err := c.cfg.Projections.RequestRebuild(r.Context(), name)
	switch {
	case errors.Is(err, projection.ErrUnknown):
		c.fail(w, r, notFound("%v", err))
		return
	case errors.Is(err, projection.ErrRebuilding):
		c.fail(w, r, &pageError{http.StatusConflict, err.Error()})
		return
	case err != nil:
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/projections?requested="+pathEscape(name), http.StatusSeeOther)
}
