package group

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/records"
)

func ms(n int32) time.Duration { return time.Duration(n) * time.Millisecond }

// CoordinatorConfig configures a Coordinator.
type CoordinatorConfig struct {
	Broker   *broker.Broker
	Logger   *slog.Logger
	Group    Config
	Consumer ConsumerConfig
	// OffsetsPartitions is the partition count of __consumer_offsets
	// when it is created; default 1 (one broker: one fsync stream).
	OffsetsPartitions int32
	// Retention is offsets.retention.minutes: the offsets of a group
	// that has been empty this long are deleted. Default 7 days.
	Retention time.Duration
	// RetentionCheck is offsets.retention.check.interval.ms; default 10m.
	RetentionCheck time.Duration
	// MaxMetadataBytes is offset.metadata.max.bytes; default 4096.
	MaxOffsetMetadata int
	Now               func() time.Time
}

// Coordinator runs every group of the broker: one driver goroutine per
// group steps its state machine; committed offsets live in memory and in
// __consumer_offsets. All methods are safe for concurrent use.
type Coordinator struct {
	cfg    CoordinatorConfig
	b      *broker.Broker
	logger *slog.Logger
	topic  *broker.Topic
	tokens atomic.Uint64
	prefix string // random part of member ids

	// writeMu serializes appends to __consumer_offsets with the updates
	// of offsets they carry, so memory follows log order. Lock order:
	// writeMu before mu. No fsync runs under either.
	writeMu sync.Mutex

	mu struct {
		sync.Mutex
		groups map[string]*entry
		closed bool
	}

	stop chan struct{}
	wg   sync.WaitGroup
}

// entry is one group: its state machines belong to the driver goroutine;
// offsets and emptySince are guarded by Coordinator.mu.
type entry struct {
	c     *Coordinator
	id    string
	inbox chan func()
	quit  chan struct{} // closed when the driver exits

	// driver-only
	classic  *Group
	consumer *ConsumerGroup
	waiters  map[Token]chan any

	// guarded by c.mu
	offsets    map[TopicPartition]Offset
	emptySince time.Time // zero while the group has members
	hasMeta    bool      // a group metadata record exists
	dead       bool
}

// OpenCoordinator creates __consumer_offsets if needed, replays it and
// starts the retention loop.
func OpenCoordinator(cfg CoordinatorConfig) (*Coordinator, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.OffsetsPartitions <= 0 {
		cfg.OffsetsPartitions = 1
	}
	if cfg.Retention <= 0 {
		cfg.Retention = 7 * 24 * time.Hour
	}
	if cfg.RetentionCheck <= 0 {
		cfg.RetentionCheck = 10 * time.Minute
	}
	if cfg.MaxOffsetMetadata <= 0 {
		cfg.MaxOffsetMetadata = 4096
	}
	var rnd [4]byte
	rand.Read(rnd[:])
	c := &Coordinator{cfg: cfg, b: cfg.Broker, logger: cfg.Logger, stop: make(chan struct{}), prefix: hex.EncodeToString(rnd[:])}
	c.mu.groups = map[string]*entry{}
	var seq atomic.Uint64
	newID := func(clientID string) string {
		if clientID == "" {
			clientID = "member"
		}
		return fmt.Sprintf("%s-%s-%d", clientID, c.prefix, seq.Add(1))
	}
	c.cfg.Group.NewMemberID = newID
	c.cfg.Consumer.NewMemberID = newID
	t, err := c.b.StateTopic(OffsetsTopic, cfg.OffsetsPartitions)
	if err != nil {
		return nil, err
	}
	c.topic = t
	if err := c.replay(); err != nil {
		return nil, fmt.Errorf("replay %s: %w", OffsetsTopic, err)
	}
	c.wg.Add(1)
	go c.retentionLoop()
	return c, nil
}

// Close stops every driver; waiting requests are answered
// COORDINATOR_NOT_AVAILABLE. It is idempotent.
func (c *Coordinator) Close() {
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return
	}
	c.mu.closed = true
	c.mu.Unlock()
	close(c.stop)
	c.wg.Wait()
}

func (c *Coordinator) now() time.Time { return c.cfg.Now() }

// ---- replay ----

func (c *Coordinator) replay() error {
	metas := map[string]*Snapshot{}
	n := 0
	var scratch []byte
	for _, p := range c.topic.Partitions() {
		err := p.Scan(0, func(batch []byte) error {
			var err error
			scratch, err = records.EachRecord(batch, scratch, func(r *records.Record) {
				e, err := decodeEntry(r.Key, r.Value)
				if err != nil {
					c.logger.Warn("skipping unreadable __consumer_offsets record", "err", err)
					return
				}
				c.applyReplay(e, metas)
				n++
			})
			return err
		})
		if err != nil {
			return err
		}
	}
	for id, e := range c.mu.groups {
		if len(e.offsets) == 0 && metas[id] == nil {
			delete(c.mu.groups, id) // every offset was deleted
		}
	}
	now := c.now()
	for id, s := range metas {
		e := c.entryLocked(id)
		e.hasMeta = true
		if s.ProtocolType == "consumer" && len(s.Members) == 0 && s.Generation == 0 {
			continue
		}
		e.classic = Restore(id, c.cfg.Group, s, now)
		e.emptySince = time.Time{} // members: no retention
		if e.classic.Len() == 0 {
			e.emptySince = time.UnixMilli(s.StateTime)
		}
	}
	for _, e := range c.mu.groups {
		c.startDriver(e)
	}
	if n > 0 {
		c.logger.Info("replayed consumer offsets", "records", n, "groups", len(c.mu.groups))
	}
	return nil
}

func (c *Coordinator) applyReplay(e entryRecord, metas map[string]*Snapshot) {
	if e.isMeta {
		if e.meta == nil {
			delete(metas, e.group)
		} else {
			metas[e.group] = e.meta
		}
		return
	}
	if e.offset == nil {
		if g := c.mu.groups[e.group]; g != nil {
			delete(g.offsets, e.tp)
		}
		return
	}
	// Until its metadata says otherwise, a group has been empty since its
	// first commit, so that ExpireOffsets counts each offset from its own
	// commit, as before the restart: counting from the restart (the time
	// entryLocked sets) would let every restart extend retention.
	g, seen := c.mu.groups[e.group]
	if !seen {
		g = c.entryLocked(e.group)
	}
	g.offsets[e.tp] = *e.offset
	if ct := time.UnixMilli(e.offset.CommitTime); !seen || ct.Before(g.emptySince) {
		g.emptySince = ct
	}
}

// entryLocked returns the group's entry, making it without starting its
// driver. c.mu must be held (or replay must be running).
func (c *Coordinator) entryLocked(id string) *entry {
	e := c.mu.groups[id]
	if e == nil {
		e = &entry{c: c, id: id, inbox: make(chan func(), 16), quit: make(chan struct{}), waiters: map[Token]chan any{},
			offsets: map[TopicPartition]Offset{}, emptySince: c.now()}
		c.mu.groups[id] = e
	}
	return e
}

// group returns the group's entry; with create it makes the group.
func (c *Coordinator) group(id string, create bool) *entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.closed {
		return nil
	}
	if e := c.mu.groups[id]; e != nil || !create {
		return e
	}
	e := c.entryLocked(id)
	c.startDriver(e)
	return e
}

func (c *Coordinator) startDriver(e *entry) {
	c.wg.Add(1)
	go e.run()
}

// ---- the driver ----

// run is the group's driver: it runs submitted functions one at a time
// and fires Tick when the earliest deadline passes.
func (e *entry) run() {
	defer e.c.wg.Done()
	defer close(e.quit)
	defer e.failWaiters()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		e.resetTimer(timer)
		select {
		case <-e.c.stop:
			return
		case fn := <-e.inbox:
			fn()
		case <-timer.C:
			e.step(Tick{})
		}
		e.c.mu.Lock()
		dead := e.dead
		e.c.mu.Unlock()
		if dead {
			return
		}
	}
}

func (e *entry) resetTimer(t *time.Timer) {
	next, ok := time.Time{}, false
	if e.classic != nil {
		next, ok = e.classic.NextDeadline()
	}
	if e.consumer != nil {
		if n2, ok2 := e.consumer.NextDeadline(); ok2 && (!ok || n2.Before(next)) {
			next, ok = n2, true
		}
	}
	d := time.Hour
	if ok {
		d = max(time.Until(next), 0)
	}
	t.Reset(d)
}

func (e *entry) failWaiters() {
	for tok, ch := range e.waiters {
		ch <- kerr.CoordinatorNotAvailable
		delete(e.waiters, tok)
	}
}

// step feeds ev to the group's state machine and carries out its effects.
// Driver only.
func (e *entry) step(ev any) {
	now := e.c.now()
	var effs []any
	switch ev.(type) {
	case CHeartbeat, CCommitCheck:
		effs = e.consumer.Step(now, ev)
	case Tick:
		if e.classic != nil {
			effs = e.classic.Step(now, ev)
		}
		if e.consumer != nil {
			effs = append(effs, e.consumer.Step(now, ev)...)
		}
	default:
		effs = e.classic.Step(now, ev)
	}
	for _, eff := range effs {
		switch eff := eff.(type) {
		case Reply:
			if ch, ok := e.waiters[eff.Token]; ok {
				ch <- eff.Resp
				delete(e.waiters, eff.Token)
			}
		case Persist:
			e.c.writeMeta(e, eff.Meta)
		}
	}
	e.noteMembers(now)
}

// noteMembers records when the group became empty, for retention.
func (e *entry) noteMembers(now time.Time) {
	n := 0
	if e.classic != nil {
		n += e.classic.Len()
	}
	if e.consumer != nil {
		n += e.consumer.Len()
	}
	e.c.mu.Lock()
	defer e.c.mu.Unlock()
	switch {
	case n > 0:
		e.emptySince = time.Time{}
	case e.emptySince.IsZero():
		e.emptySince = now
	}
}

// errClosed is returned when the coordinator shuts down under a request.
var errClosed = kerr.CoordinatorNotAvailable

// do runs fn on the driver and waits for it.
func (e *entry) do(fn func()) bool {
	done := make(chan struct{})
	select {
	case e.inbox <- func() { fn(); close(done) }:
	case <-e.quit:
		return false
	}
	select {
	case <-done:
		return true
	case <-e.quit:
		return false
	}
}

// request steps the event mk(token) builds and waits for its Reply, which
// may come from a later step (a JoinGroup waits for the rebalance).
func (e *entry) request(prepare func() *kerr.Error, mk func(Token) any) any {
	tok := Token(e.c.tokens.Add(1))
	ch := make(chan any, 1)
	var perr *kerr.Error
	ok := e.do(func() {
		if prepare != nil {
			if perr = prepare(); perr != nil {
				return
			}
		}
		e.waiters[tok] = ch
		e.step(mk(tok))
	})
	switch {
	case !ok:
		return errClosed
	case perr != nil:
		return perr
	}
	select {
	case r := <-ch:
		return r
	case <-e.quit:
		select {
		case r := <-ch:
			return r
		default:
			return errClosed
		}
	}
}

// ensureClassic makes the group a classic one; a consumer-protocol group
// with members refuses. Driver only.
func (e *entry) ensureClassic() *kerr.Error {
	if e.consumer != nil && e.consumer.Len() > 0 {
		return kerr.InconsistentGroupProtocol
	}
	e.consumer = nil
	if e.classic == nil || e.classic.State() == Dead {
		e.classic = New(e.id, e.c.cfg.Group)
	}
	return nil
}

// ensureConsumer makes the group a consumer-protocol one. Driver only.
func (e *entry) ensureConsumer() *kerr.Error {
	if e.classic != nil && e.classic.Len() > 0 {
		return kerr.InconsistentGroupProtocol
	}
	e.classic = nil
	if e.consumer == nil {
		cfg := e.c.cfg.Consumer
		cfg.TopicNames = e.c.topicNames
		e.consumer = NewConsumer(e.id, cfg, e.c.lookupTopic)
	}
	return nil
}

// topicNames lists every topic's name, for regex subscriptions. As in
// Kafka, internal topics are not skipped: a regex that matches one whole
// gets it.
func (c *Coordinator) topicNames() []string {
	ts := c.b.Topics()
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.Name
	}
	return names
}

func (c *Coordinator) lookupTopic(name string) (TopicInfo, bool) {
	t := c.b.Topic(name)
	if t == nil {
		return TopicInfo{}, false
	}
	return TopicInfo{ID: t.ID, Partitions: int32(len(t.Partitions()))}, true
}

// ---- persistence ----

func (c *Coordinator) partitionFor(group string) *broker.Partition {
	parts := c.topic.Partitions()
	h := fnv.New32a()
	h.Write([]byte(group))
	return parts[int(h.Sum32()%uint32(len(parts)))]
}

// append writes one batch for group and, under the same lock, applies
// what it records; it returns after the batch is durable.
func (c *Coordinator) append(group string, kvs [][2][]byte, apply func()) error {
	if len(kvs) == 0 {
		apply()
		return nil
	}
	batch, err := records.KeyValueBatch(c.now().UnixMilli(), kvs)
	if err != nil {
		return err
	}
	p := c.partitionFor(group)
	c.writeMu.Lock()
	a, err := p.Write(batch)
	if err == nil {
		c.mu.Lock()
		apply()
		c.mu.Unlock()
	}
	c.writeMu.Unlock()
	if err != nil {
		// A storage error is logged once per partition by the
		// broker; the caller answers NOT_COORDINATOR, as Kafka's
		// coordinator does.
		return err
	}
	return a.Durable()
}

// writeMeta stores the group's metadata record (nil: a tombstone, which
// also deletes its offsets). Driver only.
func (c *Coordinator) writeMeta(e *entry, s *Snapshot) {
	var kvs [][2][]byte
	if s == nil {
		c.mu.Lock()
		for tp := range e.offsets {
			kvs = append(kvs, [2][]byte{offsetKey(e.id, tp), nil})
		}
		had := e.hasMeta
		c.mu.Unlock()
		if had {
			kvs = append(kvs, [2][]byte{groupKey(e.id), nil})
		}
	} else {
		kvs = append(kvs, [2][]byte{groupKey(e.id), groupValue(s)})
	}
	err := c.append(e.id, kvs, func() {
		if s == nil {
			clear(e.offsets)
			e.hasMeta = false
			e.dead = true
			if c.mu.groups[e.id] == e {
				delete(c.mu.groups, e.id)
			}
			return
		}
		e.hasMeta = true
	})
	if err != nil {
		c.logger.Error("write group metadata", "group", e.id, "err", err)
	}
}
