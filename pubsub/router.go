package pubsub

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Router runs handlers for the topics of one consumer group.
//
// Within a partition, records with one key are handled one at a time in
// offset order, and records with different keys concurrently (Workers
// workers per partition, keys spread over them by hash; at most MaxPending
// records per partition fetched ahead). Offsets are committed up to the
// lowest record not yet handled, so a crash redelivers, never skips.
//
// Register handlers with Handle and Use, then call Run once.
type Router struct {
	cfg      RouterConfig
	handlers map[string]Handler    // by topic; set before Run
	types    map[string]*typeTable // topics dispatched by event type (On); set before Run
	mws      []Middleware
	regErrs  []error // Handle's refusals; Run returns them

	cl *kgo.Client // set by Run

	// commitMu serialises commits, so that an attempt record committed
	// later is never overwritten by one built earlier.
	commitMu sync.Mutex
	// commitReq (cap 1) asks commitLoop to commit before its next tick.
	commitReq chan struct{}

	mu struct {
		sync.Mutex
		parts   map[topicPartition]*partition
		running bool
		closed  bool
		stop    context.CancelFunc // stops Run
		done    chan struct{}      // closed when Run returns
	}
}

type topicPartition struct {
	topic     string
	partition int32
}

// NewRouter returns a router for cfg, or cfg's problems.
func NewRouter(cfg RouterConfig) (*Router, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	secOpts, err := cfg.Security.Opts()
	if err != nil {
		return nil, fmt.Errorf("pubsub: RouterConfig.Security: %w", err)
	}
	cfg.ClientOpts = append(secOpts, cfg.ClientOpts...)
	r := &Router{cfg: cfg.withDefaults(), handlers: make(map[string]Handler), types: make(map[string]*typeTable),
		commitReq: make(chan struct{}, 1)}
	r.mu.parts = make(map[topicPartition]*partition)
	return r, nil
}

// Use adds middleware to every handler, outermost first. Call it before Run.
func (r *Router) Use(mws ...Middleware) { r.mws = append(r.mws, mws...) }

// Handle binds h to topic, wrapped in mws (inside the router's Use
// middleware). Call it before Run (after, it returns an error and changes
// nothing). A topic has one handler: a second Handle for it is refused,
// as are an empty topic and a nil h; a refused Handle returns an error,
// and so does Run afterwards, so that ignoring the error does not leave a
// topic silently unhandled.
func (r *Router) Handle(topic string, h Handler, mws ...Middleware) error {
	r.mu.Lock()
	running := r.mu.running
	r.mu.Unlock()
	var err error
	switch {
	case running:
		return fmt.Errorf("pubsub: Router.Handle(%q) after Run", topic)
	case topic == "":
		err = errors.New("pubsub: Router.Handle: empty topic")
	case h == nil:
		err = fmt.Errorf("pubsub: Router.Handle(%q): nil handler", topic)
	case r.handlers[topic] != nil:
		err = fmt.Errorf("pubsub: Router.Handle(%q): the topic has a handler already; a topic has one handler (compose with Chain, or dispatch by type with On)", topic)
	case r.types[topic] != nil:
		err = fmt.Errorf("pubsub: Router.Handle(%q): the topic is dispatched by type (On); a topic is dispatched by type or by one handler", topic)
	}
	if err != nil {
		return r.refuse(err)
	}
	r.handlers[topic] = Chain(h, mws...)
	return nil
}

// Run joins the group and handles records until ctx is cancelled or Close
// is called, then shuts down gracefully: it stops fetching, lets in-flight
// handlers finish (up to ShutdownTimeout), commits, and leaves the group.
// It returns nil after a requested stop, or the error that stopped it.
func (r *Router) Run(ctx context.Context) error {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	if err := r.start(stop); err != nil {
		return err
	}
	defer close(r.mu.done)
	if r.cfg.WorkQueue {
		return r.runWorkQueue(ctx)
	}
	cl, err := kgo.NewClient(r.clientOpts()...)
	if err != nil {
		return fmt.Errorf("pubsub: router client: %w", err)
	}
	r.cl = cl
	commitDone := make(chan struct{})
	go func() { defer close(commitDone); r.commitLoop(ctx) }()
	r.pollLoop(ctx)
	<-commitDone
	r.shutdown()
	cl.CloseAllowingRebalance()
	return nil
}

func (r *Router) start(stop context.CancelFunc) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.mu.closed:
		return ErrClosed
	case r.mu.running:
		return errors.New("pubsub: Router.Run called twice")
	case len(r.regErrs) > 0:
		return errors.Join(r.regErrs...)
	case len(r.handlers) == 0 && len(r.types) == 0:
		return errors.New("pubsub: Router has no handlers")
	}
	r.mu.running = true
	r.mu.stop = stop
	r.mu.done = make(chan struct{})
	for t, tt := range r.types {
		r.handlers[t] = tt.handler(r.cfg.UnknownType)
	}
	mws := r.mws
	if r.cfg.Metrics != nil {
		mws = append([]Middleware{r.cfg.Metrics.Middleware()}, mws...)
	}
	for t, h := range r.handlers {
		r.handlers[t] = Chain(h, mws...)
	}
	return nil
}

// Close stops Run as cancelling its context does, and waits for it to
// return. Close is idempotent and safe to call before or without Run.
func (r *Router) Close() error {
	r.mu.Lock()
	r.mu.closed = true
	stop, done := r.mu.stop, r.mu.done
	r.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
	return nil
}

func (r *Router) clientOpts() []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SeedBrokers(r.cfg.Brokers...),
		kgo.ConsumerGroup(r.cfg.Group),
		kgo.ConsumeTopics(slices.Sorted(maps.Keys(r.handlers))...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		// Rebalance callbacks run only between polls, never while pollLoop
		// dispatches, so a revoked partition gets no records afterwards.
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(r.assigned),
		kgo.OnPartitionsRevoked(r.revoked),
		kgo.OnPartitionsLost(r.lost),
	}
	return append(opts, r.cfg.ClientOpts...)
}

func (r *Router) pollLoop(ctx context.Context) {
	for {
		fs := r.cl.PollRecords(ctx, r.cfg.PollRecords)
		if fs.IsClientClosed() || ctx.Err() != nil {
			r.cl.AllowRebalance()
			return
		}
		fs.EachError(func(t string, p int32, err error) {
			r.cfg.Logger.Warn("pubsub: fetch error", "topic", t, "partition", p, "err", err)
		})
		var full []*partition
		fs.EachPartition(func(fp kgo.FetchTopicPartition) {
			if p := r.partition(fp.Topic, fp.Partition); p != nil && p.dispatch(fp.Records, fp.HighWatermark) {
				full = append(full, p)
			}
		})
		for _, p := range full {
			p.throttle(throttleWait)
		}
		r.cl.AllowRebalance()
	}
}

// throttleWait is how long the poll loop waits for a full partition's
// handlers before pausing its fetches.
const throttleWait = 500 * time.Millisecond

func (r *Router) partition(topic string, part int32) *partition {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mu.parts[topicPartition{topic, part}]
}

func (r *Router) assigned(ctx context.Context, cl *kgo.Client, tps map[string][]int32) {
	recs, committed := r.attemptRecords(ctx, cl, tps)
	r.mu.Lock()
	defer r.mu.Unlock()
	for t, ps := range tps {
		for _, p := range ps {
			tp := topicPartition{t, p}
			if r.mu.parts[tp] == nil {
				r.mu.parts[tp] = newPartition(r, tp, r.handlers[t], recs[tp], committed[tp])
			}
		}
	}
}

// attemptRecords reads the attempt records committed for the partitions.
// Without them (the fetch failed) the partitions start with none.
func (r *Router) attemptRecords(ctx context.Context, cl *kgo.Client, tps map[string][]int32) (map[topicPartition]attemptRecord, map[topicPartition]int64) {
	recs := make(map[topicPartition]attemptRecord)
	committed := make(map[topicPartition]int64)
	for t, ps := range tps {
		for _, p := range ps {
			recs[topicPartition{t, p}] = attemptRecord{mark: -1}
			committed[topicPartition{t, p}] = -1
		}
	}
	resps, err := kadm.NewClient(cl).FetchOffsets(ctx, r.cfg.Group)
	if err == nil {
		err = resps.Error()
	}
	if err != nil {
		r.cfg.Logger.Warn("pubsub: reading the attempt records failed; attempts before this assignment are not counted", "group", r.cfg.Group, "err", err)
		return recs, committed
	}
	resps.Each(func(o kadm.OffsetResponse) {
		tp := topicPartition{o.Topic, o.Partition}
		if _, ok := recs[tp]; !ok {
			return
		}
		committed[tp] = o.At
		if rec, ok := parseAttempts(o.Metadata); ok {
			recs[tp] = rec
		}
	})
	return recs, committed
}

func (r *Router) revoked(ctx context.Context, cl *kgo.Client, tps map[string][]int32) {
	parts := r.take(tps)
	r.stopPartitions(parts)
	r.commit(ctx, parts, true)
}

func (r *Router) lost(_ context.Context, _ *kgo.Client, tps map[string][]int32) {
	parts := r.take(tps)
	for _, p := range parts {
		p.cancel() // commits would fail: stop at once
	}
	r.stopPartitions(parts)
}

// take removes the given partitions (all if tps is nil) from the router.
func (r *Router) take(tps map[string][]int32) []*partition {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*partition
	for tp, p := range r.mu.parts {
		if tps == nil || slices.Contains(tps[tp.topic], tp.partition) {
			out = append(out, p)
			delete(r.mu.parts, tp)
			if r.cfg.Metrics != nil {
				r.cfg.Metrics.dropLag(tp)
			}
		}
	}
	return out
}

// stopPartitions stops the partitions gracefully and waits for their
// workers, cancelling handler contexts after ShutdownTimeout.
func (r *Router) stopPartitions(parts []*partition) {
	for _, p := range parts {
		p.stop()
	}
	done := make(chan struct{})
	go func() {
		for _, p := range parts {
			p.wg.Wait()
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(r.cfg.ShutdownTimeout):
		r.cfg.Logger.Warn("pubsub: handlers still running after ShutdownTimeout; cancelling them")
		for _, p := range parts {
			p.cancel()
		}
		<-done
	}
	var resume []*partition
	for _, p := range parts {
		if p.unpause() {
			resume = append(resume, p)
		}
	}
	r.resume(resume)
}

func (r *Router) shutdown() {
	parts := r.take(nil)
	r.stopPartitions(parts)
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.ShutdownTimeout)
	defer cancel()
	r.commit(ctx, parts, true)
}

func (r *Router) commitLoop(ctx context.Context) {
	t := time.NewTicker(r.cfg.CommitInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-r.commitReq:
		}
		r.mu.Lock()
		parts := slices.Collect(maps.Values(r.mu.parts))
		r.mu.Unlock()
		r.commit(ctx, parts, false)
	}
}

// commitSoon asks commitLoop to commit now rather than at its next tick,
// without waiting for it. Requests made while one is pending are one.
func (r *Router) commitSoon() {
	select {
	case r.commitReq <- struct{}{}:
	default:
	}
}

// commitNow commits p's offset and attempt record, and reports whether
// the commit succeeded.
func (r *Router) commitNow(p *partition) bool {
	if r.cl == nil {
		return false // a partition tested alone, without Run
	}
	ctx, cancel := context.WithTimeout(p.ctx, r.cfg.ShutdownTimeout)
	defer cancel()
	return r.commit(ctx, []*partition{p}, false)
}

// commit commits each partition's handled offsets and attempt records
// (without dispatch marks if clean: the partitions stopped with no
// handler running) that are not committed yet, and waits for the commit.
// It reports whether every one was committed.
func (r *Router) commit(ctx context.Context, parts []*partition, clean bool) bool {
	r.commitMu.Lock()
	defer r.commitMu.Unlock()
	offsets := make(map[string]map[int32]kgo.EpochOffset)
	metas := make(map[topicPartition]string)
	for _, p := range parts {
		if eo, meta, ok := p.maybeCommitOffset(clean); ok {
			if offsets[p.tp.topic] == nil {
				offsets[p.tp.topic] = make(map[int32]kgo.EpochOffset)
			}
			offsets[p.tp.topic][p.tp.partition] = eo
			metas[p.tp] = meta
		}
	}
	if len(offsets) == 0 {
		return true
	}
	ctx = kgo.PreCommitFnContext(ctx, func(req *kmsg.OffsetCommitRequest) error {
		for i := range req.Topics {
			t := &req.Topics[i]
			for j := range t.Partitions {
				if m, ok := metas[topicPartition{t.Topic, t.Partitions[j].Partition}]; ok {
					t.Partitions[j].Metadata = &m
				}
			}
		}
		return nil
	})
	var failed error
	r.cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		failed = err
		if err != nil {
			clear(offsets) // none committed
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					failed = err
					delete(offsets[t.Topic], p.Partition)
				}
			}
		}
	})
	if failed != nil {
		// Retried at the next tick with the same or a higher offset.
		r.cfg.Logger.Warn("pubsub: commit failed", "group", r.cfg.Group, "err", failed)
	}
	for _, p := range parts {
		if eo, ok := offsets[p.tp.topic][p.tp.partition]; ok {
			p.setCommitted(eo.Offset, metas[p.tp])
		}
	}
	return failed == nil
}

func (r *Router) pause(p *partition) {
	r.cl.PauseFetchPartitions(map[string][]int32{p.tp.topic: {p.tp.partition}})
}

func (r *Router) resume(parts []*partition) {
	if len(parts) == 0 {
		return
	}
	m := make(map[string][]int32)
	for _, p := range parts {
		m[p.tp.topic] = append(m[p.tp.topic], p.tp.partition)
	}
	r.cl.ResumeFetchPartitions(m)
}
