package broker

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/heraldhq/herald/internal/metadata"
)

// Creating a topic, or adding partitions, opens every new partition's log
// (a directory, a file and two directory fsyncs each), which for tens of
// thousands of partitions takes minutes. So it runs without adminMu: the
// name is reserved under adminMu first (a second create of it, or of a
// name that collides with it, is TOPIC_ALREADY_EXISTS or
// INVALID_TOPIC_EXCEPTION), the partitions are opened with no lock held,
// and adminMu is taken again only to append the metadata record and
// publish the topic. Other creates, deletes and config changes go on
// meanwhile. The atomicity rule is kept: the topic exists once its record
// is appended, and a failure before that removes the new partitions.
//
// The protocol handlers wait for a create only as long as the request's
// timeout (CreateTopicWithin, CreatePartitionsWithin); a create still
// running then answers REQUEST_TIMED_OUT, as Kafka does, and completes in
// the background: Metadata shows the topic once it is done. Progress is
// logged every progressEvery.

// progressEvery is how often a long create logs how far it is (a
// variable for tests).
var progressEvery = 5 * time.Second

// pendingCreate is a topic being created; done is closed when its create
// has finished, one way or the other.
type pendingCreate struct {
	name string
	done chan struct{}
}

// CreateTopic creates a topic with partitions partitions (-1: the default)
// and the given configs, and returns once it exists (or failed). With
// validateOnly it checks everything and changes nothing. Errors are *Error
// with INVALID_TOPIC_EXCEPTION, TOPIC_ALREADY_EXISTS (also while another
// create of the name runs), INVALID_PARTITIONS, INVALID_CONFIG or
// KAFKA_STORAGE_ERROR.
func (b *Broker) CreateTopic(name string, partitions int32, configs map[string]string, validateOnly bool) (*Topic, error) {
	return b.CreateTopicWithin(0, name, partitions, configs, validateOnly)
}

// CreateTopicWithin is CreateTopic that returns after timeout at the
// latest (0: no limit): a create still running then returns an *Error with
// REQUEST_TIMED_OUT and goes on in the background.
func (b *Broker) CreateTopicWithin(timeout time.Duration, name string, partitions int32, configs map[string]string, validateOnly bool) (*Topic, error) {
	pc, id, partitions, configs, err := b.prepareCreate(name, partitions, configs, validateOnly)
	if err != nil || pc == nil {
		return nil, err
	}
	run := func() (*Topic, error) { return b.runCreate(pc, id, partitions, configs) }
	return within(timeout, run, fmt.Sprintf("creating topic %q with %d partitions is still running; it appears in Metadata once done", name, partitions))
}

// within runs fn in a goroutine (counted in the caller's b.creates) and
// waits for it up to timeout (0: no limit).
func within(timeout time.Duration, fn func() (*Topic, error), still string) (*Topic, error) {
	if timeout <= 0 {
		return fn()
	}
	type result struct {
		t   *Topic
		err error
	}
	done := make(chan result, 1)
	go func() {
		t, err := fn()
		done <- result{t, err}
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case r := <-done:
		return r.t, r.err
	case <-timer.C:
		return nil, kafkaErr(kerr.RequestTimedOut, still)
	}
}

// prepareCreate checks a create and reserves the name. It returns a nil
// pendingCreate for validateOnly; otherwise the caller must runCreate it.
func (b *Broker) prepareCreate(name string, partitions int32, configs map[string]string, validateOnly bool) (*pendingCreate, metadata.TopicID, int32, map[string]string, error) {
	var id metadata.TopicID
	if err := ValidateTopicName(name); err != nil {
		return nil, id, 0, nil, err
	}
	if partitions == -1 {
		partitions = b.defaultPartitions()
	}
	if partitions <= 0 || partitions > MaxPartitions {
		return nil, id, 0, nil, kafkaErr(kerr.InvalidPartitions, fmt.Sprintf("partition count %d is not between 1 and %d", partitions, MaxPartitions))
	}
	if err := b.validateConfigs(configs); err != nil {
		return nil, id, 0, nil, err
	}
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	if err := b.checkNewNameLocked(name); err != nil || validateOnly {
		return nil, id, 0, nil, err
	}
	if b.closing {
		return nil, id, 0, nil, errShuttingDown
	}
	pc := &pendingCreate{name: name, done: make(chan struct{})}
	b.creating[collisionKey(name)] = pc
	b.creates.Add(1)
	return pc, newTopicID(), partitions, maps.Clone(configs), nil
}

// checkNewNameLocked refuses a name that exists, is being created, or
// collides with one that does.
// adminMu must be held.
func (b *Broker) checkNewNameLocked(name string) error {
	tm := b.topics.Load()
	if _, ok := tm.byName[name]; ok {
		return kafkaErr(kerr.TopicAlreadyExists, fmt.Sprintf("topic %q already exists", name))
	}
	key := collisionKey(name)
	if pc := b.creating[key]; pc != nil {
		if pc.name == name {
			return kafkaErr(kerr.TopicAlreadyExists, fmt.Sprintf("topic %q is being created", name))
		}
		return kafkaErr(kerr.InvalidTopicException,
			fmt.Sprintf("topic %q collides with topic %q being created ('.' and '_' are equivalent)", name, pc.name))
	}
	for other := range tm.byName {
		if collisionKey(other) == key {
			return kafkaErr(kerr.InvalidTopicException,
				fmt.Sprintf("topic %q collides with existing topic %q ('.' and '_' are equivalent)", name, other))
		}
	}
	return nil
}

// runCreate opens the partitions with no lock held, then appends the
// metadata record and publishes the topic under adminMu. The partitions
// come first and the record last: until the record is fsynced the topic
// does not exist, so a failure or a crash anywhere before leaves only new,
// empty directories, which are removed here or by the next create of the
// name.
func (b *Broker) runCreate(pc *pendingCreate, id metadata.TopicID, partitions int32, configs map[string]string) (*Topic, error) {
	defer b.creates.Done()
	defer close(pc.done)
	name := pc.name
	dyn := b.dyn.Load()
	t, err := b.openTopic(name, id, partitions, configs, true)
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	delete(b.creating, collisionKey(name))
	if err != nil {
		return nil, b.createErr(fmt.Sprintf("create topic %q", name), err)
	}
	if err := b.meta.Append(metadata.Record{Type: metadata.CreateTopic, Topic: name, ID: id, Partitions: partitions, Configs: configs}); err != nil {
		b.discardPartitions(t.partitions())
		return nil, b.createErr(fmt.Sprintf("create topic %q", name), err)
	}
	if b.dyn.Load() != dyn {
		// A dynamic topic default changed while the partitions opened
		// and its re-apply did not see this topic: apply it here.
		b.reapplyTopicLocked(t)
	}
	b.publishLocked(func(m *topicMap) { m.byName[name], m.byID[id] = t, t })
	b.logger.Info("created topic", "topic", name, "id", id, "partitions", partitions)
	return t, nil
}

// waitCreate waits for a running create of name, if there is one.
func (b *Broker) waitCreate(name string) {
	b.adminMu.Lock()
	pc := b.creating[collisionKey(name)]
	b.adminMu.Unlock()
	if pc != nil && pc.name == name {
		<-pc.done
	}
}

// CreatePartitions raises t's partition count to count.
func (b *Broker) CreatePartitions(t *Topic, count int32, validateOnly bool) error {
	_, err := b.CreatePartitionsWithin(0, t, count, validateOnly)
	return err
}

// CreatePartitionsWithin is CreatePartitions that returns after timeout at
// the latest (0: no limit): an addition still running then returns an
// *Error with REQUEST_TIMED_OUT and goes on in the background. A second
// addition to a topic while one runs is REASSIGNMENT_IN_PROGRESS.
func (b *Broker) CreatePartitionsWithin(timeout time.Duration, t *Topic, count int32, validateOnly bool) (*Topic, error) {
	b.adminMu.Lock()
	if b.topics.Load().byID[t.ID] != t {
		b.adminMu.Unlock()
		return nil, kafkaErr(kerr.UnknownTopicOrPartition, "")
	}
	st := t.state.Load()
	have := int32(len(st.parts))
	var err error
	switch {
	case count <= have || count > MaxPartitions:
		err = kafkaErr(kerr.InvalidPartitions, fmt.Sprintf("topic %q has %d partitions; the new count %d must be more (and at most %d)", t.Name, have, count, MaxPartitions))
	case b.growing[t.ID]:
		err = kafkaErr(kerr.ReassignmentInProgress, fmt.Sprintf("partitions are being added to topic %q; try again when that is done", t.Name))
	case validateOnly:
	case b.closing:
		err = errShuttingDown
	default:
		b.growing[t.ID] = true
		b.creates.Add(1)
	}
	b.adminMu.Unlock()
	if err != nil || validateOnly {
		return nil, err
	}
	run := func() (*Topic, error) { return t, b.runAddPartitions(t, st, count) }
	return within(timeout, run, fmt.Sprintf("adding partitions to %q (%d to %d) is still running", t.Name, have, count))
}

// runAddPartitions opens the new partitions with no lock held, then, as
// in runCreate, appends the record and publishes them under adminMu; the
// partitions are discarded if the topic was deleted meanwhile.
func (b *Broker) runAddPartitions(t *Topic, st *topicState, count int32) error {
	defer b.creates.Done()
	have := int32(len(st.parts))
	dyn := b.dyn.Load()
	added, err := b.openPartitions(t, have, count, st.configs, true)
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	delete(b.growing, t.ID)
	if err != nil {
		return b.createErr(fmt.Sprintf("add partitions to %q", t.Name), err)
	}
	if b.topics.Load().byID[t.ID] != t {
		b.discardPartitions(added)
		return kafkaErr(kerr.UnknownTopicOrPartition, "the topic was deleted while partitions were added")
	}
	if err := b.meta.Append(metadata.Record{Type: metadata.AddPartitions, ID: t.ID, Partitions: count}); err != nil {
		b.discardPartitions(added)
		return b.createErr(fmt.Sprintf("add partitions to %q", t.Name), err)
	}
	// The configs may have changed meanwhile (SetTopicConfigs applied
	// them to the partitions it saw): apply the current ones.
	cur := t.state.Load()
	if !maps.Equal(cur.configs, st.configs) || b.dyn.Load() != dyn {
		lc := b.logConfig(cur.configs)
		for _, p := range added {
			if err := p.log.SetConfig(lc); err != nil {
				b.logger.Error("apply topic configs to a new partition", "topic", t.Name, "partition", p.Index, "err", err)
			}
		}
	}
	t.state.Store(&topicState{parts: append(slices.Clone(cur.parts), added...), configs: cur.configs, settings: b.parseSettings(cur.configs)})
	b.logger.Info("added partitions", "topic", t.Name, "from", have, "to", count)
	return nil
}

// errShuttingDown refuses changes once Close has begun.
var errShuttingDown = kafkaErr(kerr.BrokerNotAvailable, "the broker is shutting down")

// stopping returns errShuttingDown, marked as coming before the partition's
// directory was touched, once Close has begun, for a fresh open; nil
// otherwise.
func (b *Broker) stopping(fresh bool) error {
	if !fresh {
		return nil
	}
	select {
	case <-b.stop:
		return &notClearedError{errShuttingDown}
	default:
		return nil
	}
}

// progress logs how far opening a topic's partitions is, every
// progressEvery, and at the end if it took longer than that. Safe for
// concurrent use.
type progress struct {
	b       *Broker
	topic   string
	verb    string
	total   int32
	start   time.Time
	opened  atomic.Int32
	mu      sync.Mutex
	shownAt time.Time
}

func (b *Broker) newProgress(topic string, from, n int32, fresh bool) *progress {
	verb := "opening partitions"
	if fresh {
		verb = "creating partitions"
	}
	now := time.Now()
	return &progress{b: b, topic: topic, verb: verb, total: n - from, start: now, shownAt: now}
}

// step counts one partition opened.
func (p *progress) step() {
	done := p.opened.Add(1)
	if done&63 != 0 {
		return
	}
	now := time.Now()
	p.mu.Lock()
	show := now.Sub(p.shownAt) >= progressEvery
	if show {
		p.shownAt = now
	}
	p.mu.Unlock()
	if show {
		p.b.logger.Info(p.verb, "topic", p.topic, "done", done, "of", p.total, "elapsed", now.Sub(p.start).Round(time.Millisecond))
	}
}

func (p *progress) done() {
	if d := time.Since(p.start); d >= progressEvery {
		p.b.logger.Info(p.verb+": done", "topic", p.topic, "partitions", p.total, "elapsed", d.Round(time.Millisecond))
	}
}

// StateTopic returns the compacted internal topic a coordinator keeps its
// state in (__consumer_offsets, __transaction_state,
// __share_group_state), creating it with partitions partitions when it
// does not exist yet.
func (b *Broker) StateTopic(name string, partitions int32) (*Topic, error) {
	if t := b.Topic(name); t != nil {
		return t, nil
	}
	t, err := b.CreateTopic(name, partitions, map[string]string{"cleanup.policy": "compact"}, false)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", name, err)
	}
	return t, nil
}
