package kafka

import (
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Incremental fetch sessions (KIP-227). A consumer of many partitions
// sends them all once, in a full fetch that opens a session; after that
// its fetches carry only the partitions whose fetch offset or max bytes
// changed, and the answers only the partitions with something to say
// (records, a moved high watermark, last stable offset or log start, an
// error). With hundreds of partitions and little traffic this cuts both
// directions' bytes to almost nothing.
//
// The rules, by the request's session id and epoch:
//
//	id 0,  epoch 0    full fetch; a new session is opened if the cache has
//	                  room (its id answers), else id 0 (sessionless)
//	id 0,  epoch -1   sessionless full fetch
//	id N,  epoch 0    session N is closed; full fetch opening a new one
//	id N,  epoch -1   session N is closed; sessionless full fetch
//	id N,  epoch E>0  incremental fetch in session N, which must expect E:
//	                  FETCH_SESSION_ID_NOT_FOUND for an unknown session,
//	                  INVALID_FETCH_SESSION_EPOCH for another epoch
//
// A session's partitions are answered in its order; those answered move
// to the end, so that a response's size limit does not starve the last
// ones. The cache holds DefaultMaxFetchSessions sessions; when it is full,
// the least recently used session idle for fetchSessionEvictAfter makes
// room, else the fetch goes sessionless. The partitions all sessions hold
// together are bounded too (maxSessionPartitions): a full fetch that would
// pass the bound goes sessionless, and an incremental one that adds
// partitions past it closes its session (FETCH_SESSION_ID_NOT_FOUND).

const (
	// DefaultMaxFetchSessions is the fetch session cache's size, as
	// Kafka's max.incremental.fetch.session.cache.slots.
	DefaultMaxFetchSessions = 1000
	// fetchSessionEvictAfter is how long a session must be idle before a
	// new one may evict it (Kafka's
	// min.incremental.fetch.session.eviction.ms).
	fetchSessionEvictAfter = 2 * time.Minute
	// maxSessionPartitions bounds the partitions all sessions hold
	// together, so that clients opening sessions of many (or made-up)
	// partitions cannot make the cache grow without limit: a fetch that
	// would pass it goes sessionless. 1<<20 entries is about 100 MiB.
	maxSessionPartitions = 1 << 20
	// minFetchSessionVersion is the first Fetch version with sessions.
	minFetchSessionVersion = 7
)

// sessKey names a partition in a session: by topic id from Fetch v13, by
// name before.
type sessKey struct {
	topic     string
	topicID   [16]byte
	partition int32
}

// sessPart is one partition of a session: what the client fetches it with,
// and what the last answer said of it.
type sessPart struct {
	key    sessKey
	offset int64
	max    int32
	// hw, lso and logStart were last answered; -1 before the first
	// answer, so a new partition is always answered once.
	hw, lso, logStart int64
}

// fetchSession is one consumer's session. mu is held by the fetch using it
// from its start to its answer.
type fetchSession struct {
	id int32
	mu sync.Mutex
	// epoch is the epoch the next incremental fetch carries; 0 until the
	// full fetch that opened the session ends.
	epoch int32
	parts []*sessPart
	index map[sessKey]*sessPart
	// byName tells whether the session's topics are named (Fetch < 13).
	byName bool
	used   time.Time // guarded by the cache's mu
	held   int       // partitions counted in the cache's total; guarded by its mu
}

// fetchSessions is the server's session cache.
type fetchSessions struct {
	max      int
	maxParts int // maxSessionPartitions; tests lower it
	// incremental counts the incremental fetches served (for metrics
	// and tests).
	incremental atomic.Int64
	mu          struct {
		sync.Mutex
		byID  map[int32]*fetchSession
		parts int // the sum of the sessions' held
	}
}

func newFetchSessions(max int) *fetchSessions {
	c := &fetchSessions{max: max, maxParts: maxSessionPartitions}
	c.mu.byID = map[int32]*fetchSession{}
	return c
}

// sessionPlan is what a fetch does with sessions.
type sessionPlan struct {
	sess        *fetchSession // locked; nil for a sessionless fetch
	incremental bool
	errCode     int16
}

// begin applies the session rules to req. The session it returns is
// locked until end.
func (c *fetchSessions) begin(req *kmsg.FetchRequest, version int16) sessionPlan {
	id, epoch := req.SessionID, req.SessionEpoch
	if version < minFetchSessionVersion || c.max <= 0 {
		if id != 0 && epoch > 0 {
			return sessionPlan{errCode: kerr.FetchSessionIDNotFound.Code}
		}
		return sessionPlan{}
	}
	switch {
	case epoch == -1:
		c.remove(id)
		return sessionPlan{}
	case epoch == 0:
		c.remove(id)
		s := c.create(version < 13, fetchPartitions(req))
		if s == nil {
			return sessionPlan{}
		}
		s.mu.Lock()
		return sessionPlan{sess: s}
	}
	c.mu.Lock()
	s := c.mu.byID[id]
	if s != nil {
		s.used = time.Now()
	}
	c.mu.Unlock()
	if s == nil || id == 0 {
		return sessionPlan{errCode: kerr.FetchSessionIDNotFound.Code}
	}
	s.mu.Lock()
	if epoch != s.epoch || (version < 13) != s.byName {
		s.mu.Unlock()
		return sessionPlan{errCode: kerr.InvalidFetchSessionEpoch.Code}
	}
	c.incremental.Add(1)
	return sessionPlan{sess: s, incremental: true}
}

// end advances the session's epoch and unlocks it.
func (p *sessionPlan) end() {
	if p.sess == nil {
		return
	}
	s := p.sess
	if s.epoch == math.MaxInt32 {
		s.epoch = 1
	} else {
		s.epoch++
	}
	s.mu.Unlock()
}

// fetchPartitions counts the partitions a fetch request lists.
func fetchPartitions(req *kmsg.FetchRequest) int {
	n := 0
	for i := range req.Topics {
		n += len(req.Topics[i].Partitions)
	}
	return n
}

// create opens a session for n partitions, evicting the least recently
// used one idle long enough when the cache is full; nil when there is no
// room.
func (c *fetchSessions) create(byName bool, n int) *fetchSession {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.parts+n > c.maxParts {
		return nil
	}
	if len(c.mu.byID) >= c.max {
		var lru *fetchSession
		for _, s := range c.mu.byID {
			if lru == nil || s.used.Before(lru.used) {
				lru = s
			}
		}
		if lru == nil || now.Sub(lru.used) < fetchSessionEvictAfter {
			return nil
		}
		c.deleteLocked(lru.id)
	}
	s := &fetchSession{epoch: 0, index: map[sessKey]*sessPart{}, byName: byName, used: now, held: n}
	c.mu.parts += n
	for {
		s.id = rand.Int32N(math.MaxInt32-1) + 1
		if c.mu.byID[s.id] == nil {
			break
		}
	}
	c.mu.byID[s.id] = s
	return s
}

func (c *fetchSessions) remove(id int32) {
	if id == 0 {
		return
	}
	c.mu.Lock()
	c.deleteLocked(id)
	c.mu.Unlock()
}

func (c *fetchSessions) deleteLocked(id int32) {
	if s := c.mu.byID[id]; s != nil {
		c.mu.parts -= s.held
		delete(c.mu.byID, id)
	}
}

// settle counts s's partitions (after a request added or forgot some) in
// the cache's total; false, and s closed, when the total passes the
// cache's bound: the client gets FETCH_SESSION_ID_NOT_FOUND and starts
// over with a full fetch, which then goes sessionless.
func (c *fetchSessions) settle(s *fetchSession) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.byID[s.id] != s {
		return true // closed meanwhile: answered, and gone
	}
	c.mu.parts += len(s.parts) - s.held
	s.held = len(s.parts)
	if c.mu.parts > c.maxParts {
		c.deleteLocked(s.id)
		return false
	}
	return true
}

// len is the number of sessions open.
func (c *fetchSessions) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.mu.byID)
}

// update applies an incremental request to the session: the partitions it
// lists are added or their offset and max bytes replaced, the forgotten
// ones removed.
func (s *fetchSession) update(req *kmsg.FetchRequest) {
	for i := range req.Topics {
		rt := &req.Topics[i]
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			k := s.key(rt.Topic, rt.TopicID, rp.Partition)
			if sp := s.index[k]; sp != nil {
				sp.offset, sp.max = rp.FetchOffset, rp.PartitionMaxBytes
				continue
			}
			s.add(k, rp.FetchOffset, rp.PartitionMaxBytes)
		}
	}
	for _, ft := range req.ForgottenTopics {
		for _, p := range ft.Partitions {
			s.forget(s.key(ft.Topic, ft.TopicID, p))
		}
	}
}

func (s *fetchSession) key(topic string, id [16]byte, partition int32) sessKey {
	if s.byName {
		return sessKey{topic: topic, partition: partition}
	}
	return sessKey{topicID: id, partition: partition}
}

func (s *fetchSession) add(k sessKey, offset int64, max int32) {
	sp := &sessPart{key: k, offset: offset, max: max, hw: -1, lso: -1, logStart: -1}
	s.parts = append(s.parts, sp)
	s.index[k] = sp
}

func (s *fetchSession) forget(k sessKey) {
	sp := s.index[k]
	if sp == nil {
		return
	}
	delete(s.index, k)
	for i, q := range s.parts {
		if q == sp {
			s.parts = append(s.parts[:i], s.parts[i+1:]...)
			return
		}
	}
}

// request is the session as a full request: every partition with its
// fetch offset and max bytes, in session order, grouped into topics as
// they come. plan lays the response out from it as for any full fetch.
func (s *fetchSession) request(version int16) []kmsg.FetchRequestTopic {
	var topics []kmsg.FetchRequestTopic
	for _, sp := range s.parts {
		if n := len(topics); n == 0 || topics[n-1].Topic != sp.key.topic || topics[n-1].TopicID != sp.key.topicID {
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic, rt.TopicID = sp.key.topic, sp.key.topicID
			topics = append(topics, rt)
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = sp.key.partition, sp.offset, sp.max
		rp.CurrentLeaderEpoch = -1
		topics[len(topics)-1].Partitions = append(topics[len(topics)-1].Partitions, rp)
	}
	return topics
}

// record keeps a full fetch's partitions as the new session's.
func (s *fetchSession) record(req *kmsg.FetchRequest) {
	for i := range req.Topics {
		rt := &req.Topics[i]
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			k := s.key(rt.Topic, rt.TopicID, rp.Partition)
			if sp := s.index[k]; sp != nil { // listed twice: the last listing wins
				sp.offset, sp.max = rp.FetchOffset, rp.PartitionMaxBytes
				continue
			}
			s.add(k, rp.FetchOffset, rp.PartitionMaxBytes)
		}
	}
}

// answered records what resp says of each partition; for an incremental
// fetch it drops from resp the partitions with nothing new and moves the
// ones answered to the end of the session.
func (s *fetchSession) answered(resp *kmsg.FetchResponse, incremental bool) {
	var moved []*sessPart
	topics := resp.Topics[:0]
	for _, ot := range resp.Topics {
		parts := ot.Partitions[:0]
		for _, op := range ot.Partitions {
			sp := s.index[s.key(ot.Topic, ot.TopicID, op.Partition)]
			if sp == nil {
				continue
			}
			changed := len(op.RecordBatches) > 0 || op.ErrorCode != 0 || op.HighWatermark != sp.hw ||
				op.LastStableOffset != sp.lso || op.LogStartOffset != sp.logStart
			sp.hw, sp.lso, sp.logStart = op.HighWatermark, op.LastStableOffset, op.LogStartOffset
			if incremental && !changed {
				continue
			}
			parts = append(parts, op)
			moved = append(moved, sp)
		}
		if len(parts) > 0 || !incremental {
			ot.Partitions = parts
			topics = append(topics, ot)
		}
	}
	resp.Topics = topics
	if incremental && len(moved) > 0 {
		s.moveToEnd(moved)
	}
}

// moveToEnd moves the given partitions, in their order, behind the others.
func (s *fetchSession) moveToEnd(moved []*sessPart) {
	last := make(map[*sessPart]bool, len(moved))
	for _, sp := range moved {
		last[sp] = true
	}
	kept := s.parts[:0:0]
	for _, sp := range s.parts {
		if !last[sp] {
			kept = append(kept, sp)
		}
	}
	s.parts = append(kept, moved...)
}
