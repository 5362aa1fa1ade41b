package kafka

import (
	"reflect"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/share"
)

// defaultShareMaxRecords is ShareFetch's MaxRecords when a client sends
// none (KIP-1206's default).
const defaultShareMaxRecords = 500

// shareSelfBlockedWait bounds the long poll of a ShareFetch that got
// nothing because the partition's in-flight window is full and the
// member itself holds records of it (share.Acquisition.SelfBlocked): its
// client can acknowledge them only with its next request, so waiting out
// MaxWait stalls every consumer of the partition. Short, not zero, so a
// client still busy with its records does not spin on empty answers;
// other members' acknowledgements still wake the fetch before it.
const shareSelfBlockedWait = 10 * time.Millisecond

// handleShareFetch applies the piggy-backed acknowledgements, then acquires
// records of the share session's partitions for the member, long-polling
// up to MaxWait when none are available. ShareSessionEpoch 0 opens a
// session, -1 closes it (acknowledgements only; the member's other
// records are released), others must follow the session's epoch. It needs
// READ on the group and on each topic.
func handleShareFetch(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.ShareFetchRequest)
	resp := req.ResponseKind().(*kmsg.ShareFetchResponse)
	group, member := deref(req.GroupID), deref(req.MemberID)
	if denied := s.access(r, access.Read, access.Group, group); denied != nil {
		resp.ErrorCode = denied.Code
		return resp, nil
	}
	if s.share == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp, nil
	}
	resp.AcquisitionLockTimeoutMillis = int32(s.share.LockDuration(group).Milliseconds())
	sf := &shareFetch{s: s, r: r, req: req, resp: resp, group: group, member: member, index: map[share.TP]*kmsg.ShareFetchResponseTopicPartition{}}
	add, forget := sf.sessionChanges()
	parts, err := s.share.Session(group, member, req.ShareSessionEpoch, add, forget)
	if err != nil {
		resp.ErrorCode = shareCode(err)
		return resp, nil
	}
	r.later(func() kmsg.Response {
		sf.acknowledge()
		if req.ShareSessionEpoch == -1 {
			s.share.CloseSession(group, member)
			return sf.finish()
		}
		if !req.IsRenewAck { // a renewal fetches nothing (KIP-1222)
			sf.fetch(parts)
		}
		return sf.finish()
	})
	return nil, nil
}

// shareFetch is one ShareFetch being answered.
type shareFetch struct {
	s             *Server
	r             *request
	req           *kmsg.ShareFetchRequest
	resp          *kmsg.ShareFetchResponse
	group, member string
	// index holds the response partitions by topic partition; finish
	// lays them out.
	index map[share.TP]*kmsg.ShareFetchResponseTopicPartition
	order []share.TP
}

func (sf *shareFetch) sessionChanges() (add, forget []share.TP) {
	for _, t := range sf.req.Topics {
		for _, p := range t.Partitions {
			add = append(add, share.TP{Topic: t.TopicID, Partition: p.Partition})
		}
	}
	for _, t := range sf.req.ForgottenTopicsData {
		for _, p := range t.Partitions {
			forget = append(forget, share.TP{Topic: t.TopicID, Partition: p})
		}
	}
	return add, forget
}

// part returns the response partition of tp, adding it.
func (sf *shareFetch) part(tp share.TP) *kmsg.ShareFetchResponseTopicPartition {
	if p := sf.index[tp]; p != nil {
		return p
	}
	p := kmsg.NewShareFetchResponseTopicPartition()
	p.Partition = tp.Partition
	p.CurrentLeader.LeaderID, p.CurrentLeader.LeaderEpoch = sf.s.cfg.NodeID, 0
	sf.index[tp] = &p
	sf.order = append(sf.order, tp)
	return &p
}

// acknowledge applies the request's acknowledgements, partition by
// partition; each partition's answer is its AcknowledgeErrorCode.
func (sf *shareFetch) acknowledge() {
	for _, t := range sf.req.Topics {
		for _, p := range t.Partitions {
			if len(p.AcknowledgementBatches) == 0 {
				continue
			}
			tp := share.TP{Topic: t.TopicID, Partition: p.Partition}
			op := sf.part(tp)
			if sf.req.ShareSessionEpoch == 0 {
				op.AcknowledgeErrorCode = kerr.InvalidShareSessionEpoch.Code
				continue
			}
			batches := make([]share.AckBatch, 0, len(p.AcknowledgementBatches))
			for _, b := range p.AcknowledgementBatches {
				batches = append(batches, share.AckBatch{First: b.FirstOffset, Last: b.LastOffset, Types: b.AcknowledgeTypes})
			}
			op.AcknowledgeErrorCode = sf.s.shareAck(sf.r, sf.group, sf.member, tp, batches)
		}
	}
}

// shareAck checks READ on the topic and applies acknowledgements to one
// partition; it returns the partition's error code.
func (s *Server) shareAck(r *request, group, member string, tp share.TP, batches []share.AckBatch) int16 {
	t, kerrc := s.shareTopic(r, tp.Topic)
	if kerrc != nil {
		return kerrc.Code
	}
	if t.Partition(tp.Partition) == nil {
		return kerr.UnknownTopicOrPartition.Code
	}
	return shareCode(s.share.Acknowledge(group, member, tp.Topic, tp.Partition, batches))
}

// shareTopic resolves a topic id and checks READ on the topic.
func (s *Server) shareTopic(r *request, id [16]byte) (*broker.Topic, *kerr.Error) {
	t := s.b.TopicByID(id)
	if t == nil {
		return nil, kerr.UnknownTopicID
	}
	if denied := s.access(r, access.Read, access.Topic, t.Name); denied != nil {
		return nil, denied
	}
	return t, nil
}

// fetch acquires from parts, waiting for records until MaxWait.
func (sf *shareFetch) fetch(parts []share.TP) {
	for _, tp := range sf.listed() {
		sf.part(tp) // every partition the request names is answered
	}
	parts = rotate(parts, sf.req.ShareSessionEpoch)
	wait := time.Duration(sf.req.MaxWaitMillis) * time.Millisecond
	deadline := time.Now().Add(min(wait, sf.s.maxWait))
	for {
		chans := sf.waitChans(parts)
		got, selfBlocked := sf.acquire(parts)
		if got || time.Now().After(deadline) || wait <= 0 {
			return
		}
		if soon := time.Now().Add(shareSelfBlockedWait); selfBlocked && soon.Before(deadline) {
			deadline = soon
		}
		if !sf.wait(chans, deadline) {
			return
		}
	}
}

// rotate returns the session's partitions starting at index epoch mod
// len(parts), so that successive fetches of a session start at
// successive partitions. Without it, a partition listed first whose
// backlog fills MaxRecords answers every fetch, and the session's other
// partitions wait until it is drained: a share consumer that cannot keep
// up with its producers then reads one partition only. Kafka's broker
// rotates the same way (KAFKA-17951); epoch 0 opens the session and is
// not rotated.
func rotate(parts []share.TP, epoch int32) []share.TP {
	n := len(parts)
	if n < 2 || epoch <= 0 {
		return parts
	}
	i := int(epoch % int32(n))
	out := make([]share.TP, 0, n)
	out = append(out, parts[i:]...)
	return append(out, parts[:i]...)
}

func (sf *shareFetch) listed() []share.TP {
	add, _ := sf.sessionChanges()
	return add
}

// acquire takes records from each partition within the request's limits;
// it reports whether any partition got records or an error, and whether
// one was SelfBlocked.
func (sf *shareFetch) acquire(parts []share.TP) (got, selfBlocked bool) {
	maxRecords := int(sf.req.MaxRecords)
	if maxRecords <= 0 {
		maxRecords = defaultShareMaxRecords
	}
	maxBytes := int(sf.s.cfg.FetchMaxBytes)
	if sf.req.MaxBytes > 0 {
		maxBytes = min(maxBytes, int(sf.req.MaxBytes))
	}
	for _, tp := range parts {
		if maxRecords <= 0 || maxBytes <= 0 {
			break
		}
		t, kerrc := sf.s.shareTopic(sf.r, tp.Topic)
		if kerrc == nil && t.Partition(tp.Partition) == nil {
			kerrc = kerr.UnknownTopicOrPartition
		}
		if kerrc != nil {
			sf.part(tp).ErrorCode = kerrc.Code
			got = true
			continue
		}
		a, err := sf.s.share.Acquire(sf.group, sf.member, t, tp.Partition, maxRecords, maxBytes)
		if err != nil {
			sf.part(tp).ErrorCode = shareCode(err)
			got = true
			continue
		}
		if len(a.Ranges) == 0 {
			selfBlocked = selfBlocked || a.SelfBlocked
			continue
		}
		op := sf.part(tp)
		op.Records = a.Records
		for _, rg := range a.Ranges {
			ar := kmsg.NewShareFetchResponseTopicPartitionAcquiredRecord()
			ar.FirstOffset, ar.LastOffset, ar.DeliveryCount = rg.First, rg.Last, rg.Count
			op.AcquiredRecords = append(op.AcquiredRecords, ar)
			maxRecords -= int(rg.Last - rg.First + 1)
		}
		maxBytes -= len(a.Records)
		got = true
	}
	return got, selfBlocked
}

// waitChans are the channels that signal new records for parts: appends
// to their logs and records made available again. Taken before acquiring,
// so that nothing between the acquire and the wait is missed.
func (sf *shareFetch) waitChans(parts []share.TP) []<-chan struct{} {
	var chans []<-chan struct{}
	for _, tp := range parts {
		t := sf.s.b.TopicByID(tp.Topic)
		if t == nil || t.Partition(tp.Partition) == nil {
			continue
		}
		chans = append(chans, t.Partition(tp.Partition).Changed(), sf.s.share.Available(sf.group, tp.Topic, tp.Partition))
	}
	return chans
}

// wait blocks until a channel fires (true), the deadline or shutdown.
func (sf *shareFetch) wait(chans []<-chan struct{}, deadline time.Time) bool {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	cases := []reflect.SelectCase{
		{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(timer.C)},
		{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(sf.s.die)},
	}
	for _, ch := range chans {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ch)})
	}
	i, _, _ := reflect.Select(cases)
	return i >= 2
}

// finish lays out the response partitions by topic.
func (sf *shareFetch) finish() kmsg.Response {
	topics := map[[16]byte]int{}
	for _, tp := range sf.order {
		i, ok := topics[tp.Topic]
		if !ok {
			i = len(sf.resp.Topics)
			topics[tp.Topic] = i
			t := kmsg.NewShareFetchResponseTopic()
			t.TopicID = tp.Topic
			sf.resp.Topics = append(sf.resp.Topics, t)
		}
		op := sf.index[tp]
		if op.Records == nil {
			op.Records = noRecords
		}
		sf.resp.Topics[i].Partitions = append(sf.resp.Topics[i].Partitions, *op)
	}
	sf.resp.NodeEndpoints = []kmsg.ShareFetchResponseNodeEndpoint{{NodeID: sf.s.cfg.NodeID, Host: sf.s.cfg.AdvertisedHost, Port: sf.s.cfg.AdvertisedPort}}
	return sf.resp
}
