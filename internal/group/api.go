package group

import (
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// These are the coordinator's request-facing methods. Those that wait
// for other members (Join, Sync) block; callers run them off the
// connection's reader.

// Join handles a JoinGroup; it returns when the join phase ends.
func (c *Coordinator) Join(group string, j Join) JoinResult {
	if group == "" {
		return JoinResult{Err: kerr.InvalidGroupID, Generation: -1, MemberID: j.MemberID}
	}
	e := c.group(group, j.MemberID == "")
	if e == nil {
		return JoinResult{Err: kerr.UnknownMemberID, Generation: -1, MemberID: j.MemberID}
	}
	r := e.request(e.ensureClassic, func(t Token) any { j.Token = t; return j })
	if err, ok := r.(*kerr.Error); ok {
		return JoinResult{Err: err, Generation: -1, MemberID: j.MemberID}
	}
	return r.(JoinResult)
}

// Sync handles a SyncGroup; members wait for the leader's assignment.
func (c *Coordinator) Sync(group string, s Sync) SyncResult {
	e := c.group(group, false)
	if e == nil {
		return SyncResult{Err: kerr.UnknownMemberID}
	}
	r := e.request(e.classicOnly, func(t Token) any { s.Token = t; return s })
	if err, ok := r.(*kerr.Error); ok {
		return SyncResult{Err: err}
	}
	return r.(SyncResult)
}

// classicOnly refuses requests for a group that is not classic.
func (e *entry) classicOnly() *kerr.Error {
	if e.classic == nil {
		if e.consumer != nil && e.consumer.Len() > 0 {
			return kerr.InconsistentGroupProtocol
		}
		return kerr.UnknownMemberID
	}
	return nil
}

// Heartbeat handles a Heartbeat.
func (c *Coordinator) Heartbeat(group string, h Heartbeat) *kerr.Error {
	e := c.group(group, false)
	if e == nil {
		return kerr.UnknownMemberID
	}
	return asErr(e.request(e.classicOnly, func(t Token) any { h.Token = t; return h }))
}

func asErr(r any) *kerr.Error {
	err, _ := r.(*kerr.Error)
	return err
}

// Leave handles the members of a LeaveGroup, answering each.
func (c *Coordinator) Leave(group string, ls []Leave) []*kerr.Error {
	out := make([]*kerr.Error, len(ls))
	e := c.group(group, false)
	for i, l := range ls {
		if e == nil {
			out[i] = kerr.UnknownMemberID
			continue
		}
		out[i] = asErr(e.request(e.classicOnly, func(t Token) any { l.Token = t; return l }))
	}
	return out
}

// ConsumerHeartbeat handles a ConsumerGroupHeartbeat.
func (c *Coordinator) ConsumerHeartbeat(group string, h CHeartbeat) CResult {
	if group == "" {
		return CResult{Err: kerr.InvalidGroupID}
	}
	e := c.group(group, h.MemberEpoch == 0)
	if e == nil {
		return CResult{Err: kerr.UnknownMemberID}
	}
	prep := e.ensureConsumer
	if h.MemberEpoch != 0 {
		prep = func() *kerr.Error {
			if e.consumer == nil {
				return kerr.UnknownMemberID
			}
			return nil
		}
	}
	r := e.request(prep, func(t Token) any { h.Token = t; return h })
	if err, ok := r.(*kerr.Error); ok {
		return CResult{Err: err, MemberID: h.MemberID}
	}
	return r.(CResult)
}

// CommitCheck says whether a commit from the member may be stored; it
// makes the group when a commit without a member names a new group.
func (c *Coordinator) CommitCheck(group, memberID, instanceID string, generation int32) *kerr.Error {
	if group == "" {
		return kerr.InvalidGroupID
	}
	simple := generation < 0 && memberID == ""
	e := c.group(group, simple)
	if e == nil {
		return kerr.IllegalGeneration
	}
	var err *kerr.Error
	ok := e.do(func() {
		switch {
		case e.consumer != nil:
			tok := Token(c.tokens.Add(1))
			err = asErr(replyOf(e.consumer.Step(c.now(), CCommitCheck{Token: tok, MemberID: memberID, Epoch: generation})))
		case e.classic != nil:
			tok := Token(c.tokens.Add(1))
			effs := e.classic.Step(c.now(), CommitCheck{Token: tok, MemberID: memberID, InstanceID: instanceID, Generation: generation})
			err = asErr(replyOf(effs))
		case !simple:
			err = kerr.IllegalGeneration
		}
	})
	if !ok {
		return errClosed
	}
	return err
}

// replyOf returns the Resp of the only Reply in effs.
func replyOf(effs []any) any {
	for _, e := range effs {
		if r, ok := e.(Reply); ok {
			return r.Resp
		}
	}
	return nil
}

// Commit stores offsets for group (after CommitCheck) and returns once
// they are durable.
func (c *Coordinator) Commit(group string, offs map[TopicPartition]Offset) error {
	e := c.group(group, true)
	if e == nil {
		return errClosed
	}
	kvs := make([][2][]byte, 0, len(offs))
	for tp, o := range offs {
		kvs = append(kvs, [2][]byte{offsetKey(group, tp), offsetValue(o)})
	}
	return c.append(group, kvs, func() {
		for tp, o := range offs {
			e.offsets[tp] = o
		}
	})
}

// Committed returns group's committed offsets; ok is false when the group
// does not exist.
func (c *Coordinator) Committed(group string) (offs map[TopicPartition]Offset, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.mu.groups[group]
	if e == nil {
		return nil, false
	}
	out := make(map[TopicPartition]Offset, len(e.offsets))
	for tp, o := range e.offsets {
		out[tp] = o
	}
	return out, true
}

// Listing is one group as ListGroups shows it.
type Listing struct {
	ID, ProtocolType, State string
	Type                    string // "classic" or "consumer"
}

// List returns every group, sorted by id.
func (c *Coordinator) List() []Listing {
	c.mu.Lock()
	es := make([]*entry, 0, len(c.mu.groups))
	for _, e := range c.mu.groups {
		es = append(es, e)
	}
	c.mu.Unlock()
	var out []Listing
	for _, e := range es {
		var l Listing
		if !e.do(func() { l = e.listing() }) {
			continue
		}
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b Listing) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// listing describes the group briefly. Driver only.
func (e *entry) listing() Listing {
	l := Listing{ID: e.id, State: Empty.String(), Type: "classic"}
	switch {
	case e.consumer != nil:
		l.ProtocolType, l.Type = "consumer", "consumer"
		l.State = consumerStateName(e.consumer.Describe().State)
	case e.classic != nil:
		l.ProtocolType, l.State = e.classic.ProtocolType(), e.classic.State().String()
	}
	return l
}

func consumerStateName(s string) string {
	switch s {
	case "empty":
		return "Empty"
	case "assigning":
		return "Assigning"
	case "reconciling":
		return "Reconciling"
	}
	return "Stable"
}

// Describe describes a group as DescribeGroups shows it; a group that
// does not exist is Dead with ok false.
func (c *Coordinator) Describe(group string) (d Description, ok bool) {
	e := c.group(group, false)
	if e == nil {
		return Description{State: Dead}, false
	}
	if !e.do(func() {
		switch {
		case e.classic != nil:
			d = e.classic.Describe()
		case e.consumer != nil:
			cd := e.consumer.Describe()
			d = Description{State: Stable, ProtocolType: "consumer", Generation: cd.Epoch}
			if cd.State == "empty" {
				d.State = Empty
			}
			for _, m := range cd.Members {
				d.Members = append(d.Members, MemberDescription{ID: m.ID, InstanceID: m.InstanceID, ClientID: m.ClientID, ClientHost: m.ClientHost})
			}
		}
	}) {
		return Description{State: Dead}, false
	}
	return d, true
}

// DescribeConsumer describes a consumer-protocol group; a classic group
// is GROUP_ID_NOT_FOUND, as no group at all.
func (c *Coordinator) DescribeConsumer(group string) (CDescription, *kerr.Error) {
	e := c.group(group, false)
	if e == nil {
		return CDescription{}, kerr.GroupIDNotFound
	}
	var d CDescription
	var err *kerr.Error
	if !e.do(func() {
		if e.consumer == nil {
			// A classic group is not found too, as in Kafka: admin
			// clients then fall back to DescribeGroups.
			err = kerr.GroupIDNotFound
			return
		}
		d = e.consumer.Describe()
	}) {
		return d, errClosed
	}
	return d, err
}

// Delete deletes an empty group and its offsets.
func (c *Coordinator) Delete(group string) *kerr.Error {
	e := c.group(group, false)
	if e == nil {
		return kerr.GroupIDNotFound
	}
	var err *kerr.Error
	if !e.do(func() {
		switch {
		case e.consumer != nil && e.consumer.Len() > 0, e.classic != nil && e.classic.Len() > 0:
			err = kerr.NonEmptyGroup
			return
		case e.classic != nil:
			err = asErr(replyOf(e.classic.Step(c.now(), Delete{})))
			if err != nil {
				return
			}
		}
		c.writeMeta(e, nil)
	}) {
		return errClosed
	}
	return err
}

// DeleteOffsets is OffsetDelete: offsets of topics a member subscribes to
// are refused with GROUP_SUBSCRIBED_TO_TOPIC.
func (c *Coordinator) DeleteOffsets(group string, tps []TopicPartition, parse func([]byte) ([]string, bool)) (map[TopicPartition]*kerr.Error, *kerr.Error) {
	e := c.group(group, false)
	if e == nil {
		return nil, kerr.GroupIDNotFound
	}
	errs := map[TopicPartition]*kerr.Error{}
	var gerr *kerr.Error
	ok := e.do(func() {
		var subs map[string]bool
		switch {
		case e.consumer != nil:
			subs = e.consumer.SubscribedTopics()
		case e.classic != nil && e.classic.Len() > 0:
			var ok bool
			if subs, ok = e.classic.SubscribedTopics(parse); !ok {
				gerr = kerr.NonEmptyGroup
				return
			}
		}
		var kvs [][2][]byte
		var del []TopicPartition
		for _, tp := range tps {
			if subs[tp.Topic] {
				errs[tp] = kerr.GroupSubscribedToTopic
				continue
			}
			kvs = append(kvs, [2][]byte{offsetKey(group, tp), nil})
			del = append(del, tp)
		}
		if err := c.append(group, kvs, func() {
			for _, tp := range del {
				delete(e.offsets, tp)
			}
		}); err != nil {
			gerr = kerr.CoordinatorNotAvailable
		}
	})
	if !ok {
		return nil, errClosed
	}
	return errs, gerr
}

// PartitionLag is one partition's lag for a group.
type PartitionLag struct {
	Topic     string
	Partition int32
	Committed int64 // -1: nothing committed
	End       int64 // the partition's high watermark
	Lag       int64 // End - Committed (End - log start with no commit)
}

// Lag returns, for every partition of every topic the group has committed
// offsets for, the end offset minus the committed offset, sorted by topic
// and partition. ok is false when the group does not exist.
func (c *Coordinator) Lag(group string) (lags []PartitionLag, ok bool) {
	offs, ok := c.Committed(group)
	if !ok {
		return nil, false
	}
	topics := map[string]bool{}
	for tp := range offs {
		topics[tp.Topic] = true
	}
	for name := range topics {
		t := c.b.Topic(name)
		if t == nil {
			continue
		}
		for _, p := range t.Partitions() {
			l := PartitionLag{Topic: name, Partition: p.Index, Committed: -1, End: p.HighWatermark()}
			if o, ok := offs[TopicPartition{name, p.Index}]; ok {
				l.Committed = o.Offset
				l.Lag = max(l.End-o.Offset, 0)
			} else {
				l.Lag = l.End - p.LogStartOffset()
			}
			lags = append(lags, l)
		}
	}
	slices.SortFunc(lags, func(a, b PartitionLag) int {
		if a.Topic != b.Topic {
			return strings.Compare(a.Topic, b.Topic)
		}
		return int(a.Partition - b.Partition)
	})
	return lags, true
}

// ---- retention ----

func (c *Coordinator) retentionLoop() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.RetentionCheck)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.ExpireOffsets(c.now())
		}
	}
}

// ExpireOffsets deletes the offsets of groups that have had no members
// for the retention period (counted from the later of the group becoming
// empty and the commit), and then groups left with nothing. It returns
// how many offsets it deleted.
func (c *Coordinator) ExpireOffsets(now time.Time) int {
	c.mu.Lock()
	es := make([]*entry, 0, len(c.mu.groups))
	for _, e := range c.mu.groups {
		es = append(es, e)
	}
	c.mu.Unlock()
	n := 0
	for _, e := range es {
		e.do(func() {
			c.mu.Lock()
			since := e.emptySince
			var gone []TopicPartition
			for tp, o := range e.offsets {
				from := time.UnixMilli(o.CommitTime)
				if since.After(from) {
					from = since
				}
				if !since.IsZero() && now.Sub(from) >= c.cfg.Retention {
					gone = append(gone, tp)
				}
			}
			left := len(e.offsets) - len(gone)
			c.mu.Unlock()
			if since.IsZero() {
				return
			}
			if left == 0 {
				n += len(gone)
				c.writeMeta(e, nil) // deletes the remaining offsets too
				return
			}
			kvs := make([][2][]byte, len(gone))
			for i, tp := range gone {
				kvs[i] = [2][]byte{offsetKey(e.id, tp), nil}
			}
			if err := c.append(e.id, kvs, func() {
				for _, tp := range gone {
					delete(e.offsets, tp)
				}
			}); err == nil {
				n += len(gone)
			}
		})
	}
	return n
}
