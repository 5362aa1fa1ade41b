package compat

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Share groups (KIP-932) with franz-go's share consumer and, where a test
// must control exactly what is acquired and acknowledged, with the raw
// ShareGroupHeartbeat, ShareFetch and ShareAcknowledge requests.

// setShareConfigs sets group configs (IncrementalAlterConfigs on the
// GROUP resource, as Kafka 4.x takes them).
func setShareConfigs(t testing.TB, cl *kgo.Client, group string, kvs ...string) {
	t.Helper()
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	res := kmsg.NewIncrementalAlterConfigsRequestResource()
	res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeGroupConfig, group
	for i := 0; i < len(kvs); i += 2 {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Value = kvs[i], kmsg.StringPtr(kvs[i+1])
		res.Configs = append(res.Configs, c)
	}
	req.Resources = append(req.Resources, res)
	resp, err := req.RequestWith(testCtx(t, 10*time.Second), cl)
	if err == nil {
		err = kerr.ErrorForCode(resp.Resources[0].ErrorCode)
	}
	if err != nil {
		t.Fatalf("set group configs %v: %v", kvs, err)
	}
}

func produceN(t *testing.T, cl *kgo.Client, topic string, n int) {
	t.Helper()
	var rs []*kgo.Record
	for i := range n {
		rs = append(rs, &kgo.Record{Topic: topic, Key: []byte(strconv.Itoa(i)), Value: []byte(strconv.Itoa(i))})
	}
	if err := cl.ProduceSync(testCtx(t, 20*time.Second), rs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// TestShareGroupWorkQueue: four share consumers on one partition handle
// every record; records released on their first delivery come back with
// delivery count 2 (to any member), and no record is accepted twice.
func TestShareGroupWorkQueue(t *testing.T) {
	tg := startBroker(t)
	topic, group := topicName(t), topicName(t, "group")
	createTopic(t, tg, topic, 1, nil)
	admin := newKgo(t, tg)
	setShareConfigs(t, admin, group, "share.auto.offset.reset", "earliest")
	const n = 200
	produceN(t, admin, topic, n)

	var mu sync.Mutex
	accepted := map[int]int{}
	redelivered := map[int]int32{}
	ctx := testCtx(t, 60*time.Second)
	done := func() bool { mu.Lock(); defer mu.Unlock(); return len(accepted) == n }
	var wg sync.WaitGroup
	for c := range 4 {
		cl := newKgo(t, tg, kgo.ShareGroup(group), kgo.ConsumeTopics(topic), kgo.FetchMaxWait(500*time.Millisecond),
			kgo.ClientID(fmt.Sprintf("worker-%d", c)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !done() && ctx.Err() == nil {
				pctx, cancel := context.WithTimeout(ctx, time.Second)
				fs := cl.PollFetches(pctx)
				cancel()
				for _, r := range fs.Records() {
					k, _ := strconv.Atoi(string(r.Key))
					if k%10 == 0 && r.DeliveryCount() == 1 {
						r.Ack(kgo.AckRelease)
						continue
					}
					r.Ack(kgo.AckAccept)
					mu.Lock()
					accepted[k]++
					if r.DeliveryCount() > 1 {
						redelivered[k] = r.DeliveryCount()
					}
					mu.Unlock()
				}
			}
			_ = cl.FlushAcks(context.Background()) // hand the last acks over
		}()
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(accepted) != n {
		t.Fatalf("%d of %d records accepted", len(accepted), n)
	}
	for k, c := range accepted {
		if c != 1 {
			t.Errorf("record %d accepted %d times", k, c)
		}
	}
	for k := 0; k < n; k += 10 {
		if redelivered[k] != 2 {
			t.Errorf("released record %d: accepted at delivery %d, want 2", k, redelivered[k])
		}
	}
}

// shareMember drives one member with raw requests.
type shareMember struct {
	t       *testing.T
	cl      *kgo.Client
	group   string
	id      string
	topicID [16]byte
	parts   []int32 // the assigned partitions, which a new session lists
	epoch   int32   // share session epoch of the next request
}

func newShareMember(t *testing.T, tg target, group, topic, id string) *shareMember {
	t.Helper()
	cl := newKgo(t, tg)
	m := &shareMember{t: t, cl: cl, group: group, id: id}
	checkFor(t, 10*time.Second, func() error {
		req := kmsg.NewPtrShareGroupHeartbeatRequest()
		req.GroupID, req.MemberID, req.SubscribedTopicNames = group, id, []string{topic}
		resp, err := req.RequestWith(testCtx(t, 5*time.Second), cl)
		if err == nil {
			err = kerr.ErrorForCode(resp.ErrorCode)
		}
		if err == nil && (resp.Assignment == nil || len(resp.Assignment.TopicPartitions) != 1) {
			err = fmt.Errorf("no assignment yet")
		}
		if err != nil {
			return err
		}
		m.topicID = resp.Assignment.TopicPartitions[0].TopicID
		m.parts = resp.Assignment.TopicPartitions[0].Partitions
		return nil
	})
	return m
}

// fetch sends a ShareFetch (listing the member's partitions when the
// session is new) and returns its acquired ranges.
func (m *shareMember) fetch(wait time.Duration) []kmsg.ShareFetchResponseTopicPartitionAcquiredRecord {
	m.t.Helper()
	var out []kmsg.ShareFetchResponseTopicPartitionAcquiredRecord
	for _, rs := range m.fetchParts(wait, 500) {
		out = append(out, rs...)
	}
	return out
}

// fetchParts sends a ShareFetch of up to maxRecords records and returns
// the acquired ranges by partition.
func (m *shareMember) fetchParts(wait time.Duration, maxRecords int32) map[int32][]kmsg.ShareFetchResponseTopicPartitionAcquiredRecord {
	m.t.Helper()
	req := kmsg.NewPtrShareFetchRequest()
	req.GroupID, req.MemberID, req.ShareSessionEpoch = &m.group, &m.id, m.epoch
	req.MaxWaitMillis, req.MaxBytes, req.MaxRecords, req.BatchSize = int32(wait.Milliseconds()), 1<<20, maxRecords, maxRecords
	if m.epoch == 0 {
		rt := kmsg.NewShareFetchRequestTopic()
		rt.TopicID = m.topicID
		for _, p := range m.parts {
			rt.Partitions = append(rt.Partitions, kmsg.ShareFetchRequestTopicPartition{Partition: p})
		}
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(testCtx(m.t, wait+10*time.Second), m.cl)
	if err == nil {
		err = kerr.ErrorForCode(resp.ErrorCode)
	}
	if err != nil {
		m.t.Fatalf("share fetch: %v", err)
	}
	m.epoch++
	out := map[int32][]kmsg.ShareFetchResponseTopicPartitionAcquiredRecord{}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
				m.t.Fatalf("share fetch partition %d: %v", rp.Partition, err)
			}
			if len(rp.AcquiredRecords) > 0 {
				out[rp.Partition] = append(out[rp.Partition], rp.AcquiredRecords...)
			}
		}
	}
	return out
}

// ack acknowledges [first, last] with typ through ShareAcknowledge.
func (m *shareMember) ack(first, last int64, typ int8) error {
	m.t.Helper()
	req := kmsg.NewPtrShareAcknowledgeRequest()
	req.GroupID, req.MemberID, req.ShareSessionEpoch = &m.group, &m.id, m.epoch
	rt := kmsg.NewShareAcknowledgeRequestTopic()
	rt.TopicID = m.topicID
	rp := kmsg.NewShareAcknowledgeRequestTopicPartition()
	rp.AcknowledgementBatches = []kmsg.ShareAcknowledgeRequestTopicPartitionAcknowledgementBatch{{FirstOffset: first, LastOffset: last, AcknowledgeTypes: []int8{typ}}}
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(testCtx(m.t, 10*time.Second), m.cl)
	if err != nil {
		m.t.Fatalf("share acknowledge: %v", err)
	}
	m.epoch++
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return err
	}
	return kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
}

func startOffset(t *testing.T, cl *kgo.Client, group, topic string) int64 {
	t.Helper()
	req := kmsg.NewPtrDescribeShareGroupOffsetsRequest()
	rg := kmsg.NewDescribeShareGroupOffsetsRequestGroup()
	rg.GroupID = group
	rg.Topics = []kmsg.DescribeShareGroupOffsetsRequestGroupTopic{{Topic: topic, Partitions: []int32{0}}}
	req.Groups = append(req.Groups, rg)
	resp, err := req.RequestWith(testCtx(t, 10*time.Second), cl)
	if err != nil {
		t.Fatalf("describe share group offsets: %v", err)
	}
	return resp.Groups[0].Topics[0].Partitions[0].StartOffset
}

func wantRanges(t *testing.T, got []kmsg.ShareFetchResponseTopicPartitionAcquiredRecord, want ...[3]int64) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		ok = got[i].FirstOffset == want[i][0] && got[i].LastOffset == want[i][1] && int64(got[i].DeliveryCount) == want[i][2]
	}
	if !ok {
		t.Fatalf("acquired %+v, want [first last count] %v", got, want)
	}
}

// TestShareGroupStateSurvivesRestart: records acquired and not
// acknowledged before a restart are available after it with their
// delivery count kept; acknowledged ones are not delivered again.
func TestShareGroupStateSurvivesRestart(t *testing.T) {
	tg := startBroker(t)
	if ok, why := tg.canRestart(); !ok {
		t.Skip(why)
	}
	if tg.name == "kfake" {
		t.Skip("kfake keeps no share-group state across its restart")
	}
	topic, group := topicName(t), topicName(t, "group")
	createTopic(t, tg, topic, 1, nil)
	admin := newKgo(t, tg)
	setShareConfigs(t, admin, group, "share.auto.offset.reset", "earliest")
	produceN(t, admin, topic, 10)

	a := newShareMember(t, tg, group, topic, "member-a")
	wantRanges(t, a.fetch(time.Second), [3]int64{0, 9, 1})
	if err := a.ack(0, 4, 1); err != nil {
		t.Fatalf("accept: %v", err)
	}
	tg.Restart(t)

	b := newShareMember(t, tg, group, topic, "member-b")
	wantRanges(t, b.fetch(time.Second), [3]int64{5, 9, 2})
	if got := startOffset(t, newKgo(t, tg), group, topic); got != 5 {
		t.Fatalf("start offset after restart %d, want 5", got)
	}
}

// TestShareGroupLockExpiryAndDeliveryLimit: a record whose lock expires is
// delivered again with its count raised; released at the delivery limit,
// it is archived and never delivered again.
func TestShareGroupLockExpiryAndDeliveryLimit(t *testing.T) {
	tg := startBroker(t)
	if tg.name == "kfake" {
		t.Skip("kfake takes the lock duration from its broker config only, not the group's share.record.lock.duration.ms")
	}
	topic, group := topicName(t), topicName(t, "group")
	createTopic(t, tg, topic, 1, nil)
	admin := newKgo(t, tg)
	setShareConfigs(t, admin, group, "share.auto.offset.reset", "earliest",
		"share.record.lock.duration.ms", "1000", "share.delivery.count.limit", "2")
	produceN(t, admin, topic, 1)

	a := newShareMember(t, tg, group, topic, "member-a")
	b := newShareMember(t, tg, group, topic, "member-b")
	wantRanges(t, a.fetch(time.Second), [3]int64{0, 0, 1})
	var got []kmsg.ShareFetchResponseTopicPartitionAcquiredRecord
	checkFor(t, 15*time.Second, func() error { // a's lock expires after a second
		if got = b.fetch(500 * time.Millisecond); len(got) == 0 {
			return fmt.Errorf("record not delivered again yet")
		}
		return nil
	})
	wantRanges(t, got, [3]int64{0, 0, 2})
	if err := a.ack(0, 0, 1); !errors.Is(err, kerr.InvalidRecordState) {
		t.Fatalf("a accepted a record it no longer holds: %v", err)
	}
	if err := b.ack(0, 0, 2); err != nil { // release at the limit: archived
		t.Fatalf("release: %v", err)
	}
	if got := a.fetch(200 * time.Millisecond); len(got) != 0 {
		t.Fatalf("an archived record was delivered again: %+v", got)
	}
	if got := startOffset(t, admin, group, topic); got != 1 {
		t.Fatalf("start offset %d, want 1 (record archived)", got)
	}
}

// TestShareGroupReadCommitted: with share.isolation.level read_committed
// (Herald's default; Kafka's is read_uncommitted), a share consumer gets
// committed transactional records and plain records, never aborted ones.
func TestShareGroupReadCommitted(t *testing.T) {
	tg := startBroker(t)
	topic, group := topicName(t), topicName(t, "group")
	createTopic(t, tg, topic, 1, nil)
	admin := newKgo(t, tg)
	setShareConfigs(t, admin, group, "share.auto.offset.reset", "earliest", "share.isolation.level", "read_committed")
	txn := newKgo(t, tg, kgo.TransactionalID(topicName(t, "txn")), kgo.DefaultProduceTopic(topic))
	ctx := testCtx(t, 30*time.Second)
	for _, c := range []struct {
		end    kgo.TransactionEndTry
		values []string
	}{{kgo.TryAbort, []string{"a1", "a2", "a3"}}, {kgo.TryCommit, []string{"c1", "c2"}}} {
		if err := txn.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for _, v := range c.values {
			if err := txn.ProduceSync(ctx, kgo.StringRecord(v)).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := txn.EndTransaction(ctx, c.end); err != nil {
			t.Fatal(err)
		}
	}
	if err := admin.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("plain")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl := newKgo(t, tg, kgo.ShareGroup(group), kgo.ConsumeTopics(topic), kgo.FetchMaxWait(200*time.Millisecond))
	var got []string
	for len(got) < 3 && ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		for _, r := range cl.PollFetches(pctx).Records() {
			got = append(got, string(r.Value))
		}
		cancel()
	}
	// One more poll: nothing else may come.
	pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	for _, r := range cl.PollFetches(pctx).Records() {
		got = append(got, string(r.Value))
	}
	cancel()
	if strings.Join(got, ",") != "c1,c2,plain" {
		t.Fatalf("share consumer got %v, want [c1 c2 plain]", got)
	}
}

// TestShareGroupAdmin: kadm lists a share group by type, describes its
// members and assignment, and resets, describes and deletes its start
// offsets once it is empty; DeleteGroups deletes it.
func TestShareGroupAdmin(t *testing.T) {
	tg := startBroker(t)
	topic, group := topicName(t), topicName(t, "group")
	createTopic(t, tg, topic, 2, nil)
	adm := newAdmin(t, tg)
	ctx := testCtx(t, 30*time.Second)
	m := newShareMember(t, tg, group, topic, "member-a")

	listed, err := adm.ListGroupsByType(ctx, []string{"share"})
	if err != nil {
		t.Fatal(err)
	}
	if l, ok := listed[group]; !ok || l.GroupType != "share" || l.State != "Stable" {
		t.Fatalf("ListGroups(share): %+v", listed)
	}
	described, err := adm.DescribeShareGroups(ctx, group)
	if err == nil {
		err = described.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	d := described[group]
	if len(d.Members) != 1 || d.Members[0].MemberID != m.id || len(d.Members[0].Assignment[topic]) != 2 {
		t.Fatalf("DescribeShareGroups: %+v", d)
	}

	if err := m.leave(); err != nil {
		t.Fatal(err)
	}
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: topic, Partition: 1, At: 0})
	alt, err := adm.AlterShareGroupOffsets(ctx, group, offs)
	if err == nil {
		err = alt.Error()
	}
	if err != nil {
		t.Fatalf("AlterShareGroupOffsets: %v", err)
	}
	desc, err := adm.DescribeShareGroupOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := desc[group].Offsets.Lookup(topic, 1); !ok || o.StartOffset != 0 || o.Lag != 0 {
		t.Fatalf("DescribeShareGroupOffsets: %+v", desc[group])
	}
	del, err := adm.DeleteShareGroupOffsets(ctx, group, topic)
	if err == nil {
		err = del.Error()
	}
	if err != nil {
		t.Fatalf("DeleteShareGroupOffsets: %v", err)
	}
	if got := startOffset(t, newKgo(t, tg), group, topic); got != -1 {
		t.Fatalf("start offset after delete %d, want -1", got)
	}
	dg, err := adm.DeleteGroups(ctx, group)
	if err == nil {
		err = dg.Error()
	}
	if errors.Is(err, kerr.GroupIDNotFound) && tg.name == "kfake" {
		err = nil // kfake forgets a share group whose offsets were deleted
	}
	if err != nil {
		t.Fatalf("DeleteGroups: %v", err)
	}
	if listed, _ := adm.ListGroupsByType(ctx, []string{"share"}); listed[group].Group != "" {
		t.Fatalf("deleted group still listed")
	}
}

// leave leaves the group (heartbeat epoch -1).
func (m *shareMember) leave() error {
	req := kmsg.NewPtrShareGroupHeartbeatRequest()
	req.GroupID, req.MemberID, req.MemberEpoch = m.group, m.id, -1
	resp, err := req.RequestWith(testCtx(m.t, 10*time.Second), m.cl)
	if err != nil {
		return err
	}
	return kerr.ErrorForCode(resp.ErrorCode)
}

// TestShareFetchWindowFullAnswersPromptly: with the in-flight window
// (share.partition.max.record.locks) full, a ShareFetch of a member that
// holds records of the window is answered long before its MaxWait (its
// client acknowledges them only with its next request, so waiting would
// stall the group), and a member holding none is woken as soon as an
// acknowledgement frees the window.
func TestShareFetchWindowFullAnswersPromptly(t *testing.T) {
	tg := startBroker(t)
	if tg.name == "kfake" {
		t.Skip("kfake has no share.partition.max.record.locks group config")
	}
	topic, group := topicName(t), topicName(t, "group")
	createTopic(t, tg, topic, 1, nil)
	admin := newKgo(t, tg)
	setShareConfigs(t, admin, group, "share.auto.offset.reset", "earliest", "share.partition.max.record.locks", "100")
	produceN(t, admin, topic, 200)

	a := newShareMember(t, tg, group, topic, "member-a")
	b := newShareMember(t, tg, group, topic, "member-b")
	wantRanges(t, a.fetch(time.Second), [3]int64{0, 99, 1}) // the window is full
	const maxWait = 10 * time.Second
	start := time.Now()
	if got := a.fetch(maxWait); len(got) != 0 {
		t.Fatalf("acquired %+v past a full window", got)
	}
	if d := time.Since(start); d >= maxWait/2 {
		t.Fatalf("a fetch blocked by the member's own records waited %v of its %v MaxWait", d, maxWait)
	}

	type result struct {
		got []kmsg.ShareFetchResponseTopicPartitionAcquiredRecord
		d   time.Duration
	}
	done := make(chan result, 1)
	go func() {
		start := time.Now()
		got := b.fetch(maxWait) // holds nothing: waits for the window
		done <- result{got, time.Since(start)}
	}()
	if err := a.ack(0, 99, 1); err != nil {
		t.Fatalf("accept: %v", err)
	}
	r := <-done
	wantRanges(t, r.got, [3]int64{100, 199, 1})
	if r.d >= maxWait/2 {
		t.Fatalf("a fetch waiting for a window freed by an acknowledgement took %v of its %v MaxWait", r.d, maxWait)
	}
}

// TestShareFetchWindowFullOpenTransactionLongPolls: past a full window
// there is only a record of an open transaction (above the last stable
// offset, not acquirable reading committed), so a member holding records
// of the window long-polls as usual rather than being answered at once
// (which would make its client poll in a loop).
func TestShareFetchWindowFullOpenTransactionLongPolls(t *testing.T) {
	tg := startBroker(t)
	if tg.name == "kfake" {
		t.Skip("kfake has no share.partition.max.record.locks group config")
	}
	topic, group := topicName(t), topicName(t, "group")
	createTopic(t, tg, topic, 1, nil)
	admin := newKgo(t, tg)
	setShareConfigs(t, admin, group, "share.auto.offset.reset", "earliest", "share.partition.max.record.locks", "100",
		"share.isolation.level", "read_committed")
	produceN(t, admin, topic, 100)
	a := newShareMember(t, tg, group, topic, "member-a")
	wantRanges(t, a.fetch(time.Second), [3]int64{0, 99, 1}) // the window is full

	txn := newKgo(t, tg, kgo.TransactionalID(topicName(t, "txn")), kgo.DefaultProduceTopic(topic))
	if err := txn.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := txn.ProduceSync(testCtx(t, 10*time.Second), kgo.StringRecord("open")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	const maxWait = time.Second
	start := time.Now()
	if got := a.fetch(maxWait); len(got) != 0 {
		t.Fatalf("acquired %+v past a full window", got)
	}
	if d := time.Since(start); d < maxWait/2 {
		t.Fatalf("answered after %v of a %v MaxWait with nothing acquirable past the window", d, maxWait)
	}
}

// TestShareFetchRotatesPartitions: every partition of a share session has
// a backlog larger than a fetch's MaxRecords; successive fetches start at
// successive partitions (as Kafka's broker rotates them by session
// epoch), so that all of them are served rather than the first listed
// until it is drained.
func TestShareFetchRotatesPartitions(t *testing.T) {
	tg := startBroker(t)
	topic, group := topicName(t), topicName(t, "group")
	const parts, backlog, maxRecords = 3, 300, 100
	createTopic(t, tg, topic, parts, nil)
	admin := newKgo(t, tg, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	setShareConfigs(t, admin, group, "share.auto.offset.reset", "earliest")
	var rs []*kgo.Record
	for p := range int32(parts) {
		for i := range backlog {
			rs = append(rs, &kgo.Record{Topic: topic, Partition: p, Value: []byte(strconv.Itoa(i))})
		}
	}
	if err := admin.ProduceSync(testCtx(t, 20*time.Second), rs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	m := newShareMember(t, tg, group, topic, "member-a")
	if len(m.parts) != parts {
		t.Fatalf("assigned partitions %v, want all %d", m.parts, parts)
	}
	served := map[int32]int{} // fetches that acquired records of each partition
	for range parts {
		for p := range m.fetchParts(time.Second, maxRecords) {
			served[p]++
		}
	}
	if len(served) != parts {
		t.Fatalf("%d fetches of %d records served partitions %v (fetches per partition), want all %d", parts, maxRecords, served, parts)
	}
}
