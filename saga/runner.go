package saga

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/kafkasec"
	"github.com/heraldhq/herald/pubsub"
)

// Config configures a Runner. Zero fields take the defaults noted.
type Config struct {
	// Store keeps the instances. Required.
	Store *Store
	// Brokers, Group and ReplyTopics set up the router that consumes
	// replies in Run; with no ReplyTopics Run only fires timers (replies
	// may then be fed through Handler or HandleReply).
	Brokers     []string
	Group       string
	ReplyTopics []string
	// ClientOpts are extra kgo options for the router's client.
	ClientOpts []kgo.Opt
	// Security is TLS and SASL for the router's client; the zero value
	// is a plaintext client.
	Security kafkasec.Config
	// PollInterval is how often Run looks for due timers. Default 500ms.
	PollInterval time.Duration
	// Logger receives what Run cannot return. Default slog.Default().
	Logger *slog.Logger
}

// Validate reports every problem with the config, joined.
func (c Config) Validate() error {
	var errs []error
	if err := c.Security.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("saga: Config.Security: %w", err))
	}
	if c.Store == nil || c.Store.ob == nil {
		errs = append(errs, errors.New("saga: Config.Store is nil or has no outbox"))
	}
	if len(c.ReplyTopics) > 0 && (len(c.Brokers) == 0 || c.Group == "") {
		errs = append(errs, errors.New("saga: Config.ReplyTopics need Brokers and Group"))
	}
	if c.PollInterval < 0 {
		errs = append(errs, errors.New("saga: Config.PollInterval is negative"))
	}
	return errors.Join(errs...)
}

// Runner runs sagas: it starts instances, applies replies, fires timers
// and calls Func actions. Several runners, in one process or many, may
// share a Store.
type Runner struct {
	cfg   Config
	store *Store
	calls sync.WaitGroup
	mu    struct {
		sync.RWMutex
		defs       map[string]machine
		replyTypes map[string]bool // every Success and Failure type
		// inflight holds the function calls running in this process;
		// while resume runs, recent also holds those that ended, so that
		// resume does not call again what finished after it looked.
		inflight, recent map[callKey]bool
		resuming         bool
	}
}

type callKey struct {
	id           string
	step         int
	compensation bool
	attempt      int
}

// NewRunner returns a runner on cfg.Store.
func NewRunner(cfg Config) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 500 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	r := &Runner{cfg: cfg, store: cfg.Store}
	r.mu.defs = map[string]machine{}
	r.mu.replyTypes = map[string]bool{}
	r.mu.inflight = map[callKey]bool{}
	return r, nil
}

// Register adds saga type d, after validating it: a definition with a
// problem (a step missing a compensation, an action with no reply type,
// ...) is refused here, not when an instance runs.
func (r *Runner) Register(d Definition) error {
	if err := d.Validate(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.mu.defs[d.Name]; ok {
		return fmt.Errorf("saga: type %s registered twice", d.Name)
	}
	d = d.withDefaults()
	r.mu.defs[d.Name] = machine{def: d}
	for _, s := range d.Steps {
		for _, a := range []Action{s.Action, s.Compensation} {
			if a.Success != "" {
				r.mu.replyTypes[a.Success] = true
			}
			if a.Failure != "" {
				r.mu.replyTypes[a.Failure] = true
			}
		}
	}
	return nil
}

func (r *Runner) machine(typ string) (machine, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	m, ok := r.mu.defs[typ]
	if !ok {
		return machine{}, fmt.Errorf("%w: %q", ErrUnknownType, typ)
	}
	return m, nil
}

// Store returns the runner's store (for Get, List, History).
func (r *Runner) Store() *Store { return r.store }

// Start starts saga typ as instance id (the correlation id of all its
// events; "" for a new UUIDv7) with input, marshalled to JSON. The
// instance and its first command are stored in one transaction. It
// returns the instance as stored.
func (r *Runner) Start(ctx context.Context, typ, id string, input any) (Instance, error) {
	m, err := r.machine(typ)
	if err != nil {
		return Instance{}, err
	}
	if id == "" {
		id = event.NewID()
	}
	if strings.Contains(id, "/") {
		return Instance{}, fmt.Errorf("saga: instance id %q contains '/'", id)
	}
	raw, err := json.Marshal(input)
	if err != nil {
		return Instance{}, fmt.Errorf("saga: input of %s: %w", id, err)
	}
	tr := m.begin(time.Now(), id, raw)
	if err := r.store.create(ctx, tr); err != nil {
		return Instance{}, err
	}
	r.call(ctx, m, tr)
	return tr.Instance, nil
}

// HandleReply applies reply e to the instance its correlation id names.
// Events of types no registered saga awaits are skipped. A reply seen
// before, one for a finished saga, one that is not awaited and one that
// names no instance are recorded and ignored (nil error).
func (r *Runner) HandleReply(ctx context.Context, e event.Event) error {
	r.mu.RLock()
	awaited := r.mu.replyTypes[e.Type]
	r.mu.RUnlock()
	if !awaited || e.ID == "" {
		return nil
	}
	if e.CorrelationID == "" {
		r.cfg.Logger.Warn("saga: reply without a correlation id ignored", "id", e.ID, "type", e.Type)
		return nil
	}
	tr, err := r.apply(ctx, e.CorrelationID, e.ID, Reply{Event: e})
	if errors.Is(err, ErrNotFound) {
		_, err = r.store.orphan(ctx, e.ID, e.CorrelationID)
		r.cfg.Logger.Warn("saga: reply for no instance ignored", "id", e.ID, "type", e.Type, "correlationid", e.CorrelationID)
		return err
	}
	if err == nil && tr.Ignored {
		r.cfg.Logger.Info("saga: reply ignored", "instance", e.CorrelationID, "id", e.ID, "note", tr.Note)
	}
	return err
}

// Handler returns a pubsub handler that feeds replies to HandleReply.
func (r *Runner) Handler() pubsub.Handler {
	return func(ctx context.Context, m *pubsub.Message) error {
		err := r.HandleReply(ctx, m.Event)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, ErrUnknownType):
			return pubsub.Permanent(err)
		default:
			// The database is away: retry, and never dead-letter for it.
			return pubsub.Transient(err)
		}
	}
}

// Abort stops running instance id; its completed steps (and the running
// one) are compensated.
func (r *Runner) Abort(ctx context.Context, id, reason string) (Instance, error) {
	return r.operate(ctx, id, Abort{Reason: reason})
}

// Retry runs the failing compensation of stuck instance id again, with
// its whole CompensationRetry policy: a fresh budget of attempts, stored
// with the instance (Instance.AttemptBase) and shown in its history.
func (r *Runner) Retry(ctx context.Context, id string) (Instance, error) {
	return r.operate(ctx, id, Retry{})
}

func (r *Runner) operate(ctx context.Context, id string, in Input) (Instance, error) {
	tr, err := r.apply(ctx, id, "", in)
	if err != nil {
		return Instance{}, err
	}
	if tr.Ignored {
		return tr.Instance, fmt.Errorf("saga: %s", tr.Note)
	}
	return tr.Instance, nil
}

// FireTimers applies a timer tick to every instance whose timer is due,
// and returns how many it advanced.
func (r *Runner) FireTimers(ctx context.Context) (int, error) {
	ids, err := r.store.Due(ctx, time.Now(), 256)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, id := range ids {
		tr, err := r.apply(ctx, id, "", Tick{})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !tr.Ignored {
			n++
		}
	}
	return n, errors.Join(errs...)
}

// serveRequests carries out the operator requests filed with
// Store.Request for types this runner knows; each is deleted in the
// transaction that applies it.
func (r *Runner) serveRequests(ctx context.Context) error {
	reqs, err := r.store.requests(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, q := range reqs {
		var m machine
		tr, err := r.store.advanceReq(ctx, q.id, "", q.kind, q.seq, func(in Instance) (Transition, error) {
			var err error
			if m, err = r.machine(in.Type); err != nil {
				return Transition{}, err
			}
			return m.apply(time.Now(), in, q.in), nil
		})
		if errors.Is(err, ErrUnknownType) {
			continue // another runner's saga
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r.call(ctx, m, tr)
	}
	return errors.Join(errs...)
}

// apply runs input through instance id's machine in a store transaction,
// then makes the calls the transition asks for.
func (r *Runner) apply(ctx context.Context, id, replyID string, input Input) (Transition, error) {
	var m machine
	tr, err := r.store.advance(ctx, id, replyID, input.inputKind(), func(in Instance) (Transition, error) {
		var err error
		if m, err = r.machine(in.Type); err != nil {
			return Transition{}, err
		}
		return m.apply(time.Now(), in, input), nil
	})
	if err != nil {
		return Transition{}, err
	}
	r.call(ctx, m, tr)
	return tr, nil
}

// call runs the Func actions tr asks for, each in a goroutine; a result
// that cannot be stored is logged, and the step's timeout retries it.
// The calls outlive ctx (that of a handler, or Start's caller): their
// ctx carries its values only, and Run waits for them.
func (r *Runner) call(ctx context.Context, m machine, tr Transition) {
	for _, c := range tr.Calls {
		key := callKey{tr.Instance.ID, c.Step, c.Compensation, c.Attempt}
		if !r.beginCall(key) {
			continue
		}
		f := m.action(c.Step, c.Compensation).Func
		data := cloneData(tr.Instance.Data)
		callCtx := context.WithValue(context.WithoutCancel(ctx), idempotencyKeyCtx{},
			commandID(tr.Instance.ID, c.Step, c.Compensation, c.Attempt))
		r.calls.Add(1)
		go func() {
			defer r.calls.Done()
			defer r.endCall(key)
			res := Result{Step: c.Step, Compensation: c.Compensation, Attempt: c.Attempt}
			out, err := safeCall(callCtx, f, data)
			if err != nil {
				res.Err = err.Error()
			}
			res.Output = out
			if _, err := r.apply(callCtx, tr.Instance.ID, "", res); err != nil {
				r.cfg.Logger.Error("saga: store a function's result", "instance", tr.Instance.ID, "err", err)
			}
		}()
	}
}

type idempotencyKeyCtx struct{}

// IdempotencyKey returns the idempotency key of the Func call that ctx
// was given to, and whether ctx is such a call's: the instance, the step,
// do or undo, and the attempt, "<instance>/<step>/<do|undo>/<attempt>",
// as a command's event id.
//
// A Func runs at least once per attempt: when the process stops after
// the function took effect and before its result is stored, the next
// Run calls it again with the same key. A function that records the key
// with its effect, in one transaction (INSERT ... ON CONFLICT DO NOTHING
// into a table keyed by it, and the effect only if the row is new), or
// passes it to a service that deduplicates by it (a payment provider's
// idempotency key), takes effect once per attempt. A new attempt (after a
// timeout or an error) has a new key, as a retried command has a new id;
// a function that must act once per step whatever the attempts can key
// on the key without its last element.
func IdempotencyKey(ctx context.Context) (string, bool) {
	k, ok := ctx.Value(idempotencyKeyCtx{}).(string)
	return k, ok
}

// beginCall reports whether call k may start: it is not running here, nor
// (while resuming) did it end since resume looked.
func (r *Runner) beginCall(k callKey) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mu.inflight[k] || r.mu.recent[k] {
		return false
	}
	r.mu.inflight[k] = true
	return true
}

func (r *Runner) endCall(k callKey) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.mu.inflight, k)
	if r.mu.resuming {
		r.mu.recent[k] = true
	}
}

func safeCall(ctx context.Context, f func(context.Context, Data) (json.RawMessage, error), d Data) (out json.RawMessage, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return f(ctx, d)
}

// Run calls again the functions instances were waiting for when the last
// process stopped, then consumes replies (if Config.ReplyTopics are set)
// and fires due timers until ctx is cancelled; then it waits for running function calls
// and returns nil, or the router's error.
func (r *Runner) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := r.resume(ctx); err != nil {
		r.cfg.Logger.Error("saga: resume function calls", "err", err)
	}
	routerDone := make(chan error, 1)
	if len(r.cfg.ReplyTopics) == 0 {
		routerDone <- nil
	} else {
		router, err := r.router()
		if err != nil {
			return err
		}
		go func() { routerDone <- router.Run(ctx) }()
	}
	r.timerLoop(ctx)
	err := <-routerDone
	r.calls.Wait()
	return err
}

// resume calls again the functions that instances wait for: a call in
// flight when a process stopped has no result coming. (Their timeouts
// would retry them too, but only after Step.Timeout.)
func (r *Runner) resume(ctx context.Context) error {
	r.mu.Lock()
	r.mu.resuming, r.mu.recent = true, map[callKey]bool{}
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.mu.resuming, r.mu.recent = false, nil
		r.mu.Unlock()
	}()
	ins, err := r.store.active(ctx)
	if err != nil {
		return err
	}
	for _, in := range ins {
		m, err := r.machine(in.Type)
		if err != nil || in.Backoff || in.Step >= len(m.def.Steps) {
			continue
		}
		comp := in.Status == Compensating
		if m.action(in.Step, comp).Func != nil {
			r.call(ctx, m, Transition{Instance: in, Calls: []Call{{Step: in.Step, Compensation: comp, Attempt: in.Attempt}}})
		}
	}
	return nil
}

func (r *Runner) router() (*pubsub.Router, error) {
	router, err := pubsub.NewRouter(pubsub.RouterConfig{
		Brokers: r.cfg.Brokers, Group: r.cfg.Group, ClientOpts: r.cfg.ClientOpts, Security: r.cfg.Security, Logger: r.cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("saga: %w", err)
	}
	for _, t := range r.cfg.ReplyTopics {
		if err := router.Handle(t, r.Handler()); err != nil {
			return nil, fmt.Errorf("saga: %w", err)
		}
	}
	return router, nil
}

func (r *Runner) timerLoop(ctx context.Context) {
	t := time.NewTicker(r.cfg.PollInterval)
	defer t.Stop()
	for {
		if _, err := r.FireTimers(ctx); err != nil && ctx.Err() == nil {
			r.cfg.Logger.Error("saga: fire timers", "err", err)
		}
		if err := r.serveRequests(ctx); err != nil && ctx.Err() == nil {
			r.cfg.Logger.Error("saga: operator requests", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
