package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// App runs a Topology: one consumer group member (group id AppID) whose
// assigned partitions become tasks, one per subtopology and partition
// number, each with its own state stores. Start several Apps with the
// same AppID (in one process or many) to spread the tasks.
type App struct {
	t   *Topology
	cfg Config
	log *slog.Logger

	subs    [][]string        // logical source topics per subtopology
	subOf   map[string]int    // physical source topic -> subtopology
	logical map[string]string // physical source topic -> logical
	parts   []int32           // partitions per subtopology, set by setup
	cl      *kgo.Client
	sess    *kgo.GroupTransactSession // ExactlyOnce only
	inTxn   bool                      // a transaction is open (ExactlyOnce)
	adm     *kadm.Client
	prodErr errOnce
	lastCmt time.Time

	view     groupView // the group's members, for routing queries and standbys
	sb       *standbys // Config.Standbys > 0; poll loop only (Standbys reads its own mu)
	restores restores  // RestoreProgress
	mux      *http.ServeMux

	// mu guards tasks, assigned and parts, and cl and adm's setting: the poll loop and the rebalance callbacks change
	// it (never at once, as BlockRebalanceOnPoll serialises them), and
	// interactive queries read it.
	mu    sync.Mutex
	tasks map[taskID]*task
	// assigned are tasks whose partitions were assigned and that the loop
	// has not started (restored) yet.
	assigned map[taskID]bool
}

// errOnce keeps the first error reported from producer callbacks.
type errOnce struct {
	mu  sync.Mutex
	err error
}

func (e *errOnce) set(err error) {
	e.mu.Lock()
	if e.err == nil {
		e.err = err
	}
	e.mu.Unlock()
}

func (e *errOnce) reset() {
	e.mu.Lock()
	e.err = nil
	e.mu.Unlock()
}

func (e *errOnce) get() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

// New checks t and cfg and returns an App that Run starts.
func New(t *Topology, cfg Config) (*App, error) {
	if err := t.err(); err != nil {
		return nil, fmt.Errorf("stream: topology: %w", err)
	}
	if err := cfg.validate(len(t.stores) > 0); err != nil {
		return nil, fmt.Errorf("stream: %w", err)
	}
	cfg = cfg.withDefaults()
	secOpts, err := cfg.Security.Opts()
	if err != nil {
		return nil, fmt.Errorf("stream: Security: %w", err)
	}
	cfg.ClientOpts = append(secOpts, cfg.ClientOpts...)
	a := &App{t: t, cfg: cfg, log: cfg.Logger.With("app", cfg.AppID),
		subs: t.subtopologies(), subOf: map[string]int{}, logical: map[string]string{},
		tasks: map[taskID]*task{}, assigned: map[taskID]bool{}}
	for i, g := range a.subs {
		for _, tp := range g {
			ph := t.physical(cfg.AppID, tp)
			a.subOf[ph], a.logical[ph] = i, tp
		}
	}
	a.mux = a.newMux()
	return a, nil
}

// Describe returns the App's topology as text (Topology.Describe).
func (a *App) Describe() string { return a.t.Describe(a.cfg.AppID) }

// Run creates the internal topics, joins the group and processes until
// ctx is done or processing fails. On a clean stop it commits, closes the
// stores and leaves the group, and returns nil; a failure returns the
// error and commits nothing after the last good commit.
//
// After a failure Run may be called again (a supervisor restarting the
// App): the new run starts from the stores on disk and the committed
// offsets, as a restarted process would.
//
// Under ExactlyOnce, a producer fenced by its transaction coordinator
// (PRODUCER_FENCED or INVALID_PRODUCER_EPOCH: its transaction timed out,
// or the coordinator moved while it ran) is not a failure of the App:
// Run aborts, closes the tasks without committing, and runs again with
// a new producer epoch, as Kafka Streams handles a migrated task. It
// gives up, returning the error, after maxFencedRestarts fences in a row
// within a minute (two live instances sharing one InstanceID fence each
// other without end).
func (a *App) Run(ctx context.Context) error {
	var fences []time.Time
	for {
		err := a.run(ctx)
		if err == nil || ctx.Err() != nil || !fenced(err) {
			return err
		}
		now := time.Now()
		fences = append(slices.DeleteFunc(fences, func(t time.Time) bool { return now.Sub(t) > time.Minute }), now)
		if len(fences) > maxFencedRestarts {
			return err
		}
		a.log.Warn("producer fenced: the App runs again with a new producer epoch", "err", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(len(fences)) * 200 * time.Millisecond):
		}
	}
}

// maxFencedRestarts is how many fenced runs within a minute Run starts
// again before it returns the error.
const maxFencedRestarts = 5

// fenced reports a transactional producer's fencing.
func fenced(err error) bool {
	return errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch)
}

// run is one run of Run: connect, set up, process, and close.
func (a *App) run(ctx context.Context) error {
	a.prodErr.reset()
	a.inTxn = false
	a.mu.Lock()
	clear(a.assigned)
	a.mu.Unlock()
	if err := a.connect(); err != nil {
		return err
	}
	defer a.adm.Close()
	if err := a.setup(ctx); err != nil {
		a.cl.Close()
		return err
	}
	if a.cfg.Standbys > 0 {
		a.sb = newStandbys(a)
		defer a.sb.close()
	}
	err := a.loop(ctx)
	cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err == nil {
		// Commit what was processed, close the tasks, leave.
		err = a.commit(cctx)
	} else if a.inTxn {
		if _, aerr := a.sess.End(cctx, kgo.TryAbort); aerr != nil {
			a.log.Warn("abort transaction", "err", aerr)
		}
	}
	a.closeTasks(err == nil)
	a.cl.AllowRebalance()
	a.cl.Close()
	return err
}

func (a *App) connect() error {
	topics := make([]string, 0, len(a.subOf))
	for ph := range a.subOf {
		topics = append(topics, ph)
	}
	changelogs := map[string]bool{}
	for name := range a.t.stores {
		changelogs[changelogTopic(a.cfg.AppID, name)] = true
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(a.cfg.Brokers...),
		kgo.ConsumerGroup(a.cfg.AppID),
		kgo.ConsumeTopics(topics...),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.RecordPartitioner(partitioner{manual: changelogs, byKey: kgo.StickyKeyPartitioner(nil)}),
		kgo.OnPartitionsAssigned(a.onAssigned),
		kgo.OnPartitionsRevoked(a.onRevoked),
		kgo.OnPartitionsLost(a.onLost),
		kgo.ProducerLinger(5 * time.Millisecond),
		kgo.Balancers(endpointBalancer{kgo.CooperativeStickyBalancer(), a.cfg.Endpoint}),
	}
	opts = append(opts, a.cfg.ClientOpts...)
	if a.cfg.Guarantee == ExactlyOnce {
		// Only committed inputs, as Kafka Streams' exactly_once_v2.
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.TransactionalID(a.cfg.AppID+"-"+a.cfg.InstanceID))
		sess, err := kgo.NewGroupTransactSession(opts...)
		if err != nil {
			return fmt.Errorf("stream: client: %w", err)
		}
		a.mu.Lock() // interactive queries read cl and adm
		a.sess, a.cl, a.adm = sess, sess.Client(), kadm.NewClient(sess.Client())
		a.mu.Unlock()
		return nil
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("stream: client: %w", err)
	}
	a.mu.Lock()
	a.cl, a.adm = cl, kadm.NewClient(cl)
	a.mu.Unlock()
	return nil
}

// partitioner sends changelog records to the partition the task set
// (its own), and every other keyed record by the murmur2 hash of its key.
type partitioner struct {
	manual map[string]bool
	byKey  kgo.Partitioner
}

func (p partitioner) ForTopic(topic string) kgo.TopicPartitioner {
	if p.manual[topic] {
		return kgo.ManualPartitioner().ForTopic(topic)
	}
	return p.byKey.ForTopic(topic)
}

// loop polls, processes and commits until ctx is done (nil) or a
// record fails (its error). Rebalances are allowed only right after a
// commit (BlockRebalanceOnPoll), so a revoked partition's task has
// nothing uncommitted and, under ExactlyOnce, no transaction is open
// across a rebalance. Polls are bounded by the commit interval so that an
// idle App still commits and lets rebalances through.
func (a *App) loop(ctx context.Context) error {
	a.lastCmt = time.Now()
	for {
		if err := a.begin(); err != nil {
			return err
		}
		pctx, cancel := context.WithTimeout(ctx, max(a.nextWallClock(a.cfg.CommitInterval), time.Millisecond))
		fs := a.cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		err := fetchErr(fs)
		if err == nil {
			err = a.startAssigned()
		}
		if err == nil {
			err = a.process(fs)
		}
		if err == nil {
			err = a.punctuateWallClock()
		}
		if err == nil && a.commitDue() {
			if err = a.commit(ctx); lostGeneration(err) {
				// The group moved on without this member (a coordinator
				// restarted, a session expired): as Kafka's
				// CommitFailedException, not fatal. The client rejoins;
				// at least once, the records since the last commit come
				// again to whichever member gets their partitions.
				a.log.Warn("offset commit refused; rejoining the group", "err", err)
				err = nil
			}
			if err == nil {
				a.cl.AllowRebalance()
			}
		}
		if err == nil && a.sb != nil {
			a.sb.maintain(ctx)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

func fetchErr(fs kgo.Fetches) error {
	var errs []error
	fs.EachError(func(t string, p int32, err error) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return
		}
		// The client failed to join the group (the coordinator is down or
		// restarting) and tries again on its own; partitions it lost meanwhile
		// go through onLost. Not fatal, as in Kafka Streams.
		if gs := (*kgo.ErrGroupSession)(nil); errors.As(err, &gs) {
			return
		}
		errs = append(errs, fmt.Errorf("stream: fetch %s[%d]: %w", t, p, err))
	})
	return errors.Join(errs...)
}

func (a *App) commitDue() bool {
	if time.Since(a.lastCmt) >= a.cfg.CommitInterval {
		return true
	}
	n := 0
	a.mu.Lock()
	for _, tk := range a.tasks {
		for _, s := range tk.stores {
			n += s.dirtyLen()
		}
	}
	a.mu.Unlock()
	return n >= a.cfg.MaxCachedWrites
}

// process runs every fetched record through its task, partition by
// partition, creating (and restoring) tasks it has not seen.
func (a *App) process(fs kgo.Fetches) error {
	var err error
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		if err != nil || len(p.Records) == 0 {
			return
		}
		var tk *task
		if tk, err = a.taskFor(p.Topic, p.Partition); err != nil {
			return
		}
		err = tk.processRecords(p.Topic, p.Records)
		tk.setLag(p.Topic, p.HighWatermark-p.Records[len(p.Records)-1].Offset-1)
	})
	return err
}

// commit makes everything processed so far durable: changelogs produced,
// outputs and changelogs acknowledged, stores checkpointed, input offsets
// committed, in that order. Under ExactlyOnce the changelogs, outputs and
// offsets commit in one transaction, and the stores are checkpointed only
// if it commits; if it aborts, every task is dropped and rebuilt from its
// checkpoint and changelog when its records come again.
func (a *App) commit(ctx context.Context) error {
	tasks := a.taskList()
	for _, tk := range tasks {
		tk.produceChangelogs()
	}
	if a.sess != nil {
		return a.commitTxn(ctx, tasks)
	}
	if err := a.cl.Flush(ctx); err != nil {
		return fmt.Errorf("stream: flush: %w", err)
	}
	if err := a.prodErr.get(); err != nil {
		return fmt.Errorf("stream: produce: %w", err)
	}
	offsets := map[string]map[int32]kgo.EpochOffset{}
	for _, tk := range tasks {
		if err := tk.commitLocal(); err != nil {
			return err
		}
		tk.addOffsets(offsets)
	}
	a.lastCmt = time.Now()
	if len(offsets) == 0 {
		return nil
	}
	var cerr error
	a.cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		cerr = commitErr(resp, err)
	})
	if cerr != nil {
		return fmt.Errorf("stream: commit offsets: %w", cerr)
	}
	return nil
}

func (a *App) commitTxn(ctx context.Context, tasks []*task) error {
	if !a.inTxn {
		return nil
	}
	committed, err := a.sess.End(ctx, kgo.TryCommit)
	a.inTxn = false
	a.lastCmt = time.Now()
	if err == nil {
		err = a.prodErr.get()
	}
	if err != nil {
		return fmt.Errorf("stream: end transaction: %w", err)
	}
	if !committed {
		a.log.Info("transaction aborted (rebalance); tasks restart from their checkpoints")
		a.closeTasks(false)
		a.mu.Lock()
		for _, tk := range tasks {
			a.assigned[tk.id] = true
		}
		a.mu.Unlock()
		return nil
	}
	for _, tk := range tasks {
		if err := tk.commitLocal(); err != nil {
			return err
		}
	}
	return nil
}

// begin starts a transaction under ExactlyOnce if none is open.
func (a *App) begin() error {
	if a.sess == nil || a.inTxn {
		return nil
	}
	if err := a.sess.Begin(); err != nil {
		return fmt.Errorf("stream: begin transaction: %w", err)
	}
	a.inTxn = true
	return nil
}

func (a *App) taskList() []*task {
	a.mu.Lock()
	defer a.mu.Unlock()
	tasks := make([]*task, 0, len(a.tasks))
	for _, tk := range a.tasks {
		tasks = append(tasks, tk)
	}
	return tasks
}

// produce sends r; a failure stops the App at its next commit.
func (a *App) produce(r *kgo.Record, acked func(*kgo.Record)) {
	a.cl.Produce(context.Background(), r, func(r *kgo.Record, err error) {
		if err != nil {
			a.prodErr.set(fmt.Errorf("%s[%d]: %w", r.Topic, r.Partition, err))
			return
		}
		if acked != nil {
			acked(r)
		}
	})
}

// commitErr is the first error of an offset commit: the request's or a
// partition's.
// lostGeneration tells whether err is an offset commit refused because
// the member is not in the group's current generation.
func lostGeneration(err error) bool {
	return errors.Is(err, kerr.IllegalGeneration) || errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.RebalanceInProgress)
}

func commitErr(resp *kmsg.OffsetCommitResponse, err error) error {
	if err != nil {
		return err
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return fmt.Errorf("%s[%d]: %w", t.Topic, p.Partition, err)
			}
		}
	}
	return nil
}

// localStore finds the task partition of store that holds the key kb.
func (a *App) localStore(store string, kb []byte) (*kvStore, error) {
	id, err := a.taskOfKey(store, kb)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	tk := a.tasks[id]
	if tk == nil || tk.stores[store] == nil {
		return nil, ErrNotLocal
	}
	return tk.stores[store], nil
}

// taskOfKey is the task whose partition of store holds the key kb
// (ErrNotLocal before the partition counts are known).
func (a *App) taskOfKey(store string, kb []byte) (taskID, error) {
	sd := a.t.stores[store]
	if sd == nil {
		return taskID{}, fmt.Errorf("stream: no store %q", store)
	}
	sub := a.subOf[a.t.physical(a.cfg.AppID, sd.node.topics[0])]
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.parts == nil || a.parts[sub] == 0 {
		return taskID{}, ErrNotLocal
	}
	// The producers' default: murmur2 of the key, as Kafka's.
	p := int32(kgo.StickyKeyPartitioner(nil).ForTopic("").Partition(&kgo.Record{Key: kb}, int(a.parts[sub])))
	return taskID{sub, p}, nil
}
