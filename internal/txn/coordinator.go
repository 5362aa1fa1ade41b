package txn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/group"
)

// Config configures a Coordinator.
type Config struct {
	Broker    *broker.Broker
	Groups    *group.Coordinator // where committed transactional offsets go; nil: none
	Producers *Manager
	Logger    *slog.Logger
	Now       func() time.Time
	// MaxTimeout is transaction.max.timeout.ms; default 15 minutes.
	MaxTimeout time.Duration
	// AbortCheck is how often open transactions are checked for their
	// timeout; default 1s.
	AbortCheck time.Duration
}

// Coordinator is the transaction coordinator: producer ids, and the state
// of every transactional id, persisted in __transaction_state and
// replayed by Open. All methods are safe for concurrent use.
//
// One driver goroutine owns the Machine: it steps requests and I/O
// completions through it and carries out the effects. Appends to
// __transaction_state happen on the driver, in effect order; waits for
// durability, markers and group commits run on goroutines that post their
// completion back. The published view (view) is what Verify, Pending,
// Describe and List read; its mutex is held only for map access, so the
// Manager may call Verify under a partition lock.
type Coordinator struct {
	cfg    Config
	logger *slog.Logger
	io     *stateIO
	tokens atomic.Uint64

	inbox   chan any
	closing chan struct{} // closed by Close
	done    chan struct{} // closed when the driver exits
	ready   chan struct{} // closed once the replayed Prepare* are completed
	once    sync.Once

	ioWG sync.WaitGroup // the I/O goroutines

	// driver only
	sm      *Machine
	waiters map[Token]chan any
	local   []any // completions known at once, stepped before the inbox

	view struct {
		sync.Mutex
		byID  map[string]*meta
		byPID map[int64]string
	}
}

// request is a call waiting for its Reply.
type request struct {
	tok Token
	ev  any
	ch  chan any
}

// Errors.
var (
	ErrClosed = errors.New("transaction coordinator closed")
)

// Open creates __transaction_state if needed, replays it, completes the
// transactions a crash left half-ended and starts the driver.
func Open(cfg Config) (*Coordinator, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxTimeout <= 0 {
		cfg.MaxTimeout = 15 * time.Minute
	}
	if cfg.AbortCheck <= 0 {
		cfg.AbortCheck = time.Second
	}
	if cfg.Producers == nil {
		return nil, errors.New("txn: Config.Producers is required")
	}
	t, err := openStateTopic(cfg.Broker)
	if err != nil {
		return nil, err
	}
	c := &Coordinator{cfg: cfg, logger: cfg.Logger,
		io:    &stateIO{b: cfg.Broker, pm: cfg.Producers, groups: cfg.Groups, logger: cfg.Logger, now: cfg.Now, topic: t},
		inbox: make(chan any, 64), closing: make(chan struct{}), done: make(chan struct{}), ready: make(chan struct{}),
		sm: NewMachine(cfg.MaxTimeout), waiters: map[Token]chan any{}}
	c.view.byID, c.view.byPID = map[string]*meta{}, map[int64]string{}
	entries, err := c.io.scan()
	if err != nil {
		return nil, fmt.Errorf("replay %s: %w", TopicName, err)
	}
	go c.run(Loaded{entries: entries})
	<-c.ready
	if len(entries) > 0 {
		c.view.Lock()
		n := len(c.view.byID)
		c.view.Unlock()
		c.logger.Info("replayed transaction log", "records", len(entries), "transactional_ids", n)
	}
	cfg.Producers.SetVerifier(c.verify)
	return c, nil
}

// Close lets the running operations finish and stops the driver; later
// calls answer COORDINATOR_NOT_AVAILABLE. It is idempotent.
func (c *Coordinator) Close() {
	c.once.Do(func() { close(c.closing) })
	<-c.done
	c.ioWG.Wait()
}

// ---- the driver ----

// run is the driver: it steps the replay, then requests, completions and
// Ticks, until Close and no operation runs.
func (c *Coordinator) run(loaded Loaded) {
	defer close(c.done)
	defer c.failWaiters()
	tick := time.NewTicker(c.cfg.AbortCheck)
	defer tick.Stop()
	c.step(loaded)
	ready, closing := c.ready, c.closing
	for {
		if ready != nil && c.sm.Busy() == 0 {
			close(ready)
			ready = nil
		}
		if closing == nil && c.sm.Busy() == 0 {
			return
		}
		select {
		case msg := <-c.inbox:
			c.handle(msg)
		case <-tick.C:
			if closing != nil && ready == nil {
				c.step(Tick{})
			}
		case <-closing:
			closing = nil
		}
	}
}

func (c *Coordinator) handle(msg any) {
	if r, ok := msg.(request); ok {
		c.waiters[r.tok] = r.ch
		msg = r.ev
	}
	c.step(msg)
}

// step feeds ev, and the completions its effects produce at once, to the
// machine.
func (c *Coordinator) step(ev any) {
	c.local = append(c.local, ev)
	for len(c.local) > 0 {
		ev := c.local[0]
		c.local = c.local[1:]
		for _, eff := range c.sm.Step(c.cfg.Now(), ev) {
			c.perform(eff)
		}
	}
}

// perform carries out one effect. Driver only.
func (c *Coordinator) perform(eff any) {
	switch eff := eff.(type) {
	case Reply:
		if ch, ok := c.waiters[eff.Token]; ok {
			ch <- eff.Resp
			delete(c.waiters, eff.Token)
		}
	case Publish:
		c.publish(eff.ID, eff.state)
	case Log:
		c.logger.Log(context.Background(), eff.Level, eff.Msg, "transactional_id", eff.ID, "err", eff.Err)
	case WriteState:
		c.writeState(eff)
	case WriteMarkers:
		c.goIO(func() {
			waits, err := c.io.writeMarkers(eff)
			c.complete("write markers", MarkersWritten{ID: eff.ID, Err: err}, err)
			if err == nil {
				err = c.io.syncMarkers(waits)
				c.complete("sync markers", MarkersDurable{ID: eff.ID, Err: err}, err)
			}
		})
	case CheckGroup:
		c.goIO(func() { c.post(GroupChecked{ID: eff.ID, Err: c.io.checkGroup(eff)}) })
	case AllocatePIDBlock:
		c.goIO(func() {
			err := c.io.appendBlock(eff.End)
			c.complete("allocate producer ids", BlockWritten{End: eff.End, Err: err}, err)
		})
	}
}

// writeState appends on the driver, so the log holds the records in the
// order the machine wrote them, and waits for durability elsewhere.
func (c *Coordinator) writeState(w WriteState) {
	wait, err := c.io.appendState(w.Records)
	switch {
	case err != nil:
		c.io.failed("write transaction state", err)
		c.local = append(c.local, StateWritten{ID: w.ID, Err: err})
	case !w.Durable:
		c.local = append(c.local, StateWritten{ID: w.ID})
	default:
		c.goIO(func() {
			err := wait()
			c.complete("write transaction state", StateWritten{ID: w.ID, Err: err}, err)
		})
	}
}

// goIO runs fn, which posts completions, off the driver. The driver does
// not exit while the machine waits for them; Close waits for fn to return.
func (c *Coordinator) goIO(fn func()) { c.ioWG.Go(fn) }

// complete accounts for err and posts ev to the driver.
func (c *Coordinator) complete(what string, ev any, err error) {
	if err != nil {
		c.io.failed(what, err)
	}
	c.post(ev)
}

// post hands a completion to the driver, which waits for every
// completion its machine expects before it exits.
func (c *Coordinator) post(ev any) { c.inbox <- ev }

func (c *Coordinator) failWaiters() {
	for tok, ch := range c.waiters {
		ch <- nil
		delete(c.waiters, tok)
	}
}

// call steps the event mk builds and waits for its Reply; ok is false when
// the coordinator is closed.
func (c *Coordinator) call(mk func(Token) any) (resp any, ok bool) {
	tok := Token(c.tokens.Add(1))
	ch := make(chan any, 1)
	select {
	case <-c.closing:
		return nil, false
	default:
	}
	select {
	case c.inbox <- request{tok: tok, ev: mk(tok), ch: ch}:
	case <-c.done:
		return nil, false
	}
	select {
	case r := <-ch:
		return r, r != nil
	case <-c.done:
		select {
		case r := <-ch:
			return r, r != nil
		default:
			return nil, false
		}
	}
}

// ---- the published view ----

func (c *Coordinator) publish(id string, m *meta) {
	c.view.Lock()
	defer c.view.Unlock()
	if old := c.view.byID[id]; old != nil && c.view.byPID[old.pid] == id {
		delete(c.view.byPID, old.pid)
	}
	if m == nil {
		delete(c.view.byID, id)
		return
	}
	c.view.byID[id] = m
	c.view.byPID[m.pid] = id
}

// verify is the Manager's Verifier: the partition must be in pid's
// Ongoing transaction at epoch.
func (c *Coordinator) verify(pid int64, epoch int16, topic string, partition int32) *kerr.Error {
	c.view.Lock()
	defer c.view.Unlock()
	id, ok := c.view.byPID[pid]
	if !ok {
		return kerr.InvalidProducerIDMapping
	}
	m := c.view.byID[id]
	switch {
	case epoch < m.epoch:
		return kerr.InvalidProducerEpoch
	case epoch > m.epoch || m.state != Ongoing || !m.parts[group.TopicPartition{Topic: topic, Partition: partition}]:
		return kerr.InvalidTxnState
	}
	return nil
}

// Verify checks, without changing anything, that tp is in id's ongoing
// transaction at pid and epoch (AddPartitionsToTxn v4 VerifyOnly).
func (c *Coordinator) Verify(id string, pid int64, epoch int16, tp group.TopicPartition) *kerr.Error {
	c.view.Lock()
	_, ok := c.view.byID[id]
	c.view.Unlock()
	if !ok {
		return kerr.InvalidProducerIDMapping
	}
	return c.verify(pid, epoch, tp.Topic, tp.Partition)
}

// Pending reports whether an open transaction holds an uncommitted offset
// for group's tp (OffsetFetch with RequireStable answers
// UNSTABLE_OFFSET_COMMIT then).
func (c *Coordinator) Pending(groupID string, tp group.TopicPartition) bool {
	c.view.Lock()
	defer c.view.Unlock()
	for _, m := range c.view.byID {
		if m.open() {
			if _, ok := m.offsets[groupID][tp]; ok {
				return true
			}
		}
	}
	return false
}

// ---- describing ----

// Description is a transactional id as DescribeTransactions shows it.
type Description struct {
	ID         string
	State      State
	TimeoutMs  int32
	StartMs    int64 // -1 when no transaction is open
	ProducerID int64
	Epoch      int16
	Partitions []group.TopicPartition
}

// Describe returns id's state; ok is false for an unknown id.
func (c *Coordinator) Describe(id string) (Description, bool) {
	c.view.Lock()
	defer c.view.Unlock()
	m := c.view.byID[id]
	if m == nil {
		return Description{}, false
	}
	return describe(m), true
}

func describe(m *meta) Description {
	d := Description{ID: m.id, State: m.state, TimeoutMs: m.timeoutMs, StartMs: -1, ProducerID: m.pid, Epoch: m.epoch,
		Partitions: m.partitions()}
	if m.open() {
		d.StartMs = m.start
	}
	return d
}

// ListFilter selects transactions for List; zero fields select all.
type ListFilter struct {
	States      []string
	ProducerIDs []int64
	MinDuration time.Duration // open at least this long (0: any)
	IDPattern   *regexp.Regexp
}

// List returns the transactional ids the filter selects, sorted.
func (c *Coordinator) List(f ListFilter) []Description {
	now := c.cfg.Now().UnixMilli()
	c.view.Lock()
	var out []Description
	for _, m := range c.view.byID {
		switch {
		case len(f.States) > 0 && !slices.Contains(f.States, m.state.String()):
		case len(f.ProducerIDs) > 0 && !slices.Contains(f.ProducerIDs, m.pid):
		case f.MinDuration > 0 && (!m.open() || now-m.start < f.MinDuration.Milliseconds()):
		case f.IDPattern != nil && !f.IDPattern.MatchString(m.id):
		default:
			out = append(out, describe(m))
		}
	}
	c.view.Unlock()
	slices.SortFunc(out, func(a, b Description) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out
}
