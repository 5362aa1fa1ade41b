package saga

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/event"
)

func testDef() Definition {
	cmd := func(name string) Action {
		return Action{Topic: name + "s", Command: name, Success: name + ".ok", Failure: name + ".failed"}
	}
	return Definition{
		Name:    "order",
		Timeout: time.Hour,
		Steps: []Step{
			{Name: "reserve", Action: cmd("reserve"), Compensation: cmd("release"), Timeout: time.Minute,
				Retry: RetryPolicy{MaxAttempts: 2, Backoff: time.Second}, CompensationRetry: RetryPolicy{MaxAttempts: 2, Backoff: time.Second}},
			{Name: "note", NoCompensation: true, Action: Action{Func: func(context.Context, Data) (json.RawMessage, error) { return nil, nil }}},
			{Name: "charge", Action: cmd("charge"), Compensation: cmd("refund"), Timeout: time.Minute},
			{Name: "ship", Action: cmd("ship"), Timeout: time.Minute},
		},
	}.withDefaults()
}

// reply returns the reply of type typ to the instance's current command.
func reply(in Instance, typ string) Reply {
	e := event.New("/test", typ, []byte(`{"ok":true}`))
	e.CorrelationID = in.ID
	e.CausationID = commandID(in.ID, in.Step, in.Status == Compensating, in.Attempt)
	return Reply{Event: e}
}

type want struct {
	status   Status
	step     int
	attempt  int
	backoff  bool
	commands []string // types
	calls    int
	ignored  bool
	note     string // substring
}

func TestMachine(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	m := machine{def: testDef()}
	start := func() Instance { return m.begin(t0, "o-1", json.RawMessage(`{"id":"o-1"}`)).Instance }
	at := func(in Instance, st Status, step, attempt int) Instance {
		in.Status, in.Step, in.Attempt, in.Deadline = st, step, attempt, t0.Add(time.Minute)
		return in
	}
	tests := []struct {
		name  string
		in    Instance
		input func(Instance) Input
		now   time.Time
		want  want
	}{
		{"success moves to the func step", start(), func(in Instance) Input { return reply(in, "reserve.ok") }, t0,
			want{status: Running, step: 1, attempt: 1, calls: 1, note: "step reserve done"}},
		{"func result moves to the next command", at(start(), Running, 1, 1), func(Instance) Input { return Result{Step: 1, Attempt: 1} }, t0,
			want{status: Running, step: 2, attempt: 1, commands: []string{"charge"}}},
		{"stale func result ignored", at(start(), Running, 1, 2), func(Instance) Input { return Result{Step: 1, Attempt: 1} }, t0,
			want{status: Running, step: 1, attempt: 2, ignored: true}},
		{"last step done", at(start(), Running, 3, 1), func(in Instance) Input { return reply(in, "ship.ok") }, t0,
			want{status: Done, step: 3, attempt: 1, note: "saga done"}},
		{"failure reply compensates earlier steps, skipping those without", at(start(), Running, 2, 1), func(in Instance) Input { return reply(in, "charge.failed") }, t0,
			want{status: Compensating, step: 0, attempt: 1, commands: []string{"release"}, note: "charge.failed"}},
		{"failure of the first step: compensated at once", start(), func(in Instance) Input { return reply(in, "reserve.failed") }, t0,
			want{status: Compensated, step: 0, attempt: 1}},
		{"compensation done: compensated", at(start(), Compensating, 0, 1), func(in Instance) Input { return reply(in, "release.ok") }, t0,
			want{status: Compensated, step: 0, attempt: 1}},
		{"failed compensation backs off", at(start(), Compensating, 0, 1), func(in Instance) Input { return reply(in, "release.failed") }, t0,
			want{status: Compensating, step: 0, attempt: 1, backoff: true}},
		{"failed compensation, attempts exhausted: stuck", at(start(), Compensating, 0, 2), func(in Instance) Input { return reply(in, "release.failed") }, t0,
			want{status: Stuck, step: 0, attempt: 2, note: "stuck"}},
		{"timeout: retry after backoff", start(), func(Instance) Input { return Tick{} }, t0.Add(time.Minute),
			want{status: Running, step: 0, attempt: 1, backoff: true}},
		{"timer not due", start(), func(Instance) Input { return Tick{} }, t0.Add(time.Second),
			want{status: Running, step: 0, attempt: 1, ignored: true}},
		{"backoff over: second attempt, new command", func() Instance {
			in := start()
			in.Backoff, in.Deadline = true, t0.Add(time.Second)
			return in
		}(), func(Instance) Input { return Tick{} }, t0.Add(time.Second),
			want{status: Running, step: 0, attempt: 2, commands: []string{"reserve"}}},
		{"last attempt timed out: the step itself is compensated", at(start(), Running, 0, 2), func(Instance) Input { return Tick{} }, t0.Add(time.Minute),
			want{status: Compensating, step: 0, attempt: 1, commands: []string{"release"}, note: "timed out"}},
		{"saga timeout compensates the current step", at(start(), Running, 2, 1), func(Instance) Input { return Tick{} }, t0.Add(time.Hour),
			want{status: Compensating, step: 2, attempt: 1, commands: []string{"refund"}, note: "saga timed out"}},
		{"reply for a finished saga ignored", func() Instance { in := start(); in.Status = Done; return in }(), func(in Instance) Input { return reply(in, "reserve.ok") }, t0,
			want{status: Done, step: 0, attempt: 1, ignored: true, note: "saga is done"}},
		{"late reply of an earlier step ignored", at(start(), Running, 2, 1), func(in Instance) Input {
			r := reply(in, "charge.ok")
			r.Event.CausationID = commandID(in.ID, 0, false, 1)
			return r
		}, t0, want{status: Running, step: 2, attempt: 1, ignored: true, note: "not the current step"}},
		{"unexpected reply type ignored", start(), func(in Instance) Input { return reply(in, "ship.ok") }, t0,
			want{status: Running, step: 0, attempt: 1, ignored: true, note: "not awaited"}},
		{"abort compensates the running step", at(start(), Running, 2, 1), func(Instance) Input { return Abort{Reason: "customer"} }, t0,
			want{status: Compensating, step: 2, attempt: 1, commands: []string{"refund"}, note: "aborted: customer"}},
		{"abort of a done saga ignored", func() Instance { in := start(); in.Status = Done; return in }(), func(Instance) Input { return Abort{} }, t0,
			want{status: Done, step: 0, attempt: 1, ignored: true}},
		{"retry of a stuck saga runs the compensation again", func() Instance { in := at(start(), Stuck, 0, 2); in.Deadline = time.Time{}; return in }(), func(Instance) Input { return Retry{} }, t0,
			want{status: Compensating, step: 0, attempt: 3, commands: []string{"release"}, note: "retry by operator: 2 more attempts"}},
		{"after an operator's retry a failed compensation backs off: a fresh budget", func() Instance {
			in := at(start(), Compensating, 0, 3)
			in.AttemptBase = 2
			return in
		}(), func(in Instance) Input { return reply(in, "release.failed") }, t0,
			want{status: Compensating, step: 0, attempt: 3, backoff: true, note: "attempt 4 (2 of 2)"}},
		{"the fresh budget exhausted: stuck again", func() Instance {
			in := at(start(), Compensating, 0, 4)
			in.AttemptBase = 2
			return in
		}(), func(in Instance) Input { return reply(in, "release.failed") }, t0,
			want{status: Stuck, step: 0, attempt: 4, note: "stuck"}},
		{"retry of a running saga ignored", start(), func(Instance) Input { return Retry{} }, t0,
			want{status: Running, step: 0, attempt: 1, ignored: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := m.apply(tt.now, tt.in, tt.input(tt.in))
			check(t, tr, tt.in, tt.want)
		})
	}
}

func check(t *testing.T, tr Transition, before Instance, w want) {
	t.Helper()
	in := tr.Instance
	if in.Status != w.status || in.Step != w.step || in.Attempt != w.attempt || in.Backoff != w.backoff {
		t.Fatalf("got %s step %d attempt %d backoff %v, want %s step %d attempt %d backoff %v (note %q)",
			in.Status, in.Step, in.Attempt, in.Backoff, w.status, w.step, w.attempt, w.backoff, tr.Note)
	}
	var types []string
	for _, c := range tr.Commands {
		types = append(types, c.Event.Type)
		if c.Event.CorrelationID != in.ID || c.Event.Key != in.ID || c.Event.ID != commandID(in.ID, in.Step, in.Status == Compensating, in.Attempt) {
			t.Fatalf("command %+v: ids do not name the instance and attempt", c.Event)
		}
	}
	if strings.Join(types, ",") != strings.Join(w.commands, ",") || len(tr.Calls) != w.calls || tr.Ignored != w.ignored {
		t.Fatalf("commands %v calls %d ignored %v, want %v %d %v (note %q)", types, len(tr.Calls), tr.Ignored, w.commands, w.calls, w.ignored, tr.Note)
	}
	if !strings.Contains(tr.Note, w.note) {
		t.Fatalf("note %q does not say %q", tr.Note, w.note)
	}
	if w.ignored && in.Version != before.Version || !w.ignored && in.Version != before.Version+1 {
		t.Fatalf("version %d after %d (ignored %v)", in.Version, before.Version, w.ignored)
	}
	if in.Status == Stuck && in.Error == "" {
		t.Fatal("stuck without an error")
	}
}

func TestPayloadErrorCountsAsFailedAttempt(t *testing.T) {
	d := testDef()
	d.Steps[0].Action.Payload = func(Data) ([]byte, error) { return nil, errors.New("no sku") }
	tr := machine{def: d}.begin(time.Unix(0, 0), "o-2", nil)
	if tr.Instance.Attempt != 1 || !tr.Instance.Backoff || len(tr.Commands) != 0 || !strings.Contains(tr.Note, "no sku") {
		t.Fatalf("got %+v note %q", tr.Instance, tr.Note)
	}
}

func TestValidate(t *testing.T) {
	good := testDef()
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(d *Definition)
		want string
	}{
		{"missing compensation", func(d *Definition) { d.Steps[2].Compensation = Action{} }, "step 2 (charge): no compensation"},
		{"no name", func(d *Definition) { d.Name = "" }, "no name"},
		{"no steps", func(d *Definition) { d.Steps = nil }, "no steps"},
		{"duplicate step", func(d *Definition) { d.Steps[1].Name = "reserve" }, "used twice"},
		{"reserved step name", func(d *Definition) { d.Steps[1].Name = "input" }, "reserved"},
		{"command without success", func(d *Definition) { d.Steps[3].Action.Success = "" }, "without a Success"},
		{"func and command", func(d *Definition) { d.Steps[1].Action.Topic = "x" }, "both a Func and a command"},
		{"empty action", func(d *Definition) { d.Steps[3].Action = Action{} }, "neither a Func nor a command"},
		{"negative timeout", func(d *Definition) { d.Steps[0].Timeout = -1 }, "negative timeout"},
		{"NoCompensation with one", func(d *Definition) { d.Steps[0].NoCompensation = true }, "NoCompensation with a Compensation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := testDef()
			d.Steps = append([]Step(nil), d.Steps...)
			tt.edit(&d)
			err := d.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate: %v, want %q", err, tt.want)
			}
		})
	}
}

// TestRetryGivesAFreshBudget: an operator's retry of a stuck saga allows
// the compensation its whole CompensationRetry again (2 attempts here),
// numbered on so that each command has a new id.
func TestRetryGivesAFreshBudget(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	m := machine{def: testDef()}
	in := m.begin(t0, "o-1", nil).Instance
	in = m.apply(t0, in, reply(in, "reserve.failed")).Instance // compensated at once: no step before
	in.Status, in.Step, in.Attempt = Stuck, 0, 2
	var sent []string
	for round := range 2 {
		tr := m.apply(t0, in, Retry{})
		in = tr.Instance
		if in.Status != Compensating || in.AttemptBase != 2+2*round || in.Attempt != in.AttemptBase+1 {
			t.Fatalf("round %d: retry gave %+v", round, in)
		}
		sent = append(sent, tr.Commands[0].Event.ID)
		for try := range 2 {
			in = m.apply(t0, in, reply(in, "release.failed")).Instance
			if try == 0 {
				if in.Status != Compensating || !in.Backoff {
					t.Fatalf("round %d: first failure of the fresh budget: %+v", round, in)
				}
				tr := m.apply(in.Deadline, in, Tick{})
				in = tr.Instance
				sent = append(sent, tr.Commands[0].Event.ID)
			}
		}
		if in.Status != Stuck {
			t.Fatalf("round %d: budget spent, got %s attempt %d", round, in.Status, in.Attempt)
		}
	}
	if got := strings.Join(sent, " "); got != "o-1/0/undo/3 o-1/0/undo/4 o-1/0/undo/5 o-1/0/undo/6" {
		t.Fatalf("commands %s", got)
	}
}
