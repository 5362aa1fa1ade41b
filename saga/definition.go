package saga

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Data is what a saga instance has gathered: its input under "input" and
// each completed step's output (the success reply's data, or the
// function's result) under the step's name. Values are JSON.
type Data map[string]json.RawMessage

// Definition declares a saga type: its steps in order and its timeout.
// Register it with Runner.Register, which validates it.
type Definition struct {
	// Name is the saga type, stored with each instance. Required.
	Name string
	// Source is the CloudEvents source of the commands the saga sends.
	// Default "/saga/" + Name.
	Source string
	// Steps run in order; when one fails, the compensations of the steps
	// before it run in reverse order.
	Steps []Step
	// Timeout bounds the whole saga while it runs forward; when it passes,
	// the saga compensates. 0: no limit.
	Timeout time.Duration
}

// Step is one step of a saga.
type Step struct {
	// Name names the step; the step's output is kept in Data under it.
	// Required and unique within the definition; "input" is reserved.
	Name string
	// Action does the step's work.
	Action Action
	// Compensation undoes the action. Every step but the last needs one,
	// unless NoCompensation says the step has nothing to undo. It must
	// tolerate running when the action never took effect: a step that
	// timed out, or was aborted while running, is compensated too.
	Compensation Action
	// NoCompensation declares that the step needs no compensation.
	NoCompensation bool
	// Timeout is how long one attempt of the action (or the compensation)
	// may take before it counts as failed. Default 30s.
	Timeout time.Duration
	// Retry is the retry policy of the action after a timeout or a
	// function error. A failure reply is a decision and is not retried.
	// Default 3 attempts.
	Retry RetryPolicy
	// CompensationRetry is the retry policy of the compensation; when its
	// attempts run out the saga is stuck. Default 20 attempts.
	CompensationRetry RetryPolicy
}

// Action is a step's action or compensation: either a command event sent
// through the outbox (Topic, Command, Success and optionally Failure), or
// a function (Func).
type Action struct {
	// Topic is where the command goes.
	Topic string
	// Command is the command event's type.
	Command string
	// Payload builds the command's data (JSON) from what the saga has
	// gathered. Default: Data["input"].
	Payload func(d Data) ([]byte, error)
	// Success is the type of the reply that means the command succeeded.
	// Replies are recognised by correlation id (the saga instance's id,
	// which every command carries) and, when they carry one, by causation
	// id (the command's id).
	Success string
	// Failure is the type of the reply that means the command failed: the
	// saga compensates at once (no retry).
	Failure string

	// Func is called instead of sending a command; its result is the
	// step's output. It runs at least once per attempt: if the process
	// stops between the function's effect and the store of its result,
	// the next Run calls it again. So it must be idempotent: its ctx
	// carries an idempotency key (IdempotencyKey), the same for every
	// call of one attempt, to record with its effect in one transaction,
	// or to pass on to a service that deduplicates by it.
	Func func(ctx context.Context, d Data) (json.RawMessage, error)
}

// RetryPolicy says how often, and how far apart, an action is attempted.
type RetryPolicy struct {
	// MaxAttempts is the number of attempts, the first included.
	MaxAttempts int
	// Backoff is the wait before the second attempt; it doubles with each
	// attempt up to MaxBackoff. Default 1s.
	Backoff time.Duration
	// MaxBackoff caps the wait. Default 1m.
	MaxBackoff time.Duration
}

func (a Action) isZero() bool {
	return a.Topic == "" && a.Command == "" && a.Func == nil && a.Success == ""
}

func (a Action) isCommand() bool { return a.Func == nil }

// delay is the wait after failed attempt n (1-based).
func (p RetryPolicy) delay(n int) time.Duration {
	d := p.Backoff
	for i := 1; i < n && d < p.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, p.MaxBackoff)
}

func (p RetryPolicy) withDefaults(attempts int) RetryPolicy {
	if p.MaxAttempts == 0 {
		p.MaxAttempts = attempts
	}
	if p.Backoff == 0 {
		p.Backoff = time.Second
	}
	if p.MaxBackoff == 0 {
		p.MaxBackoff = time.Minute
	}
	return p
}

func (p RetryPolicy) problems(what string) []error {
	var errs []error
	if p.MaxAttempts < 0 {
		errs = append(errs, fmt.Errorf("%s: MaxAttempts is negative", what))
	}
	if p.Backoff < 0 || p.MaxBackoff < 0 {
		errs = append(errs, fmt.Errorf("%s: negative backoff", what))
	}
	return errs
}

// Validate reports every problem with the definition, joined: a missing
// name, no steps, duplicate step names, an action that is neither a
// command nor a function, and a step that needs a compensation and has
// none.
func (d Definition) Validate() error {
	var errs []error
	if d.Name == "" {
		errs = append(errs, errors.New("saga: definition has no name"))
	}
	if len(d.Steps) == 0 {
		errs = append(errs, fmt.Errorf("saga %s: no steps", d.Name))
	}
	if d.Timeout < 0 {
		errs = append(errs, fmt.Errorf("saga %s: negative timeout", d.Name))
	}
	seen := map[string]bool{"input": true}
	for i, s := range d.Steps {
		where := fmt.Sprintf("saga %s: step %d (%s)", d.Name, i, s.Name)
		if s.Name == "" || seen[s.Name] {
			errs = append(errs, fmt.Errorf("%s: name empty, reserved or used twice", where))
		}
		seen[s.Name] = true
		errs = append(errs, s.Action.problems(where+": action")...)
		errs = append(errs, s.compensationProblems(where, i == len(d.Steps)-1)...)
		if s.Timeout < 0 {
			errs = append(errs, fmt.Errorf("%s: negative timeout", where))
		}
		errs = append(errs, s.Retry.problems(where+": Retry")...)
		errs = append(errs, s.CompensationRetry.problems(where+": CompensationRetry")...)
	}
	return errors.Join(errs...)
}

func (s Step) compensationProblems(where string, last bool) []error {
	switch {
	case s.NoCompensation && !s.Compensation.isZero():
		return []error{fmt.Errorf("%s: NoCompensation with a Compensation", where)}
	case s.Compensation.isZero() && !s.NoCompensation && !last:
		return []error{fmt.Errorf("%s: no compensation (set Compensation, or NoCompensation if there is nothing to undo)", where)}
	case s.Compensation.isZero():
		return nil
	}
	return s.Compensation.problems(where + ": compensation")
}

func (a Action) problems(where string) []error {
	if a.Func != nil {
		if a.Topic != "" || a.Command != "" || a.Success != "" || a.Failure != "" || a.Payload != nil {
			return []error{fmt.Errorf("%s: both a Func and a command", where)}
		}
		return nil
	}
	var errs []error
	if a.Topic == "" || a.Command == "" {
		errs = append(errs, fmt.Errorf("%s: neither a Func nor a command (Topic and Command)", where))
	}
	if a.Success == "" {
		errs = append(errs, fmt.Errorf("%s: command without a Success reply type", where))
	}
	if a.Success != "" && a.Success == a.Failure {
		errs = append(errs, fmt.Errorf("%s: Success and Failure are the same type %q", where, a.Success))
	}
	return errs
}

// withDefaults returns d with the defaults filled in; d must be valid.
func (d Definition) withDefaults() Definition {
	if d.Source == "" {
		d.Source = "/saga/" + d.Name
	}
	steps := make([]Step, len(d.Steps))
	for i, s := range d.Steps {
		if s.Timeout == 0 {
			s.Timeout = 30 * time.Second
		}
		s.Retry = s.Retry.withDefaults(3)
		s.CompensationRetry = s.CompensationRetry.withDefaults(20)
		steps[i] = s
	}
	d.Steps = steps
	return d
}
