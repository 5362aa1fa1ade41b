package saga

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/event"
)

// Status is where a saga instance is.
type Status string

// The statuses. Done, Compensated and Stuck are at rest; Stuck waits for
// an operator (Runner.Retry).
const (
	Running      Status = "running"      // steps are running forward
	Compensating Status = "compensating" // compensations run, in reverse
	Done         Status = "done"         // every step succeeded
	Compensated  Status = "compensated"  // a step failed; every compensation ran
	Stuck        Status = "stuck"        // a compensation kept failing; Error says why
)

// active reports whether s still has steps or compensations to run.
func (s Status) active() bool { return s == Running || s == Compensating }

// Instance is one saga's persisted state.
type Instance struct {
	ID     string // the correlation id of every event of the saga
	Type   string // the Definition's name
	Status Status
	// Step is the index of the step whose action (Running) or compensation
	// (Compensating, Stuck) runs now. Invariant: 0 <= Step < len(Steps)
	// while Status is active or Stuck.
	Step int
	// Attempt is the current attempt of that action, from 1. Attempt
	// numbers only grow within a step (they name the commands), so the
	// retry policy counts from AttemptBase: attempts AttemptBase+1 up to
	// AttemptBase+MaxAttempts are allowed.
	Attempt int
	// AttemptBase is 0 for a step's first budget of attempts; an
	// operator's Retry of a stuck instance sets it to the attempt that got
	// stuck, giving the compensation its full retry policy again.
	// Invariant: 0 <= AttemptBase < Attempt.
	AttemptBase int
	// Backoff is set while the instance waits, until Deadline, to make the
	// next attempt.
	Backoff bool
	// Deadline is when the current attempt times out (or the backoff
	// ends); zero when the instance is at rest.
	Deadline time.Time
	// SagaDeadline is when the whole saga times out; zero: never.
	SagaDeadline time.Time
	Data         Data
	Error        string // why the saga compensates, or is stuck
	Version      int64  // bumped by every applied transition
	Created      time.Time
	Updated      time.Time
}

// Due is when the instance's timer fires: the earlier of Deadline and,
// while Running, SagaDeadline; zero if none.
func (in Instance) Due() time.Time {
	due := in.Deadline
	if in.Status == Running && !in.SagaDeadline.IsZero() && (due.IsZero() || in.SagaDeadline.Before(due)) {
		due = in.SagaDeadline
	}
	if !in.Status.active() {
		return time.Time{}
	}
	return due
}

// Input is something that happens to a saga instance: Reply, Result,
// Tick, Abort or Retry.
type Input interface{ inputKind() string }

// Reply is an event that answers a command.
type Reply struct{ Event event.Event }

// Result is the outcome of a Func action or compensation.
type Result struct {
	Step         int
	Compensation bool
	Attempt      int
	Output       json.RawMessage
	Err          string // empty: success
}

// Tick says the instance's timer may be due.
type Tick struct{}

// Abort asks a running saga to stop and compensate.
type Abort struct{ Reason string }

// Retry asks a stuck saga to run its failing compensation again, with a
// fresh retry budget: CompensationRetry.MaxAttempts more attempts.
type Retry struct{}

func (Reply) inputKind() string  { return "reply" }
func (Result) inputKind() string { return "result" }
func (Tick) inputKind() string   { return "timer" }
func (Abort) inputKind() string  { return "abort" }
func (Retry) inputKind() string  { return "retry" }

// Command is an effect: a command event to write to the outbox, in the
// transaction that stores the transition.
type Command struct {
	Topic string
	Event event.Event
}

// Call is an effect: call the Func of a step's action or compensation,
// after the transition is stored, and apply its Result.
type Call struct {
	Step         int
	Compensation bool
	Attempt      int
}

// Transition is the outcome of applying an Input: the new state, the
// effects to carry out, and a note for the history.
type Transition struct {
	Instance Instance
	Commands []Command
	Calls    []Call
	// Ignored is set when the input changed nothing (a late, duplicate or
	// unexpected reply, a timer not yet due); Instance is then the old
	// state.
	Ignored bool
	Note    string
}

// machine applies inputs to instances of one definition. It does no I/O
// and reads no clock: now is an argument.
type machine struct{ def Definition }

// begin returns a new instance of id with input, and its first step
// started.
func (m machine) begin(now time.Time, id string, input json.RawMessage) Transition {
	in := Instance{ID: id, Type: m.def.Name, Status: Running, Data: Data{"input": input}, Created: now}
	if m.def.Timeout > 0 {
		in.SagaDeadline = now.Add(m.def.Timeout)
	}
	tr := Transition{Instance: in}
	m.enter(now, &tr, 0, 1)
	tr.Note = "started; " + tr.Note
	return tr
}

// apply returns the transition input makes from in.
func (m machine) apply(now time.Time, in Instance, input Input) Transition {
	tr := Transition{Instance: in}
	tr.Instance.Data = cloneData(in.Data)
	switch input := input.(type) {
	case Reply:
		m.onReply(now, &tr, input.Event)
	case Result:
		m.onResult(now, &tr, input)
	case Tick:
		m.onTick(now, &tr)
	case Abort:
		if in.Status != Running {
			return ignore(in, fmt.Sprintf("abort: saga is %s", in.Status))
		}
		m.compensate(now, &tr, in.Step, "aborted: "+input.Reason)
	case Retry:
		if in.Status != Stuck {
			return ignore(in, fmt.Sprintf("retry: saga is %s, not stuck", in.Status))
		}
		// A fresh budget of attempts, numbered on: each command must have
		// a new id. When they all fail, the saga is stuck again.
		tr.Instance.Status = Compensating
		tr.Instance.AttemptBase = in.Attempt
		m.enter(now, &tr, in.Step, in.Attempt+1)
		tr.Note = fmt.Sprintf("retry by operator: %d more attempts; %s", m.def.Steps[in.Step].CompensationRetry.MaxAttempts, tr.Note)
	default:
		return ignore(in, fmt.Sprintf("unknown input %T", input))
	}
	if tr.Ignored {
		tr.Instance = in
		return tr
	}
	tr.Instance.Version = in.Version + 1
	tr.Instance.Updated = now
	return tr
}

func ignore(in Instance, note string) Transition {
	return Transition{Instance: in, Ignored: true, Note: "ignored: " + note}
}

func (m machine) onReply(now time.Time, tr *Transition, e event.Event) {
	in := tr.Instance
	if !in.Status.active() {
		*tr = ignore(in, fmt.Sprintf("reply %s (%s): saga is %s", e.ID, e.Type, in.Status))
		return
	}
	comp := in.Status == Compensating
	a := m.action(in.Step, comp)
	if a.Func != nil || (e.Type != a.Success && e.Type != a.Failure) {
		*tr = ignore(in, fmt.Sprintf("reply %s (%s): not awaited at step %s", e.ID, e.Type, m.stepName(in.Step, comp)))
		return
	}
	if p := in.ID + "/"; strings.HasPrefix(e.CausationID, p) && !strings.HasPrefix(e.CausationID, commandPrefix(in.ID, in.Step, comp)) {
		*tr = ignore(in, fmt.Sprintf("reply %s (%s): answers %s, not the current step", e.ID, e.Type, e.CausationID))
		return
	}
	if e.Type == a.Success {
		m.succeed(now, tr, json.RawMessage(e.Data))
		return
	}
	if comp {
		m.fail(now, tr, fmt.Sprintf("%s replied %s", m.stepName(in.Step, comp), e.Type))
		return
	}
	m.compensate(now, tr, in.Step-1, fmt.Sprintf("step %s failed: %s", m.def.Steps[in.Step].Name, e.Type))
}

func (m machine) onResult(now time.Time, tr *Transition, r Result) {
	in := tr.Instance
	comp := in.Status == Compensating
	if !in.Status.active() || r.Step != in.Step || r.Compensation != comp || r.Attempt != in.Attempt || in.Backoff {
		*tr = ignore(in, fmt.Sprintf("result of step %d attempt %d: not awaited", r.Step, r.Attempt))
		return
	}
	if r.Err == "" {
		m.succeed(now, tr, r.Output)
		return
	}
	m.fail(now, tr, fmt.Sprintf("%s: %s", m.stepName(in.Step, comp), r.Err))
}

func (m machine) onTick(now time.Time, tr *Transition) {
	in := tr.Instance
	switch {
	case !in.Status.active():
		*tr = ignore(in, "timer: saga is "+string(in.Status))
	case in.Status == Running && !in.SagaDeadline.IsZero() && !now.Before(in.SagaDeadline):
		m.compensate(now, tr, in.Step, "saga timed out")
	case in.Deadline.IsZero() || now.Before(in.Deadline):
		*tr = ignore(in, "timer: not due")
	case in.Backoff:
		m.enter(now, tr, in.Step, in.Attempt+1)
	default:
		m.fail(now, tr, fmt.Sprintf("%s timed out (attempt %d)", m.stepName(in.Step, in.Status == Compensating), in.Attempt))
	}
}

// succeed moves on from the current step after its action succeeded.
func (m machine) succeed(now time.Time, tr *Transition, out json.RawMessage) {
	in := &tr.Instance
	if in.Status == Compensating {
		name := m.stepName(in.Step, true)
		m.compensateFrom(now, tr, in.Step-1)
		tr.Note = name + " done; " + tr.Note
		return
	}
	name := m.def.Steps[in.Step].Name
	if len(out) > 0 {
		in.Data[name] = out
	}
	if in.Step+1 == len(m.def.Steps) {
		in.Status, in.Deadline, in.Backoff = Done, time.Time{}, false
		tr.Note = "step " + name + " done; saga done"
		return
	}
	m.enter(now, tr, in.Step+1, 1)
	tr.Note = "step " + name + " done; " + tr.Note
}

// fail handles a failed attempt (timeout, function error, failed
// compensation): retry after a backoff, or give up.
func (m machine) fail(now time.Time, tr *Transition, why string) {
	in := &tr.Instance
	comp := in.Status == Compensating
	p := m.def.Steps[in.Step].Retry
	if comp {
		p = m.def.Steps[in.Step].CompensationRetry
	}
	n := in.Attempt - in.AttemptBase // attempts made of this budget
	switch {
	case n < p.MaxAttempts:
		in.Backoff, in.Deadline = true, now.Add(p.delay(n))
		tr.Note = fmt.Sprintf("%s; attempt %d (%d of %d) at %s", why, in.Attempt+1, n+1, p.MaxAttempts, in.Deadline.Format(time.RFC3339Nano))
	case comp:
		in.Status, in.Deadline, in.Backoff, in.Error = Stuck, time.Time{}, false, why
		tr.Note = why + "; attempts exhausted: stuck"
	default:
		// The last attempt may have taken effect (a timeout), so this step
		// is compensated too.
		m.compensate(now, tr, in.Step, why)
	}
}

// compensate starts compensating with step from (and those before it).
func (m machine) compensate(now time.Time, tr *Transition, from int, why string) {
	tr.Instance.Error = why
	tr.Instance.Status = Compensating
	m.compensateFrom(now, tr, from)
	tr.Note = why + "; " + tr.Note
}

// compensateFrom runs the compensation of the last step at or before
// from that has one; with none left the saga is compensated.
func (m machine) compensateFrom(now time.Time, tr *Transition, from int) {
	j := from
	for j >= 0 && m.def.Steps[j].Compensation.isZero() {
		j--
	}
	if j < 0 {
		in := &tr.Instance
		in.Status, in.Deadline, in.Backoff = Compensated, time.Time{}, false
		tr.Note = "saga compensated"
		return
	}
	m.enter(now, tr, j, 1)
}

// enter starts attempt of step i's action (or compensation, when the
// instance is compensating).
func (m machine) enter(now time.Time, tr *Transition, i, attempt int) {
	in := &tr.Instance
	comp := in.Status == Compensating
	in.Step, in.Attempt, in.Backoff = i, attempt, false
	if attempt == 1 {
		in.AttemptBase = 0 // a new step, or a compensation: a new budget
	}
	in.Deadline = now.Add(m.def.Steps[i].Timeout)
	a := m.action(i, comp)
	tr.Note = fmt.Sprintf("%s attempt %d", m.stepName(i, comp), attempt)
	if !a.isCommand() {
		tr.Calls = append(tr.Calls, Call{Step: i, Compensation: comp, Attempt: attempt})
		return
	}
	payload, err := m.payload(a, in.Data)
	if err != nil {
		// The command cannot be built; count it as a failed attempt.
		m.fail(now, tr, fmt.Sprintf("%s: payload: %v", m.stepName(i, comp), err))
		return
	}
	e := event.New(m.def.Source, a.Command, payload)
	e.ID = commandID(in.ID, i, comp, attempt)
	e.Key, e.Subject, e.CorrelationID = in.ID, in.ID, in.ID
	e.Time = now.UTC().Truncate(time.Millisecond)
	e.DataContentType = "application/json"
	e = e.WithExtension("sagatype", m.def.Name).WithExtension("sagastep", m.def.Steps[i].Name)
	tr.Commands = append(tr.Commands, Command{Topic: a.Topic, Event: e})
}

func (m machine) payload(a Action, d Data) ([]byte, error) {
	if a.Payload == nil {
		return d["input"], nil
	}
	return a.Payload(d)
}

func (m machine) action(i int, comp bool) Action {
	if comp {
		return m.def.Steps[i].Compensation
	}
	return m.def.Steps[i].Action
}

func (m machine) stepName(i int, comp bool) string {
	if comp {
		return "compensation of " + m.def.Steps[i].Name
	}
	return "step " + m.def.Steps[i].Name
}

// commandID is the event id of a command: the instance, the step, do or
// undo, and the attempt. A command written again after a crash keeps its
// id, so an idempotent consumer executes it once; a retry has a new one.
func commandID(id string, step int, comp bool, attempt int) string {
	return commandPrefix(id, step, comp) + strconv.Itoa(attempt)
}

func commandPrefix(id string, step int, comp bool) string {
	kind := "do"
	if comp {
		kind = "undo"
	}
	return fmt.Sprintf("%s/%d/%s/", id, step, kind)
}

func cloneData(d Data) Data {
	c := make(Data, len(d))
	for k, v := range d {
		c[k] = v
	}
	return c
}
