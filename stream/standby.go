package stream

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Standby replicas (Config.Standbys): an instance keeps warm copies of
// stores whose tasks run on other members, by tailing their changelogs
// into the same directories its own task would use. When such a task
// moves here, it opens the warm store and restores only the changelog's
// tail from the standby's checkpoint.
//
// Who keeps which: the members sorted by member id; the n members after
// a task's owner (wrapping, the owner skipped) keep standbys of it. The
// group is read with DescribeGroups (at most once a second).
//
// The poll loop decides (maintain, release); a tailer goroutine applies
// the changelogs. The loop stops the tailer before it changes the set,
// so the tailer's stores never change under it.
type standbys struct {
	a *App
	// want is the tasks kept, with their stores; loop goroutine only.
	want map[taskID][]*kvStore
	// checked is when maintain last compared want with the group: it
	// does so at most once a view (maxViewAge).
	checked time.Time

	cancel context.CancelFunc // stops the tailer; nil when none runs
	done   chan struct{}

	mu struct {
		sync.Mutex
		// progress is each store's next changelog offset, by task and
		// store, for Standbys; written by the tailer.
		progress map[taskID]map[string]int64
	}
}

func newStandbys(a *App) *standbys {
	sb := &standbys{a: a, want: map[taskID][]*kvStore{}}
	sb.mu.progress = map[taskID]map[string]int64{}
	return sb
}

// StandbyMetrics is one standby store kept on this instance.
type StandbyMetrics struct {
	Task, Store string
	Offset      int64 // next changelog offset to apply
}

// Standbys lists the standby stores this instance keeps, by task and store.
func (a *App) Standbys() []StandbyMetrics {
	if a.sb == nil {
		return nil
	}
	a.sb.mu.Lock()
	var out []StandbyMetrics
	for id, ss := range a.sb.mu.progress {
		for name, o := range ss {
			out = append(out, StandbyMetrics{Task: id.String(), Store: name, Offset: o})
		}
	}
	a.sb.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		return out[i].Task < out[j].Task || out[i].Task == out[j].Task && out[i].Store < out[j].Store
	})
	return out
}

// maintain brings the kept standbys in line with the group's assignment.
func (sb *standbys) maintain(ctx context.Context) {
	if time.Since(sb.checked) < maxViewAge {
		return
	}
	sb.checked = time.Now()
	ms, err := sb.a.groupMembers(ctx, false)
	if errors.Is(err, errRebalancing) {
		return // keep what is kept until the group settles
	}
	if err != nil {
		sb.a.log.Warn("standbys: read group", "err", err)
		return
	}
	want := sb.wanted(ms)
	if maps.Equal(want, sb.keys()) {
		return
	}
	sb.stop()
	for id := range sb.want {
		if !want[id] {
			sb.closeTask(id)
		}
	}
	for id := range want {
		if sb.want[id] == nil {
			sb.open(id)
		}
	}
	sb.start()
}

func (sb *standbys) keys() map[taskID]bool {
	out := make(map[taskID]bool, len(sb.want))
	for id := range sb.want {
		out[id] = true
	}
	return out
}

// wanted is the tasks this member keeps standbys of: those whose owner
// is another member that ranks it among its next Standbys members, and
// which do not run (and are not about to run) here.
func (sb *standbys) wanted(ms []member) map[taskID]bool {
	a := sb.a
	self, ok := a.memberID()
	out := map[taskID]bool{}
	if !ok || len(ms) < 2 {
		return out
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for sub, n := range a.parts {
		for p := range n {
			id := taskID{sub, p}
			if a.tasks[id] != nil || a.assigned[id] || len(a.t.storesOf(a.cfg.AppID, a.subs[sub])) == 0 {
				continue
			}
			if sb.ranks(ms, id, self) {
				out[id] = true
			}
		}
	}
	return out
}

// ranks reports whether self is among the Standbys members after id's
// owner.
func (sb *standbys) ranks(ms []member, id taskID, self string) bool {
	topic := sb.a.t.physical(sb.a.cfg.AppID, sb.a.subs[id.sub][0])
	for i, m := range ms {
		if !m.owned[topic][id.partition] || m.id == self {
			continue
		}
		for j := 1; j <= sb.a.cfg.Standbys && j < len(ms); j++ {
			if ms[(i+j)%len(ms)].id == self {
				return true
			}
		}
	}
	return false
}

// open opens id's stores as standbys.
func (sb *standbys) open(id taskID) {
	a := sb.a
	var ss []*kvStore
	progress := map[string]int64{}
	for _, name := range a.t.storesOf(a.cfg.AppID, a.subs[id.sub]) {
		s, err := a.openStore(id, name)
		if err != nil {
			a.log.Warn("standbys: open store", "task", id.String(), "store", name, "err", err)
			continue
		}
		ss = append(ss, s)
		progress[name] = s.nextOffset()
	}
	sb.want[id] = ss
	sb.mu.Lock()
	sb.mu.progress[id] = progress
	sb.mu.Unlock()
	a.log.Info("standby opened", "task", id.String(), "stores", len(ss))
}

func (sb *standbys) closeTask(id taskID) {
	for _, s := range sb.want[id] {
		if err := s.close(); err != nil {
			sb.a.log.Warn("standbys: close store", "task", id.String(), "err", err)
		}
	}
	delete(sb.want, id)
	sb.mu.Lock()
	delete(sb.mu.progress, id)
	sb.mu.Unlock()
}

// release closes id's standby, if kept, so that its task can open the
// stores: called by the loop before it starts a task.
func (sb *standbys) release(id taskID) {
	if sb.want[id] == nil {
		return
	}
	sb.stop()
	sb.closeTask(id)
	sb.start()
}

// close stops tailing and closes every standby store.
func (sb *standbys) close() {
	sb.stop()
	for id := range sb.want {
		sb.closeTask(id)
	}
}

type topicPart struct {
	topic string
	part  int32
}

// start runs a tailer over the kept stores' changelogs, each from its
// checkpoint.
func (sb *standbys) start() {
	stores := map[topicPart]*kvStore{}
	offsets := map[string]map[int32]kgo.Offset{}
	owner := map[*kvStore]taskID{}
	for id, ss := range sb.want {
		for _, s := range ss {
			stores[topicPart{s.changelog, s.partition}] = s
			owner[s] = id
			if offsets[s.changelog] == nil {
				offsets[s.changelog] = map[int32]kgo.Offset{}
			}
			offsets[s.changelog][s.partition] = kgo.NewOffset().At(s.nextOffset())
		}
	}
	if len(stores) == 0 {
		return
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(sb.a.cfg.Brokers...),
		kgo.ConsumePartitions(offsets),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(500 * time.Millisecond),
		kgo.KeepControlRecords(),
	}, sb.a.cfg.ClientOpts...)...)
	if err != nil {
		sb.a.log.Warn("standbys: client", "err", err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	sb.cancel, sb.done = cancel, make(chan struct{})
	go sb.tail(ctx, cl, stores, owner)
}

// stop stops the tailer and waits for it.
func (sb *standbys) stop() {
	if sb.cancel == nil {
		return
	}
	sb.cancel()
	<-sb.done
	sb.cancel = nil
}

// tail applies changelog records to the standby stores until ctx is done.
func (sb *standbys) tail(ctx context.Context, cl *kgo.Client, stores map[topicPart]*kvStore, owner map[*kvStore]taskID) {
	defer close(sb.done)
	defer cl.Close()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return
		}
		if err := fetchErr(fs); err != nil {
			sb.a.log.Warn("standbys: fetch", "err", err)
		}
		var failed error
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			s := stores[topicPart{p.Topic, p.Partition}]
			if s == nil || failed != nil || len(p.Records) == 0 {
				return
			}
			if failed = sb.apply(s, p.Records); failed == nil {
				sb.mu.Lock()
				sb.mu.progress[owner[s]][s.name] = s.nextOffset()
				sb.mu.Unlock()
			}
		})
		if failed != nil {
			sb.a.log.Warn("standbys: stopped tailing", "err", failed)
			return
		}
	}
}

// apply writes changelog records past the store's checkpoint.
func (sb *standbys) apply(s *kvStore, recs []*kgo.Record) error {
	from := s.nextOffset()
	batch := make([]restoredRecord, 0, len(recs))
	next := from
	for _, r := range recs {
		if r.Offset < from {
			continue
		}
		if !r.Attrs.IsControl() {
			batch = append(batch, restoredRecord{key: r.Key, value: r.Value})
		}
		next = r.Offset + 1
	}
	if next == from {
		return nil
	}
	if err := s.applyRestored(batch, next); err != nil {
		return fmt.Errorf("standby %s[%d]: %w", s.changelog, s.partition, err)
	}
	return nil
}
