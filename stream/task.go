package stream

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// taskID names a task: a subtopology and a partition number.
type taskID struct {
	sub       int
	partition int32
}

func (id taskID) String() string { return fmt.Sprintf("%d_%d", id.sub, id.partition) }

// task runs one subtopology for one partition number: the records of that
// partition of each of its source topics, with its own stores. Only the
// poll loop (or a rebalance callback, never at once) calls its methods,
// except the stores' reads by interactive queries.
type task struct {
	id       taskID
	app      *App
	memo     map[int]any                // per-node built values (port.build)
	handlers map[string]recordFn        // physical source topic -> its source
	stores   map[string]*kvStore        // by store name
	offsets  map[string]kgo.EpochOffset // physical source topic -> next offset to commit
	// streamTime is the highest record timestamp this task has seen (ms):
	// the watermark that closes windows.
	streamTime int64
	metrics    taskMetrics
	// punctuators are the task's Punctuate schedules, in node order.
	punctuators []*punctuator
	// starts are run once the stores are restored, before the first
	// record: processors that read their store at start register here.
	starts []func() error
}

// onStart runs f once the task's stores are restored.
func (tk *task) onStart(f func() error) { tk.starts = append(tk.starts, f) }

// taskMetrics counts what a task did; read by App.Metrics while the task
// runs.
type taskMetrics struct {
	in, out, skipped, late, restored, partialsDropped atomic.Int64
	punctuations, punctuateMax, punctuateTotal        atomic.Int64     // count, ns, ns
	lag                                               atomic.Int64     // sum of lags
	lags                                              map[string]int64 // per source topic; poll loop only
	// punctuateBuckets[i] counts the punctuator runs that took at most
	// punctuateBounds[i] seconds (not cumulative); the last, longer ones.
	punctuateBuckets [len(punctuateBounds) + 1]atomic.Int64
}

// punctuateBounds are the upper bounds, in seconds, of the punctuation
// latency histogram's buckets (herald_stream_punctuation_duration_seconds).
var punctuateBounds = [...]float64{0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5}

// punctuated records one punctuator run's duration.
func (m *taskMetrics) punctuated(d time.Duration) {
	m.punctuations.Add(1)
	m.punctuateTotal.Add(int64(d))
	i := 0
	for i < len(punctuateBounds) && d.Seconds() > punctuateBounds[i] {
		i++
	}
	m.punctuateBuckets[i].Add(1)
	if int64(d) > m.punctuateMax.Load() {
		m.punctuateMax.Store(int64(d)) // one writer: the task's goroutine
	}
}

// setLag records how far behind its high watermark a source partition's
// last fetched record is.
func (tk *task) setLag(topic string, lag int64) {
	m := &tk.metrics
	if m.lags == nil {
		m.lags = map[string]int64{}
	}
	m.lags[topic] = max(lag, 0)
	var sum int64
	for _, l := range m.lags {
		sum += l
	}
	m.lag.Store(sum)
}

// taskFor returns the task that processes topic's partition p, creating
// and restoring it when it is new.
func (a *App) taskFor(topic string, p int32) (*task, error) {
	sub, ok := a.subOf[topic]
	if !ok {
		return nil, fmt.Errorf("stream: records of unknown topic %q", topic)
	}
	id := taskID{sub, p}
	a.mu.Lock()
	tk := a.tasks[id]
	a.mu.Unlock()
	if tk != nil {
		return tk, nil
	}
	tk, err := a.newTask(id)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.tasks[id] = tk
	a.mu.Unlock()
	return tk, nil
}

func (a *App) newTask(id taskID) (*task, error) {
	if a.sb != nil {
		a.sb.release(id) // its stores become the task's, warm
	}
	tk := &task{id: id, app: a, memo: map[int]any{}, handlers: map[string]recordFn{},
		stores: map[string]*kvStore{}, offsets: map[string]kgo.EpochOffset{}, streamTime: -1}
	for _, tp := range a.subs[id.sub] {
		h, err := a.t.sources[tp].build(tk)
		if err != nil {
			tk.close(false)
			return nil, fmt.Errorf("stream: task %s: %w", id, err)
		}
		tk.handlers[a.t.physical(a.cfg.AppID, tp)] = h
	}
	if err := tk.restore(); err != nil {
		tk.close(false)
		return nil, fmt.Errorf("stream: task %s: %w", id, err)
	}
	for _, f := range tk.starts {
		if err := f(); err != nil {
			tk.close(false)
			return nil, fmt.Errorf("stream: task %s: %w", id, err)
		}
	}
	a.log.Info("task started", "task", id.String(), "stores", len(tk.stores), "restored", tk.metrics.restored.Load())
	return tk, nil
}

// store opens (once) this task's partition of the store name.
func (tk *task) store(name string) (*kvStore, error) {
	if s := tk.stores[name]; s != nil {
		return s, nil
	}
	s, err := tk.app.openStore(tk.id, name)
	if err != nil {
		return nil, err
	}
	tk.stores[name] = s
	return s, nil
}

// openStore opens task id's partition of the store name, in its
// directory StateDir/AppID/<task>/<store> (a task's, or a standby's).
func (a *App) openStore(id taskID, name string) (*kvStore, error) {
	dir := filepath.Join(a.cfg.StateDir, a.cfg.AppID, id.String(), name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store %s: %w", name, err)
	}
	return openKVStore(dir, name, changelogTopic(a.cfg.AppID, name), id.partition)
}

func (tk *task) restore() error {
	for _, s := range tk.stores {
		n, err := restoreStore(context.Background(), tk.app, tk.id, s)
		tk.metrics.restored.Add(n)
		if err != nil {
			return err
		}
	}
	return nil
}

// processRecords runs records of one source partition through the task.
func (tk *task) processRecords(topic string, recs []*kgo.Record) error {
	h := tk.handlers[topic]
	for i, r := range recs {
		tk.streamTime = max(tk.streamTime, r.Timestamp.UnixMilli())
		err := h(r)
		if err == nil && len(tk.punctuators) > 0 {
			err = tk.punctuate(StreamTime, tk.streamTime)
		}
		if err != nil {
			tk.metrics.in.Add(int64(i + 1))
			return fmt.Errorf("stream: task %s: %s[%d]@%d: %w", tk.id, r.Topic, r.Partition, r.Offset, err)
		}
	}
	tk.metrics.in.Add(int64(len(recs)))
	last := recs[len(recs)-1]
	tk.offsets[topic] = kgo.EpochOffset{Epoch: last.LeaderEpoch, Offset: last.Offset + 1}
	return nil
}

// undecodable handles a record whose key or value did not decode.
func (tk *task) undecodable(r *kgo.Record, err error) error {
	if tk.app.cfg.SkipUndecodable {
		tk.metrics.skipped.Add(1)
		return nil
	}
	return fmt.Errorf("undecodable record (set SkipUndecodable to skip such records): %w", err)
}

// produce sends an output record.
func (tk *task) produce(topic string, k, v []byte, ts int64) {
	tk.metrics.out.Add(1)
	tk.app.produce(&kgo.Record{Topic: topic, Key: k, Value: v, Timestamp: msTime(ts)}, nil)
}

// produceChangelogs sends every store's writes since the last commit to
// its changelog partition.
func (tk *task) produceChangelogs() {
	for _, s := range tk.stores {
		s.eachDirty(func(k, v []byte) {
			r := &kgo.Record{Topic: s.changelog, Partition: s.partition, Key: k, Value: v}
			tk.app.produce(r, func(r *kgo.Record) { s.acknowledged(r.Offset) })
		})
	}
}

// commitLocal checkpoints the stores once their changelogs are acknowledged.
func (tk *task) commitLocal() error {
	for _, s := range tk.stores {
		if err := s.commitLocal(); err != nil {
			return fmt.Errorf("stream: task %s: %w", tk.id, err)
		}
	}
	return nil
}

// addOffsets adds the task's next offsets to commit.
func (tk *task) addOffsets(m map[string]map[int32]kgo.EpochOffset) {
	for topic, o := range tk.offsets {
		if m[topic] == nil {
			m[topic] = map[int32]kgo.EpochOffset{}
		}
		m[topic][tk.id.partition] = o
	}
}

// close closes the stores; without keep, writes since the last commit
// are dropped first (they are not in the changelog's checkpoint).
func (tk *task) close(keep bool) {
	for _, s := range tk.stores {
		if !keep {
			s.discard()
		}
		if err := s.close(); err != nil {
			tk.app.log.Warn("close store", "task", tk.id.String(), "err", err)
		}
	}
}
