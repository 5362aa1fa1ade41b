package console

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/heraldhq/herald/saga"
)

// SagaStore is what the saga pages read and where their retry and abort
// buttons file requests: a *saga.Store (opened without an outbox, as
// `herald saga` does) satisfies it. A runner of the instance's type
// carries a request out within its poll interval.
type SagaStore interface {
	// List returns the instances f selects, newest first.
	List(ctx context.Context, f saga.Filter) ([]saga.Instance, error)
	// Get returns an instance, or an error wrapping saga.ErrNotFound.
	Get(ctx context.Context, id string) (saga.Instance, error)
	// History returns an instance's history, oldest first.
	History(ctx context.Context, id string) ([]saga.Entry, error)
	// Request files an operator request (saga.Retry or saga.Abort).
	Request(ctx context.Context, id string, in saga.Input) error
}

// sagaStates are the states the list filters by, in the form's order.
var sagaStates = []saga.Status{saga.Running, saga.Compensating, saga.Done, saga.Compensated, saga.Stuck}

// sagaList is the saga list page's data.
type sagaList struct {
	State     string
	Type      string
	States    []saga.Status
	Instances []saga.Instance
	Limit     int
}

// handleSagas lists saga instances, filtered by ?state= and ?type=.
func (c *Console) handleSagas(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := sagaList{State: q.Get("state"), Type: strings.TrimSpace(q.Get("type")), States: sagaStates, Limit: 200}
	f := saga.Filter{Type: d.Type, Limit: d.Limit}
	if d.State != "" {
		f.Status = saga.Status(d.State)
		if !validSagaState(f.Status) {
			c.fail(w, r, badRequest("unknown saga state %q: want running, compensating, done, compensated or stuck", d.State))
			return
		}
	}
	ins, err := c.cfg.Sagas.List(r.Context(), f)
	if err != nil {
		c.fail(w, r, sagaErr(err))
		return
	}
	d.Instances = ins
	c.render(w, http.StatusOK, "sagas", "Sagas", "sagas", d)
}

func validSagaState(s saga.Status) bool {
	for _, st := range sagaStates {
		if s == st {
			return true
		}
	}
	return false
}

// sagaErr is err as a page error: an unknown instance is the 404 page,
// anything else the store's failure.
func sagaErr(err error) error {
	if errors.Is(err, saga.ErrNotFound) {
		return notFound("%v", err)
	}
	return err
}

// sagaDetail is a saga's page: the instance, its history, and what the
// history tells: the steps with their timings, the events it sent and
// received.
type sagaDetail struct {
	saga.Instance
	Due       time.Time
	Data      []sagaDatum
	History   []sagaEntry
	Steps     []sagaStep
	Sent      []string // command event ids, in the order sent
	Received  []string // reply event ids, in the order received
	Requested string   // "retry" or "abort" after the form posted one
	CanRetry  bool
	CanAbort  bool
}

type sagaDatum struct{ Key, Value string }

// sagaEntry is a history entry with its time since the saga began.
type sagaEntry struct {
	saga.Entry
	Since time.Duration
}

// sagaStep is a step's action or compensation as the history shows it:
// when its first entry came, until the next phase's first entry (or the
// last entry), and how many inputs it took.
type sagaStep struct {
	Step         int
	Compensation bool
	Start, End   time.Time
	Inputs       int
	Status       saga.Status // the state after its last entry
}

// Took is how long the phase ran.
func (s sagaStep) Took() time.Duration { return s.End.Sub(s.Start) }

// handleSaga shows one saga instance; an unknown id is the 404 page.
func (c *Console) handleSaga(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	in, err := c.cfg.Sagas.Get(r.Context(), id)
	if err != nil {
		c.fail(w, r, sagaErr(err))
		return
	}
	h, err := c.cfg.Sagas.History(r.Context(), id)
	if err != nil {
		c.fail(w, r, sagaErr(err))
		return
	}
	d := newSagaDetail(in, h)
	if req := r.URL.Query().Get("requested"); req == "retry" || req == "abort" {
		d.Requested = req
	}
	c.render(w, http.StatusOK, "saga", "Saga "+in.ID, "sagas", d)
}

func newSagaDetail(in saga.Instance, h []saga.Entry) sagaDetail {
	d := sagaDetail{Instance: in, Due: in.Due(), CanRetry: in.Status == saga.Stuck, CanAbort: in.Status == saga.Running}
	for k, v := range in.Data {
		d.Data = append(d.Data, sagaDatum{k, string(v)})
	}
	sort.Slice(d.Data, func(i, j int) bool { return d.Data[i].Key < d.Data[j].Key })
	for _, e := range h {
		since := time.Duration(0)
		if len(h) > 0 {
			since = e.At.Sub(h[0].At)
		}
		d.History = append(d.History, sagaEntry{e, since})
		d.Sent = append(d.Sent, e.Sent...)
		if e.EventID != "" {
			d.Received = append(d.Received, e.EventID)
		}
	}
	d.Steps = sagaSteps(h)
	return d
}

// compensating reports whether an entry's state means a compensation ran.
func compensating(s saga.Status) bool {
	return s == saga.Compensating || s == saga.Compensated || s == saga.Stuck
}

// sagaSteps groups the history by step and phase, in order.
func sagaSteps(h []saga.Entry) []sagaStep {
	var out []sagaStep
	for _, e := range h {
		comp := compensating(e.Status)
		if n := len(out); n > 0 && out[n-1].Step == e.Step && out[n-1].Compensation == comp {
			out[n-1].End, out[n-1].Inputs, out[n-1].Status = e.At, out[n-1].Inputs+1, e.Status
			continue
		}
		if n := len(out); n > 0 {
			out[n-1].End = e.At
		}
		out = append(out, sagaStep{Step: e.Step, Compensation: comp, Start: e.At, End: e.At, Inputs: 1, Status: e.Status})
	}
	return out
}

// handleSagaRequest files a retry or an abort of a saga once the form
// repeats its id, as `herald saga retry|abort` does.
func (c *Console) handleSagaRequest(w http.ResponseWriter, r *http.Request) {
	if err := c.checkForm(r); err != nil {
		c.fail(w, r, err)
		return
	}
	id, kind := r.PathValue("id"), r.PathValue("kind")
	if kind != "retry" && kind != "abort" {
		c.fail(w, r, notFound("no saga request %q: want retry or abort", kind))
		return
	}
	in, err := c.cfg.Sagas.Get(r.Context(), id)
	if err != nil {
		c.fail(w, r, sagaErr(err))
		return
	}
	if r.PostForm.Get("confirm") != id {
		c.fail(w, r, badRequest("to %s saga %q, type its id in the confirmation box", kind, id))
		return
	}
	var req saga.Input = saga.Retry{}
	switch {
	case kind == "abort" && in.Status != saga.Running:
		err = &pageError{http.StatusConflict, "saga " + id + " is " + string(in.Status) + ": only a running saga can be aborted"}
	case kind == "abort":
		reason := strings.TrimSpace(r.PostForm.Get("reason"))
		if reason == "" {
			reason = "by operator (console)"
		}
		req = saga.Abort{Reason: reason}
	case in.Status != saga.Stuck:
		err = &pageError{http.StatusConflict, "saga " + id + " is " + string(in.Status) + ": only a stuck saga can be retried"}
	}
	if err == nil {
		err = c.cfg.Sagas.Request(r.Context(), id, req)
	}
	if err != nil {
		c.fail(w, r, sagaErr(err))
		return
	}
	http.Redirect(w, r, "/sagas/"+pathEscape(id)+"?requested="+kind, http.StatusSeeOther)
}
