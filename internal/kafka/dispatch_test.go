package kafka

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestAPIsWithinKmsg: every advertised version is one kmsg can decode, and
// each key appears once.
func TestAPIsWithinKmsg(t *testing.T) {
	seen := map[int16]bool{}
	for _, a := range apis {
		if seen[a.key] {
			t.Errorf("key %d listed twice", a.key)
		}
		seen[a.key] = true
		req := kmsg.RequestForKey(a.key)
		if req == nil {
			t.Fatalf("kmsg does not know key %d", a.key)
		}
		if a.min < 0 || a.min > a.max || a.max > req.MaxVersion() {
			t.Errorf("key %d (%s): versions %d-%d, kmsg max %d", a.key, kmsg.NameForKey(a.key), a.min, a.max, req.MaxVersion())
		}
	}
}

func TestApiVersions(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dial(t)
	for v := int16(0); v <= 4; v++ {
		req := kmsg.NewPtrApiVersionsRequest()
		req.SetVersion(v)
		req.ClientSoftwareName, req.ClientSoftwareVersion = "test", "1"
		resp := c.roundTrip(req).(*kmsg.ApiVersionsResponse)
		if resp.ErrorCode != 0 {
			t.Fatalf("v%d: error %d", v, resp.ErrorCode)
		}
		checkTable(t, resp.ApiKeys)
	}
	// A version newer than we know: the v0 answer with UNSUPPORTED_VERSION
	// and the table, on a connection that stays open.
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(5)
	corr := c.send(req)
	v0 := kmsg.NewPtrApiVersionsRequest()
	v0.SetVersion(0)
	resp := c.recv(v0, corr).(*kmsg.ApiVersionsResponse)
	if resp.ErrorCode != kerr.UnsupportedVersion.Code {
		t.Fatalf("v5: error %d, want UNSUPPORTED_VERSION", resp.ErrorCode)
	}
	checkTable(t, resp.ApiKeys)
	if r := c.roundTrip(v0).(*kmsg.ApiVersionsResponse); r.ErrorCode != 0 {
		t.Fatal("connection unusable after UNSUPPORTED_VERSION")
	}
}

func checkTable(t *testing.T, keys []kmsg.ApiVersionsResponseApiKey) {
	t.Helper()
	// The test server has no transaction coordinator, so the table
	// leaves the transactional keys out.
	want := appendApiKeys(nil, false)
	if len(keys) != len(want) {
		t.Fatalf("%d keys, want %d", len(keys), len(want))
	}
	for i, k := range keys {
		if a := want[i]; k.ApiKey != a.ApiKey || k.MinVersion != a.MinVersion || k.MaxVersion != a.MaxVersion {
			t.Fatalf("key %d: got %d %d-%d", a.ApiKey, k.ApiKey, k.MinVersion, k.MaxVersion)
		}
	}
}

// TestBadFrames: each bad frame closes its connection only.
func TestBadFrames(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.MaxRequestBytes = 1 << 16 })
	header := func(key, version int16) []byte {
		b := binary.BigEndian.AppendUint16(nil, uint16(key))
		b = binary.BigEndian.AppendUint16(b, uint16(version))
		b = binary.BigEndian.AppendUint32(b, 1)
		return binary.BigEndian.AppendUint16(b, 0xffff) // null client id
	}
	frame := func(body []byte) []byte {
		return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
	}
	full := kmsg.NewRequestFormatter().AppendRequest(nil, produceReq(9, "t", 0, makeBatch(1, 10, 1)), 1)
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"negative size", []byte{0xff, 0xff, 0xff, 0xf0}},
		{"over the limit", binary.BigEndian.AppendUint32(nil, 1<<20)},
		{"http", []byte("GET / HTTP/1.1\r\n\r\n")},
		{"shorter than a header", frame([]byte{0, 1, 2})},
		{"unknown key", frame(header(999, 0))},
		{"unsupported version", frame(header(3, 14))},
		{"fetch below min", frame(header(1, 3))},
		{"truncated body", frame(append(header(3, 1), 0, 0, 0, 5))},
		{"truncated produce", append(binary.BigEndian.AppendUint32(nil, uint32(len(full)-10)), full[4:len(full)-6]...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bystander := ts.dial(t)
			c := ts.dial(t)
			if _, err := c.nc.Write(tc.in); err != nil {
				t.Fatal(err)
			}
			if !c.closed() {
				t.Fatal("connection stayed open")
			}
			req := kmsg.NewPtrApiVersionsRequest()
			if r := bystander.roundTrip(req).(*kmsg.ApiVersionsResponse); r.ErrorCode != 0 {
				t.Fatal("other connection broken")
			}
		})
	}
}

func TestMaxConnections(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.MaxConnections = 2 })
	a, b := ts.dial(t), ts.dial(t)
	a.roundTrip(kmsg.NewPtrApiVersionsRequest())
	b.roundTrip(kmsg.NewPtrApiVersionsRequest())
	if c := ts.dial(t); !c.closed() {
		t.Fatal("third connection accepted")
	}
	a.nc.Close()
	deadline := time.Now().Add(5 * time.Second)
	for ts.s.nconns.Load() > 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	ts.dial(t).roundTrip(kmsg.NewPtrApiVersionsRequest())
}

func createTopic(t *testing.T, c *client, name string, partitions int32, configs map[string]string) *kmsg.CreateTopicsResponseTopic {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.SetVersion(7)
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, 1
	for k, v := range configs {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = k, kmsg.StringPtr(v)
		rt.Configs = append(rt.Configs, c)
	}
	req.Topics = append(req.Topics, rt)
	resp := c.roundTrip(req).(*kmsg.CreateTopicsResponse)
	return &resp.Topics[0]
}

func TestCreateTopicErrors(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dial(t)
	for _, tc := range []struct {
		name    string
		topic   string
		parts   int32
		configs map[string]string
		code    int16
	}{
		{"ok", "good", 2, map[string]string{"retention.ms": "1000"}, 0},
		{"exists", "good", 2, nil, kerr.TopicAlreadyExists.Code},
		{"bad name", "bad/name", 1, nil, kerr.InvalidTopicException.Code},
		{"dotdot", "..", 1, nil, kerr.InvalidTopicException.Code},
		{"zero partitions", "zero", 0, nil, kerr.InvalidPartitions.Code},
		{"bad config", "cfg", 1, map[string]string{"retention.ms": "soon"}, kerr.InvalidConfig.Code},
		{"unknown config", "cfg", 1, map[string]string{"nope": "1"}, kerr.InvalidConfig.Code},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := createTopic(t, c, tc.topic, tc.parts, tc.configs)
			if rt.ErrorCode != tc.code {
				t.Fatalf("error %d (%v), want %d", rt.ErrorCode, rt.ErrorMessage, tc.code)
			}
		})
	}
}

// TestProduceErrors: per-partition errors keep the connection open.
func TestProduceErrors(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dial(t)
	createTopic(t, c, "small", 1, map[string]string{"max.message.bytes": "1000"})
	corrupt := makeBatch(2, 10, 1)
	corrupt[len(corrupt)-1] ^= 1
	badCount := makeBatch(2, 10, 1)
	binary.BigEndian.PutUint32(badCount[57:], 3)
	badCount[17], badCount[18] = 0, 0
	two := append(makeBatch(1, 1, 1), makeBatch(1, 1, 1)...)
	for _, tc := range []struct {
		name    string
		version int16
		topic   string
		part    int32
		batch   []byte
		code    int16
	}{
		{"ok", 9, "small", 0, makeBatch(3, 10, 1), 0},
		{"crc", 9, "small", 0, corrupt, kerr.CorruptMessage.Code},
		{"invalid", 9, "small", 0, fixCRC(badCount), kerr.InvalidRecord.Code},
		{"two batches", 9, "small", 0, two, kerr.InvalidRecord.Code},
		{"truncated", 9, "small", 0, makeBatch(1, 10, 1)[:40], kerr.CorruptMessage.Code},
		{"too large", 9, "small", 0, makeBatch(1, 2000, 1), kerr.MessageTooLarge.Code},
		{"unknown topic", 9, "nope", 0, makeBatch(1, 1, 1), kerr.UnknownTopicOrPartition.Code},
		{"unknown partition", 9, "small", 7, makeBatch(1, 1, 1), kerr.UnknownTopicOrPartition.Code},
		{"v2 unsupported", 2, "small", 0, makeBatch(1, 1, 1), kerr.UnsupportedVersion.Code},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := c.roundTrip(produceReq(tc.version, tc.topic, tc.part, tc.batch)).(*kmsg.ProduceResponse)
			if got := resp.Topics[0].Partitions[0].ErrorCode; got != tc.code {
				t.Fatalf("error %d (%v), want %d", got, resp.Topics[0].Partitions[0].ErrorMessage, tc.code)
			}
		})
	}
	resp := c.roundTrip(produceReq(9, "small", 0, makeBatch(1, 1, 1))).(*kmsg.ProduceResponse)
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.BaseOffset != 3 {
		t.Fatalf("after errors: %+v", p)
	}
}

func fixCRC(b []byte) []byte {
	// records.SetCRC, without importing it twice in the table
	return setCRC(b)
}

// TestPipelinedProduce sends many acks=-1 produce requests without
// waiting and checks the answers come back in order with ascending offsets.
func TestPipelinedProduce(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dial(t)
	createTopic(t, c, "p", 1, nil)
	const n = 50
	var corrs []int32
	for range n {
		corrs = append(corrs, c.send(produceReq(9, "p", 0, makeBatch(2, 100, 1))))
	}
	for i, corr := range corrs {
		resp := c.recv(produceReq(9, "p", 0, nil), corr).(*kmsg.ProduceResponse)
		if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.BaseOffset != int64(2*i) {
			t.Fatalf("request %d: %+v", i, p)
		}
	}
}

func TestFetchLongPoll(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dial(t)
	createTopic(t, c, "f", 1, nil)
	start := time.Now()
	corr := c.send(fetchReq(12, "f", 0, 0, 5*time.Second))
	time.Sleep(100 * time.Millisecond)
	p := ts.dial(t)
	p.roundTrip(produceReq(9, "f", 0, makeBatch(3, 10, 1)))
	resp := c.recv(fetchReq(12, "f", 0, 0, 0), corr).(*kmsg.FetchResponse)
	if time.Since(start) > 4*time.Second {
		t.Fatalf("long poll did not wake on produce")
	}
	fp := resp.Topics[0].Partitions[0]
	if fp.ErrorCode != 0 || fp.HighWatermark != 3 || len(fp.RecordBatches) == 0 {
		t.Fatalf("fetch: %+v", fp)
	}
	// Past the end: OFFSET_OUT_OF_RANGE; at the end with no wait: empty.
	resp = c.roundTrip(fetchReq(12, "f", 0, 10, 0)).(*kmsg.FetchResponse)
	if fp := resp.Topics[0].Partitions[0]; fp.ErrorCode != kerr.OffsetOutOfRange.Code {
		t.Fatalf("past end: %+v", fp)
	}
	start = time.Now()
	resp = c.roundTrip(fetchReq(12, "f", 0, 3, 200*time.Millisecond)).(*kmsg.FetchResponse)
	// An empty record set is sent as length 0, not null: librdkafka
	// refuses a null one.
	if fp := resp.Topics[0].Partitions[0]; fp.ErrorCode != 0 || fp.RecordBatches == nil || len(fp.RecordBatches) != 0 || time.Since(start) < 150*time.Millisecond {
		t.Fatalf("at end: %+v after %v", fp, time.Since(start))
	}
}

// TestCloseAnswersLongPoll: Close answers a waiting fetch at once instead
// of waiting out max wait.
func TestCloseAnswersLongPoll(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dial(t)
	createTopic(t, c, "f", 1, nil)
	corr := c.send(fetchReq(12, "f", 0, 0, time.Minute))
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	ts.s.Close()
	if time.Since(start) > 5*time.Second {
		t.Fatal("Close waited for the long poll")
	}
	c.recv(fetchReq(12, "f", 0, 0, 0), corr)
}

// TestAcksZero: no answers, and an error closes the connection.
func TestAcksZero(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dial(t)
	createTopic(t, c, "z", 1, nil)
	req := produceReq(9, "z", 0, makeBatch(1, 1, 1))
	req.Acks = 0
	c.send(req)
	// The next answer is the ApiVersions one.
	if r := c.roundTrip(kmsg.NewPtrApiVersionsRequest()).(*kmsg.ApiVersionsResponse); r.ErrorCode != 0 {
		t.Fatal(r.ErrorCode)
	}
	bad := produceReq(9, "nope", 0, makeBatch(1, 1, 1))
	bad.Acks = 0
	c.send(bad)
	if !c.closed() {
		t.Fatal("acks=0 error did not close the connection")
	}
	lo := kmsg.NewPtrListOffsetsRequest()
	lo.SetVersion(4)
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = "z"
	lp := kmsg.NewListOffsetsRequestTopicPartition()
	lp.Timestamp = -1
	lt.Partitions = append(lt.Partitions, lp)
	lo.Topics = append(lo.Topics, lt)
	// acks=0 does not wait for the fsync that moves the high watermark.
	lc := ts.dial(t)
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := lc.roundTrip(lo).(*kmsg.ListOffsetsResponse)
		if r.Topics[0].Partitions[0].Offset == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("acks=0 record not stored: %+v", r.Topics[0].Partitions[0])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestUnsupportedKeyAnswered: a request for an API Herald does not serve,
// whose response has a top-level error code (DescribeQuorum here), is
// answered UNSUPPORTED_VERSION and the connection stays usable, as the
// protocol allows; one whose response cannot carry the error closes.
func TestUnsupportedKeyAnswered(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dial(t)
	req := kmsg.NewPtrDescribeQuorumRequest()
	req.SetVersion(1)
	resp := c.roundTrip(req).(*kmsg.DescribeQuorumResponse)
	if resp.ErrorCode != kerr.UnsupportedVersion.Code {
		t.Fatalf("DescribeQuorum: error %v, want UNSUPPORTED_VERSION", kerr.ErrorForCode(resp.ErrorCode))
	}
	if r := c.roundTrip(kmsg.NewPtrApiVersionsRequest()).(*kmsg.ApiVersionsResponse); r.ErrorCode != 0 {
		t.Fatalf("ApiVersions after the unsupported request: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if unsupportedResponse(1, 3) != nil {
		t.Fatal("Fetch v3 has no top-level error code, yet an answer was made")
	}
	if unsupportedResponse(999, 0) != nil {
		t.Fatal("an unknown key got an answer")
	}
}
