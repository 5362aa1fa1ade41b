package kafka

import (
	"encoding/binary"
	"net"
	"slices"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/group"
	"github.com/heraldhq/herald/internal/records"
	"github.com/heraldhq/herald/internal/share"
	"github.com/heraldhq/herald/internal/txn"
)

// grant is one row of a tableAuth: principal may do op to (rt, name).
type grant struct {
	principal string
	op        access.Operation
	rt        access.ResourceType
	name      string
}

func (g grant) String() string {
	return g.principal + " " + g.op.String() + " " + g.rt.String() + " " + g.name
}

// anon is a grant to the only principal there is until SASL.
func anon(op access.Operation, rt access.ResourceType, name string) grant {
	return grant{principal: access.Anonymous.String(), op: op, rt: rt, name: name}
}

// tableAuth is the test authorizer: a table of allowed (principal, op,
// resource) triples, or everything while open.
type tableAuth struct {
	mu struct {
		sync.Mutex
		open   bool
		grants map[grant]bool
	}
}

func newTableAuth() *tableAuth {
	a := &tableAuth{}
	a.mu.open = true
	return a
}

// allowOnly closes the table to exactly gs.
func (a *tableAuth) allowOnly(gs ...grant) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.mu.open = false
	a.mu.grants = map[grant]bool{}
	for _, g := range gs {
		a.mu.grants[g] = true
	}
}

func (a *tableAuth) Authorize(rc access.Request, acts []access.Action) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := range acts {
		g := grant{principal: rc.Principal.String(), op: acts[i].Op, rt: acts[i].Type, name: acts[i].Name}
		acts[i].Allowed = a.mu.open || a.mu.grants[g]
	}
}

// seamServer is a server with groups, transactions and a tableAuth; it
// records the API keys whose requests reached the seam.
type seamServer struct {
	*testServer
	auth *tableAuth
	mu   sync.Mutex
	seen map[int16]bool
}

func startSeamServer(t *testing.T) *seamServer {
	t.Helper()
	ss := &seamServer{auth: newTableAuth()}
	return startSeamServerWith(t, ss, func(cfg *Config) { cfg.Authorizer = ss.auth })
}

// startSeamServerWith starts ss's server with the Config edit sets (the
// authorizer).
func startSeamServerWith(t *testing.T, ss *seamServer, edit func(*Config)) *seamServer {
	t.Helper()
	ss.seen = map[int16]bool{}
	// Durability none: the matrix starts a hundred servers and tests
	// access, not fsync.
	b, err := broker.Open(broker.Config{DataDir: t.TempDir(), Durability: "none", AutoCreateTopics: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	co, err := group.OpenCoordinator(group.CoordinatorConfig{Broker: b, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	pm := txn.NewManager(txn.ManagerConfig{Logger: quiet})
	tc, err := txn.Open(txn.Config{Broker: b, Groups: co, Producers: pm, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	b.SetProducerState(pm)
	sh, err := share.Open(share.Config{Broker: b, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Broker: b, Groups: co, Txn: tc, Share: sh, Logger: quiet, Credentials: auth.NewStore(nil, nil),
		AdvertisedHost: "127.0.0.1", AdvertisedPort: int32(ln.Addr().(*net.TCPAddr).Port),
		Observe: func(rc access.Request, acts []access.Action) {
			ss.mu.Lock()
			ss.seen[rc.APIKey] = true
			ss.mu.Unlock()
		},
	}
	edit(&cfg)
	s := New(cfg)
	go s.Serve(ln)
	t.Cleanup(func() {
		s.Close()
		sh.Close()
		tc.Close()
		co.Close()
		pm.Close()
		b.Close()
	})
	ss.testServer = &testServer{s: s, b: b, addr: ln.Addr().String()}
	return ss
}

// fixture is the state every case starts from, made with everything
// allowed: topic "t" with one record, group "g" with a committed offset
// (empty, classic), and the ids of an idempotent producer and of
// transactional id "tx".
type fixture struct {
	idemPID    int64
	idemEpoch  int16
	txPID      int64
	txEpoch    int16
	member     string // a member of classic group "jg", when joined
	generation int32
}

func makeFixture(t *testing.T, ts *seamServer, c *client) *fixture {
	t.Helper()
	if _, err := ts.b.CreateTopic("t", 1, nil, false); err != nil {
		t.Fatal(err)
	}
	if p := produceAnswer(t, c, "t", makeBatch(1, 10, 1)); p.ErrorCode != 0 {
		t.Fatalf("fixture produce: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	cr := c.roundTrip(commitReq("g", "t", 1)).(*kmsg.OffsetCommitResponse)
	if code := cr.Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("fixture commit: %v", kerr.ErrorForCode(code))
	}
	fx := &fixture{}
	fx.idemPID, fx.idemEpoch = initPID(t, c, nil)
	tx := "tx"
	fx.txPID, fx.txEpoch = initPID(t, c, &tx)
	return fx
}

func initPID(t *testing.T, c *client, txnID *string) (int64, int16) {
	t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionalID, req.TransactionTimeoutMillis = txnID, 60000
	resp := c.roundTrip(req).(*kmsg.InitProducerIDResponse)
	if resp.ErrorCode != 0 {
		t.Fatalf("init producer id: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	return resp.ProducerID, resp.ProducerEpoch
}

// producerBatch is a one-record batch of an idempotent or transactional
// producer.
func producerBatch(pid int64, epoch int16, transactional bool) []byte {
	b := makeBatch(1, 10, 1)
	binary.BigEndian.PutUint64(b[43:], uint64(pid))
	binary.BigEndian.PutUint16(b[51:], uint16(epoch))
	binary.BigEndian.PutUint32(b[53:], 0)
	if transactional {
		binary.BigEndian.PutUint16(b[21:], records.AttrTransactional)
	}
	return setCRC(b)
}

// seamCase is one API of the matrix: with every grant in needs the
// request answers ok (on the code that code extracts); without any one of
// them it answers that grant's resource type's *_AUTHORIZATION_FAILED.
type seamCase struct {
	name  string
	needs []grant
	setup func(t *testing.T, c *client, fx *fixture) // runs with everything allowed
	req   func(fx *fixture) kmsg.Request
	code  func(kmsg.Response) int16
	ok    int16
}

var (
	topicT     = func(op access.Operation) grant { return anon(op, access.Topic, "t") }
	groupG     = func(op access.Operation) grant { return anon(op, access.Group, "g") }
	txnTX      = func(op access.Operation) grant { return anon(op, access.TransactionalID, "tx") }
	clusterOp  = func(op access.Operation) grant { return anon(op, access.Cluster, access.ClusterName) }
	deniedCode = map[access.ResourceType]int16{
		access.Topic:           kerr.TopicAuthorizationFailed.Code,
		access.Group:           kerr.GroupAuthorizationFailed.Code,
		access.Cluster:         kerr.ClusterAuthorizationFailed.Code,
		access.TransactionalID: kerr.TransactionalIDAuthorizationFailed.Code,
	}
)

func addPartitionsReq(fx *fixture) *kmsg.AddPartitionsToTxnRequest {
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = 3
	req.TransactionalID, req.ProducerID, req.ProducerEpoch = "tx", fx.txPID, fx.txEpoch
	rt := kmsg.NewAddPartitionsToTxnRequestTopic()
	rt.Topic, rt.Partitions = "t", []int32{0}
	req.Topics = append(req.Topics, rt)
	return req
}

func addOffsetsReq(fx *fixture) *kmsg.AddOffsetsToTxnRequest {
	req := kmsg.NewPtrAddOffsetsToTxnRequest()
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group = "tx", fx.txPID, fx.txEpoch, "g"
	return req
}

// mustAnswer runs req in a setup and fails on a non-zero code.
func mustAnswer(t *testing.T, c *client, req kmsg.Request, code func(kmsg.Response) int16) {
	t.Helper()
	if got := code(c.roundTrip(req)); got != 0 {
		t.Fatalf("setup %T: %v", req, kerr.ErrorForCode(got))
	}
}

// joinJG joins a member to classic group "jg" (v3: no member-id round
// trip) and syncs it, so the group is stable.
func joinJG(t *testing.T, c *client, fx *fixture) {
	t.Helper()
	req := kmsg.NewPtrJoinGroupRequest()
	req.SetVersion(3)
	req.Group, req.ProtocolType = "jg", "consumer"
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 30000, 30000
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name, p.Metadata = "range", []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	req.Protocols = append(req.Protocols, p)
	resp := c.roundTrip(req).(*kmsg.JoinGroupResponse)
	if resp.ErrorCode != 0 {
		t.Fatalf("join: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	fx.member, fx.generation = resp.MemberID, resp.Generation
	mustAnswer(t, c, syncReq(fx), func(r kmsg.Response) int16 { return r.(*kmsg.SyncGroupResponse).ErrorCode })
}

func syncReq(fx *fixture) *kmsg.SyncGroupRequest {
	req := kmsg.NewPtrSyncGroupRequest()
	req.Group, req.MemberID, req.Generation = "jg", fx.member, fx.generation
	a := kmsg.NewSyncGroupRequestGroupAssignment()
	a.MemberID, a.MemberAssignment = fx.member, []byte{0, 0, 0, 0, 0, 0, 0, 0}
	req.GroupAssignment = append(req.GroupAssignment, a)
	return req
}

func jg(op access.Operation) grant { return anon(op, access.Group, "jg") }

// seamCases is the matrix: every API of the dispatch table that meets a
// resource, with the permissions Kafka's KafkaApis checks for it.
func seamCases() []seamCase {
	firstProduce := func(r kmsg.Response) int16 {
		return r.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode
	}
	cases := []seamCase{
		{
			name: "Produce", needs: []grant{topicT(access.Write)},
			req:  func(*fixture) kmsg.Request { return produceReq(9, "t", 0, makeBatch(1, 10, 1)) },
			code: firstProduce,
		},
		{
			name: "ProduceIdempotent", needs: []grant{topicT(access.Write), clusterOp(access.IdempotentWrite)},
			req: func(fx *fixture) kmsg.Request {
				return produceReq(9, "t", 0, producerBatch(fx.idemPID, fx.idemEpoch, false))
			},
			code: firstProduce,
		},
		{
			name: "ProduceTransactional", needs: []grant{topicT(access.Write), txnTX(access.Write)},
			setup: func(t *testing.T, c *client, fx *fixture) {
				mustAnswer(t, c, addPartitionsReq(fx), func(r kmsg.Response) int16 {
					return r.(*kmsg.AddPartitionsToTxnResponse).Topics[0].Partitions[0].ErrorCode
				})
			},
			req: func(fx *fixture) kmsg.Request {
				req := produceReq(9, "t", 0, producerBatch(fx.txPID, fx.txEpoch, true))
				req.TransactionID = kmsg.StringPtr("tx")
				return req
			},
			code: firstProduce,
		},
		{
			name: "Fetch", needs: []grant{topicT(access.Read)},
			req: func(*fixture) kmsg.Request { return fetchReq(12, "t", 0, 0, 0) },
			code: func(r kmsg.Response) int16 {
				return r.(*kmsg.FetchResponse).Topics[0].Partitions[0].ErrorCode
			},
		},
		{
			name: "ListOffsets", needs: []grant{topicT(access.Describe)},
			req: func(*fixture) kmsg.Request {
				req := kmsg.NewPtrListOffsetsRequest()
				req.Version = 7
				rt := kmsg.NewListOffsetsRequestTopic()
				rt.Topic = "t"
				rp := kmsg.NewListOffsetsRequestTopicPartition()
				rp.Timestamp = -1
				rt.Partitions = append(rt.Partitions, rp)
				req.Topics = append(req.Topics, rt)
				return req
			},
			code: func(r kmsg.Response) int16 {
				return r.(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0].ErrorCode
			},
		},
		{
			name: "OffsetForLeaderEpoch", needs: []grant{topicT(access.Describe)},
			req: func(*fixture) kmsg.Request {
				req := kmsg.NewPtrOffsetForLeaderEpochRequest()
				req.Version = 3
				rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
				rt.Topic = "t"
				rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
				rt.Partitions = append(rt.Partitions, rp)
				req.Topics = append(req.Topics, rt)
				return req
			},
			code: func(r kmsg.Response) int16 {
				return r.(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions[0].ErrorCode
			},
		},
		{
			name: "MetadataNamed", needs: []grant{topicT(access.Describe)},
			req: func(*fixture) kmsg.Request {
				req := kmsg.NewPtrMetadataRequest()
				req.Version = 12
				rt := kmsg.NewMetadataRequestTopic()
				rt.Topic = kmsg.StringPtr("t")
				req.Topics = append(req.Topics, rt)
				return req
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.MetadataResponse).Topics[0].ErrorCode },
		},
		{
			name:  "MetadataAutoCreate",
			needs: []grant{anon(access.Describe, access.Topic, "auto"), anon(access.Create, access.Topic, "auto")},
			req: func(*fixture) kmsg.Request {
				req := kmsg.NewPtrMetadataRequest()
				req.Version, req.AllowAutoTopicCreation = 12, true
				rt := kmsg.NewMetadataRequestTopic()
				rt.Topic = kmsg.StringPtr("auto")
				req.Topics = append(req.Topics, rt)
				return req
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.MetadataResponse).Topics[0].ErrorCode },
		},
		{
			name: "OffsetCommit", needs: []grant{groupG(access.Read), topicT(access.Read)},
			req: func(*fixture) kmsg.Request { return commitReq("g", "t", 1) },
			code: func(r kmsg.Response) int16 {
				return r.(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
			},
		},
		{
			name: "OffsetFetchV7", needs: []grant{groupG(access.Describe), topicT(access.Describe)},
			req: func(*fixture) kmsg.Request {
				req := kmsg.NewPtrOffsetFetchRequest()
				req.Version, req.Group = 7, "g"
				req.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{0}}}
				return req
			},
			code: func(r kmsg.Response) int16 {
				return r.(*kmsg.OffsetFetchResponse).Topics[0].Partitions[0].ErrorCode
			},
		},
		{
			name: "OffsetFetchV8", needs: []grant{groupG(access.Describe), topicT(access.Describe)},
			req: func(*fixture) kmsg.Request {
				req := kmsg.NewPtrOffsetFetchRequest()
				req.Version = 8
				g := kmsg.NewOffsetFetchRequestGroup()
				g.Group = "g"
				g.Topics = []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t", Partitions: []int32{0}}}
				req.Groups = append(req.Groups, g)
				return req
			},
			code: func(r kmsg.Response) int16 {
				g := r.(*kmsg.OffsetFetchResponse).Groups[0]
				if g.ErrorCode != 0 {
					return g.ErrorCode
				}
				return g.Topics[0].Partitions[0].ErrorCode
			},
		},
		{
			name: "FindCoordinatorGroup", needs: []grant{groupG(access.Describe)},
			req: func(*fixture) kmsg.Request {
				req := kmsg.NewPtrFindCoordinatorRequest()
				req.Version, req.CoordinatorKeys = 4, []string{"g"}
				return req
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.FindCoordinatorResponse).Coordinators[0].ErrorCode },
		},
		{
			name: "FindCoordinatorTxn", needs: []grant{txnTX(access.Describe)},
			req: func(*fixture) kmsg.Request {
				req := kmsg.NewPtrFindCoordinatorRequest()
				req.Version, req.CoordinatorKey, req.CoordinatorType = 3, "tx", coordinatorTxn
				return req
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.FindCoordinatorResponse).ErrorCode },
		},
		{
			name: "JoinGroup", needs: []grant{jg(access.Read)},
			req: func(*fixture) kmsg.Request {
				req := kmsg.NewPtrJoinGroupRequest()
				req.SetVersion(3)
				req.Group, req.ProtocolType = "jg", "consumer"
				req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 30000, 30000
				p := kmsg.NewJoinGroupRequestProtocol()
				p.Name, p.Metadata = "range", []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
				req.Protocols = append(req.Protocols, p)
				return req
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.JoinGroupResponse).ErrorCode },
		},
		{
			name: "SyncGroup", needs: []grant{jg(access.Read)}, setup: joinJG,
			req:  func(fx *fixture) kmsg.Request { return syncReq(fx) },
			code: func(r kmsg.Response) int16 { return r.(*kmsg.SyncGroupResponse).ErrorCode },
		},
		{
			name: "Heartbeat", needs: []grant{jg(access.Read)}, setup: joinJG,
			req: func(fx *fixture) kmsg.Request {
				req := kmsg.NewPtrHeartbeatRequest()
				req.Group, req.MemberID, req.Generation = "jg", fx.member, fx.generation
				return req
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.HeartbeatResponse).ErrorCode },
		},
		{
			name: "LeaveGroup", needs: []grant{jg(access.Read)}, setup: joinJG,
			req: func(fx *fixture) kmsg.Request {
				req := kmsg.NewPtrLeaveGroupRequest()
				req.Version, req.Group = 3, "jg"
				m := kmsg.NewLeaveGroupRequestMember()
				m.MemberID = fx.member
				req.Members = append(req.Members, m)
				return req
			},
			code: func(r kmsg.Response) int16 {
				resp := r.(*kmsg.LeaveGroupResponse)
				if resp.ErrorCode != 0 {
					return resp.ErrorCode
				}
				return resp.Members[0].ErrorCode
			},
		},
		{
			name: "DescribeGroups", needs: []grant{groupG(access.Describe)},
			req: func(*fixture) kmsg.Request {
				req := kmsg.NewPtrDescribeGroupsRequest()
				req.Groups = []string{"g"}
				return req
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.DescribeGroupsResponse).Groups[0].ErrorCode },
		},
		{
			name: "CreateTopics", needs: []grant{anon(access.Create, access.Topic, "new")},
			req: func(*fixture) kmsg.Request {
				req := kmsg.NewPtrCreateTopicsRequest()
				rt := kmsg.NewCreateTopicsRequestTopic()
				rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "new", 1, 1
				req.Topics = append(req.Topics, rt)
				return req
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode },
		},
		{
			name: "DeleteTopics", needs: []grant{topicT(access.Delete)},
			req: func(*fixture) kmsg.Request {
				req := kmsg.NewPtrDeleteTopicsRequest()
				req.Version, req.TopicNames = 5, []string{"t"}
				return req
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.DeleteTopicsResponse).Topics[0].ErrorCode },
		},
		{
			name: "DeleteRecords", needs: []grant{topicT(access.Delete)},
			req: func(*fixture) kmsg.Request {
				req := kmsg.NewPtrDeleteRecordsRequest()
				rt := kmsg.NewDeleteRecordsRequestTopic()
				rt.Topic = "t"
				rp := kmsg.NewDeleteRecordsRequestTopicPartition()
				rp.Offset = 1
				rt.Partitions = append(rt.Partitions, rp)
				req.Topics = append(req.Topics, rt)
				return req
			},
			code: func(r kmsg.Response) int16 {
				return r.(*kmsg.DeleteRecordsResponse).Topics[0].Partitions[0].ErrorCode
			},
		},
		{
			name: "InitProducerIDTransactional", needs: []grant{txnTX(access.Write)},
			req: func(*fixture) kmsg.Request {
				req := kmsg.NewPtrInitProducerIDRequest()
				req.TransactionalID, req.TransactionTimeoutMillis = kmsg.StringPtr("tx"), 60000
				return req
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.InitProducerIDResponse).ErrorCode },
		},
		{
			name: "InitProducerIDIdempotent", needs: []grant{clusterOp(access.IdempotentWrite)},
			req: func(*fixture) kmsg.Request {
				req := kmsg.NewPtrInitProducerIDRequest()
				req.TransactionTimeoutMillis = 60000
				return req
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.InitProducerIDResponse).ErrorCode },
		},
		{
			name: "AddPartitionsToTxn", needs: []grant{txnTX(access.Write), topicT(access.Write)},
			req: func(fx *fixture) kmsg.Request { return addPartitionsReq(fx) },
			code: func(r kmsg.Response) int16 {
				return r.(*kmsg.AddPartitionsToTxnResponse).Topics[0].Partitions[0].ErrorCode
			},
		},
		{
			name: "AddOffsetsToTxn", needs: []grant{txnTX(access.Write), groupG(access.Read)},
			req:  func(fx *fixture) kmsg.Request { return addOffsetsReq(fx) },
			code: func(r kmsg.Response) int16 { return r.(*kmsg.AddOffsetsToTxnResponse).ErrorCode },
		},
		{
			name: "EndTxn", needs: []grant{txnTX(access.Write)},
			setup: func(t *testing.T, c *client, fx *fixture) {
				mustAnswer(t, c, addPartitionsReq(fx), func(r kmsg.Response) int16 {
					return r.(*kmsg.AddPartitionsToTxnResponse).Topics[0].Partitions[0].ErrorCode
				})
			},
			req: func(fx *fixture) kmsg.Request {
				req := kmsg.NewPtrEndTxnRequest()
				req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = "tx", fx.txPID, fx.txEpoch, false
				return req
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.EndTxnResponse).ErrorCode },
		},
		{
			name:  "TxnOffsetCommit",
			needs: []grant{txnTX(access.Write), groupG(access.Read), topicT(access.Read)},
			setup: func(t *testing.T, c *client, fx *fixture) {
				mustAnswer(t, c, addOffsetsReq(fx), func(r kmsg.Response) int16 {
					return r.(*kmsg.AddOffsetsToTxnResponse).ErrorCode
				})
			},
			req: func(fx *fixture) kmsg.Request {
				req := kmsg.NewPtrTxnOffsetCommitRequest()
				req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = "tx", "g", fx.txPID, fx.txEpoch
				rt := kmsg.NewTxnOffsetCommitRequestTopic()
				rt.Topic = "t"
				rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
				rp.Offset = 1
				rt.Partitions = append(rt.Partitions, rp)
				req.Topics = append(req.Topics, rt)
				return req
			},
			code: func(r kmsg.Response) int16 {
				return r.(*kmsg.TxnOffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
			},
		},
		{
			name: "DescribeConfigsTopic", needs: []grant{topicT(access.DescribeConfigs)},
			req:  func(*fixture) kmsg.Request { return describeConfigsReq(kmsg.ConfigResourceTypeTopic, "t") },
			code: func(r kmsg.Response) int16 { return r.(*kmsg.DescribeConfigsResponse).Resources[0].ErrorCode },
		},
		{
			name: "DescribeConfigsBroker", needs: []grant{clusterOp(access.DescribeConfigs)},
			req:  func(*fixture) kmsg.Request { return describeConfigsReq(kmsg.ConfigResourceTypeBroker, "0") },
			code: func(r kmsg.Response) int16 { return r.(*kmsg.DescribeConfigsResponse).Resources[0].ErrorCode },
		},
		{
			name: "AlterConfigsTopic", needs: []grant{topicT(access.AlterConfigs)},
			req: func(*fixture) kmsg.Request {
				req := kmsg.NewPtrAlterConfigsRequest()
				rr := kmsg.NewAlterConfigsRequestResource()
				rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, "t"
				c := kmsg.NewAlterConfigsRequestResourceConfig()
				c.Name, c.Value = "retention.ms", kmsg.StringPtr("100000")
				rr.Configs = append(rr.Configs, c)
				req.Resources = append(req.Resources, rr)
				return req
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.AlterConfigsResponse).Resources[0].ErrorCode },
		},
		{
			name: "AlterConfigsBroker", needs: []grant{clusterOp(access.AlterConfigs)},
			req: func(*fixture) kmsg.Request {
				req := kmsg.NewPtrAlterConfigsRequest()
				rr := kmsg.NewAlterConfigsRequestResource()
				rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeBroker, "0"
				c := kmsg.NewAlterConfigsRequestResourceConfig()
				c.Name, c.Value = "num.partitions", kmsg.StringPtr("1")
				rr.Configs = append(rr.Configs, c)
				req.Resources = append(req.Resources, rr)
				return req
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.AlterConfigsResponse).Resources[0].ErrorCode },
		},
		{
			name: "IncrementalAlterConfigsClusterDefault", needs: []grant{clusterOp(access.AlterConfigs)},
			req: func(*fixture) kmsg.Request {
				req := kmsg.NewPtrIncrementalAlterConfigsRequest()
				rr := kmsg.NewIncrementalAlterConfigsRequestResource()
				rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeBroker, ""
				c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
				c.Name, c.Value = "auto.create.topics.enable", kmsg.StringPtr("true")
				rr.Configs = append(rr.Configs, c)
				req.Resources = append(req.Resources, rr)
				return req
			},
			code: func(r kmsg.Response) int16 {
				return r.(*kmsg.IncrementalAlterConfigsResponse).Resources[0].ErrorCode
			},
		},
		{
			name: "IncrementalAlterConfigs", needs: []grant{topicT(access.AlterConfigs)},
			req: func(*fixture) kmsg.Request {
				req := kmsg.NewPtrIncrementalAlterConfigsRequest()
				rr := kmsg.NewIncrementalAlterConfigsRequestResource()
				rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, "t"
				c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
				c.Name, c.Value = "retention.ms", kmsg.StringPtr("100000")
				rr.Configs = append(rr.Configs, c)
				req.Resources = append(req.Resources, rr)
				return req
			},
			code: func(r kmsg.Response) int16 {
				return r.(*kmsg.IncrementalAlterConfigsResponse).Resources[0].ErrorCode
			},
		},
		{
			name: "DescribeConfigsGroup", needs: []grant{groupG(access.DescribeConfigs)},
			req:  func(*fixture) kmsg.Request { return describeConfigsReq(kmsg.ConfigResourceTypeGroupConfig, "g") },
			code: func(r kmsg.Response) int16 { return r.(*kmsg.DescribeConfigsResponse).Resources[0].ErrorCode },
		},
		{
			name: "IncrementalAlterConfigsConsumerGroup", needs: []grant{groupG(access.AlterConfigs)},
			req: func(*fixture) kmsg.Request {
				req := kmsg.NewPtrIncrementalAlterConfigsRequest()
				rr := kmsg.NewIncrementalAlterConfigsRequestResource()
				rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeGroupConfig, "g"
				c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
				c.Name, c.Value = "consumer.heartbeat.interval.ms", kmsg.StringPtr("6000")
				rr.Configs = append(rr.Configs, c)
				req.Resources = append(req.Resources, rr)
				return req
			},
			code: func(r kmsg.Response) int16 {
				return r.(*kmsg.IncrementalAlterConfigsResponse).Resources[0].ErrorCode
			},
		},
		{
			name: "DescribeLogDirs", needs: []grant{clusterOp(access.Describe)},
			req: func(*fixture) kmsg.Request {
				req := kmsg.NewPtrDescribeLogDirsRequest()
				req.Version = 3
				return req
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.DescribeLogDirsResponse).ErrorCode },
		},
		{
			name: "CreatePartitions", needs: []grant{topicT(access.Alter)},
			req: func(*fixture) kmsg.Request {
				req := kmsg.NewPtrCreatePartitionsRequest()
				rt := kmsg.NewCreatePartitionsRequestTopic()
				rt.Topic, rt.Count = "t", 2
				req.Topics = append(req.Topics, rt)
				return req
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.CreatePartitionsResponse).Topics[0].ErrorCode },
		},
		{
			name: "DeleteGroups", needs: []grant{groupG(access.Delete)},
			req: func(*fixture) kmsg.Request {
				req := kmsg.NewPtrDeleteGroupsRequest()
				req.Groups = []string{"g"}
				return req
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.DeleteGroupsResponse).Groups[0].ErrorCode },
		},
		{
			name: "OffsetDelete", needs: []grant{groupG(access.Delete), topicT(access.Read)},
			req: func(*fixture) kmsg.Request {
				req := kmsg.NewPtrOffsetDeleteRequest()
				req.Group = "g"
				rt := kmsg.NewOffsetDeleteRequestTopic()
				rt.Topic = "t"
				rt.Partitions = append(rt.Partitions, kmsg.NewOffsetDeleteRequestTopicPartition())
				req.Topics = append(req.Topics, rt)
				return req
			},
			code: func(r kmsg.Response) int16 {
				resp := r.(*kmsg.OffsetDeleteResponse)
				if resp.ErrorCode != 0 {
					return resp.ErrorCode
				}
				return resp.Topics[0].Partitions[0].ErrorCode
			},
		},
		{
			name: "DescribeTransactions", needs: []grant{txnTX(access.Describe)},
			req: func(*fixture) kmsg.Request {
				req := kmsg.NewPtrDescribeTransactionsRequest()
				req.TransactionalIDs = []string{"tx"}
				return req
			},
			code: func(r kmsg.Response) int16 {
				return r.(*kmsg.DescribeTransactionsResponse).TransactionStates[0].ErrorCode
			},
		},
		{
			name: "ConsumerGroupHeartbeat", needs: []grant{anon(access.Read, access.Group, "cg"), topicT(access.Describe)},
			req:  func(*fixture) kmsg.Request { return cgHeartbeatReq() },
			code: func(r kmsg.Response) int16 { return r.(*kmsg.ConsumerGroupHeartbeatResponse).ErrorCode },
		},
		{
			name:  "ConsumerGroupDescribeTopics",
			needs: []grant{anon(access.Describe, access.Group, "cg"), topicT(access.Describe)},
			setup: func(t *testing.T, c *client, _ *fixture) {
				mustAnswer(t, c, cgHeartbeatReq(), func(r kmsg.Response) int16 {
					return r.(*kmsg.ConsumerGroupHeartbeatResponse).ErrorCode
				})
			},
			req: func(*fixture) kmsg.Request {
				req := kmsg.NewPtrConsumerGroupDescribeRequest()
				req.Groups = []string{"cg"}
				return req
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.ConsumerGroupDescribeResponse).Groups[0].ErrorCode },
		},
		{
			// "g" is a classic group: allowed, the answer is Kafka's
			// GROUP_ID_NOT_FOUND, which sends admins to DescribeGroups.
			name: "ConsumerGroupDescribe", needs: []grant{groupG(access.Describe)},
			req: func(*fixture) kmsg.Request {
				req := kmsg.NewPtrConsumerGroupDescribeRequest()
				req.Groups = []string{"g"}
				return req
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.ConsumerGroupDescribeResponse).Groups[0].ErrorCode },
			ok:   kerr.GroupIDNotFound.Code,
		},
		{
			name: "DescribeUserScramCredentials", needs: []grant{clusterOp(access.Describe)},
			req:  func(*fixture) kmsg.Request { return kmsg.NewPtrDescribeUserSCRAMCredentialsRequest() },
			code: func(r kmsg.Response) int16 { return r.(*kmsg.DescribeUserSCRAMCredentialsResponse).ErrorCode },
		},
		{
			name: "AlterUserScramCredentials", needs: []grant{clusterOp(access.Alter)},
			req: func(*fixture) kmsg.Request {
				req := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
				u := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
				u.Name, u.Mechanism, u.Iterations = "u", 1, 4096
				u.Salt, u.SaltedPassword = []byte("salt"), make([]byte, 32)
				req.Upsertions = append(req.Upsertions, u)
				return req
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.AlterUserSCRAMCredentialsResponse).Results[0].ErrorCode },
		},
		{
			// Allowed, the one node's answer: the leader is already
			// the preferred replica.
			name: "ElectLeaders", needs: []grant{clusterOp(access.Alter)},
			req: func(*fixture) kmsg.Request {
				req := kmsg.NewPtrElectLeadersRequest()
				req.Version = 2
				rt := kmsg.NewElectLeadersRequestTopic()
				rt.Topic, rt.Partitions = "t", []int32{0}
				req.Topics = append(req.Topics, rt)
				return req
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.ElectLeadersResponse).Topics[0].Partitions[0].ErrorCode },
			ok:   kerr.ElectionNotNeeded.Code,
		},
		{
			name: "AlterPartitionReassignments", needs: []grant{clusterOp(access.Alter)},
			req: func(*fixture) kmsg.Request {
				req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
				rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
				rt.Topic = "t"
				rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
				rp.Replicas = []int32{0}
				rt.Partitions = append(rt.Partitions, rp)
				req.Topics = append(req.Topics, rt)
				return req
			},
			code: func(r kmsg.Response) int16 {
				resp := r.(*kmsg.AlterPartitionAssignmentsResponse)
				if resp.ErrorCode != 0 {
					return resp.ErrorCode
				}
				return resp.Topics[0].Partitions[0].ErrorCode
			},
		},
		{
			name: "ListPartitionReassignments", needs: []grant{clusterOp(access.Describe)},
			req:  func(*fixture) kmsg.Request { return kmsg.NewPtrListPartitionReassignmentsRequest() },
			code: func(r kmsg.Response) int16 { return r.(*kmsg.ListPartitionReassignmentsResponse).ErrorCode },
		},
		{
			name: "DescribeProducers", needs: []grant{topicT(access.Read)},
			req: func(*fixture) kmsg.Request {
				req := kmsg.NewPtrDescribeProducersRequest()
				rt := kmsg.NewDescribeProducersRequestTopic()
				rt.Topic, rt.Partitions = "t", []int32{0}
				req.Topics = append(req.Topics, rt)
				return req
			},
			code: func(r kmsg.Response) int16 {
				return r.(*kmsg.DescribeProducersResponse).Topics[0].Partitions[0].ErrorCode
			},
		},
		{
			// Allowed, the answer of a broker without the ACL
			// authorizer (TestACLMatrix runs these with it).
			name: "CreateAcls", needs: []grant{clusterOp(access.Alter)},
			req:  func(*fixture) kmsg.Request { return createAclsReq("User:x", "t2") },
			code: func(r kmsg.Response) int16 { return r.(*kmsg.CreateACLsResponse).Results[0].ErrorCode },
			ok:   kerr.SecurityDisabled.Code,
		},
		{
			name: "DescribeAcls", needs: []grant{clusterOp(access.Describe)},
			req:  func(*fixture) kmsg.Request { return describeAllAclsReq() },
			code: func(r kmsg.Response) int16 { return r.(*kmsg.DescribeACLsResponse).ErrorCode },
			ok:   kerr.SecurityDisabled.Code,
		},
		{
			name: "DeleteAcls", needs: []grant{clusterOp(access.Alter)},
			req:  func(*fixture) kmsg.Request { return deleteAclsReq("User:x") },
			code: func(r kmsg.Response) int16 { return r.(*kmsg.DeleteACLsResponse).Results[0].ErrorCode },
			ok:   kerr.SecurityDisabled.Code,
		},
		{
			name: "DescribeClientQuotas", needs: []grant{clusterOp(access.DescribeConfigs)},
			req:  func(*fixture) kmsg.Request { return quotaSeedDescribe() },
			code: func(r kmsg.Response) int16 { return r.(*kmsg.DescribeClientQuotasResponse).ErrorCode },
		},
		{
			name: "AlterClientQuotas", needs: []grant{clusterOp(access.AlterConfigs)},
			req: func(*fixture) kmsg.Request {
				req := quotaSeedAlter()
				req.ValidateOnly = true
				return req
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.AlterClientQuotasResponse).Entries[0].ErrorCode },
		},
		{
			name: "DescribeTopicPartitions", needs: []grant{topicT(access.Describe)},
			req: func(*fixture) kmsg.Request {
				req := kmsg.NewPtrDescribeTopicPartitionsRequest()
				rt := kmsg.NewDescribeTopicPartitionsRequestTopic()
				rt.Topic = "t"
				req.Topics = append(req.Topics, rt)
				return req
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.DescribeTopicPartitionsResponse).Topics[0].ErrorCode },
		},
	}
	return append(cases, shareSeamCases()...)
}

// cgHeartbeatReq joins a member to KIP-848 group "cg", subscribed to t.
func cgHeartbeatReq() *kmsg.ConsumerGroupHeartbeatRequest {
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Group, req.MemberID, req.MemberEpoch = "cg", "m1-aaaaaaaaaaaaaaaaaaaa", 0
	req.RebalanceTimeoutMillis, req.SubscribedTopicNames = 30000, []string{"t"}
	req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	return req
}

func describeConfigsReq(typ kmsg.ConfigResourceType, name string) *kmsg.DescribeConfigsRequest {
	req := kmsg.NewPtrDescribeConfigsRequest()
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = typ, name
	req.Resources = append(req.Resources, rr)
	return req
}

// seamRun is one case's server, after the fixture and the case's setup.
type seamRun struct {
	t  *testing.T
	ts *seamServer
	c  *client
	fx *fixture
	sc seamCase
}

// startSeamCase starts a server, and makes the fixture and the case's
// setup with everything allowed.
func startSeamCase(t *testing.T, sc seamCase) *seamRun {
	t.Helper()
	ts := startSeamServer(t)
	c := ts.dial(t)
	fx := makeFixture(t, ts, c)
	if sc.setup != nil {
		sc.setup(t, c, fx)
	}
	return &seamRun{t: t, ts: ts, c: c, fx: fx, sc: sc}
}

// ask allows only grants, sends the case's request and returns the code
// the case extracts; the request must have passed the access seam.
func (sr *seamRun) ask(grants []grant) int16 {
	sr.t.Helper()
	sr.ts.auth.allowOnly(grants...)
	req := sr.sc.req(sr.fx)
	sr.ts.mu.Lock()
	clear(sr.ts.seen)
	sr.ts.mu.Unlock()
	code := sr.sc.code(sr.c.roundTrip(req))
	sr.ts.mu.Lock()
	defer sr.ts.mu.Unlock()
	if !sr.ts.seen[req.Key()] {
		sr.t.Errorf("%s (key %d) answered without passing the access seam", sr.sc.name, req.Key())
	}
	return code
}

// TestAccessMatrix is the seam's proof: each API answers its
// *_AUTHORIZATION_FAILED when one permission Kafka checks for it is
// missing, and succeeds when all are there. The grants are the
// anonymous principal's; the same grants to another principal allow
// nothing. The denied requests go first, on the same server: the
// request that then succeeds shows they changed nothing.
func TestAccessMatrix(t *testing.T) {
	for _, sc := range seamCases() {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			sr := startSeamCase(t, sc)
			for i, g := range sc.needs {
				without := slices.Delete(slices.Clone(sc.needs), i, i+1)
				if got, want := sr.ask(without), deniedCode[g.rt]; got != want {
					t.Errorf("without %v: %v, want %v", g, kerr.ErrorForCode(got), kerr.ErrorForCode(want))
				}
			}
			other := make([]grant, len(sc.needs))
			for i, g := range sc.needs {
				g.principal = "User:alice"
				other[i] = g
			}
			if got := sr.ask(other); got == sc.ok {
				t.Errorf("with the grants given to User:alice: %v, want a denial", kerr.ErrorForCode(got))
			}
			if got := sr.ask(sc.needs); got != sc.ok {
				t.Errorf("with %v: %v, want %v", sc.needs, kerr.ErrorForCode(got), kerr.ErrorForCode(sc.ok))
			}
		})
	}
}

// TestAccessMatrixCoversDispatch: every API of the dispatch table except
// ApiVersions, SaslHandshake and SaslAuthenticate (which meet no
// resource) is in the matrix or has its own test below.
func TestAccessMatrixCoversDispatch(t *testing.T) {
	covered := map[int16]bool{apiVersionsKey: true, saslHandshakeKey: true, saslAuthenticateKey: true}
	for _, sc := range seamCases() {
		covered[sc.req(&fixture{}).Key()] = true
	}
	// TestAccessListings: Metadata (3), ListGroups (16), DescribeCluster
	// (60), ListTransactions (66).
	for _, k := range []int16{3, 16, 60, 66} {
		covered[k] = true
	}
	for _, a := range apis {
		if !covered[a.key] {
			t.Errorf("api key %d is not in the access matrix", a.key)
		}
	}
}

// listMetadata lists every topic with their authorized operations.
func listMetadata(c *client) *kmsg.MetadataResponse {
	req := kmsg.NewPtrMetadataRequest()
	req.Version, req.IncludeTopicAuthorizedOperations, req.IncludeClusterAuthorizedOperations = 10, true, true
	return c.roundTrip(req).(*kmsg.MetadataResponse)
}

// TestAccessListings: listings hide what the principal may not DESCRIBE
// instead of failing, as Kafka's do, and the authorized-operations
// bitfields are the authorizer's answers.
func TestAccessListings(t *testing.T) {
	ts := startSeamServer(t)
	c := ts.dial(t)
	makeFixture(t, ts, c)
	if _, err := ts.b.CreateTopic("hidden", 1, nil, false); err != nil {
		t.Fatal(err)
	}
	ts.auth.allowOnly(topicT(access.Describe), topicT(access.Read), groupG(access.Describe))

	t.Run("Metadata", func(t *testing.T) {
		mr := listMetadata(c)
		if len(mr.Topics) != 1 || *mr.Topics[0].Topic != "t" {
			t.Fatalf("listed %v, want only t", topicNames(mr))
		}
		if got, want := mr.Topics[0].AuthorizedOperations, int32(1<<access.Read|1<<access.Describe); got != want {
			t.Errorf("t's authorized operations %b, want %b (READ, DESCRIBE)", got, want)
		}
		if mr.AuthorizedOperations != 0 {
			t.Errorf("cluster operations %b without DESCRIBE on it, want 0", mr.AuthorizedOperations)
		}
		// By id: the topic's name and id are not given away.
		id := ts.b.Topic("hidden").ID
		req := kmsg.NewPtrMetadataRequest()
		req.Version = 12
		rt := kmsg.NewMetadataRequestTopic()
		rt.TopicID = id
		req.Topics = append(req.Topics, rt)
		got := c.roundTrip(req).(*kmsg.MetadataResponse).Topics[0]
		if got.ErrorCode != kerr.TopicAuthorizationFailed.Code || got.Topic != nil || got.TopicID != ([16]byte{}) {
			t.Errorf("hidden by id: %v name %v id %x, want TOPIC_AUTHORIZATION_FAILED and neither", kerr.ErrorForCode(got.ErrorCode), got.Topic, got.TopicID)
		}
	})

	t.Run("MetadataAutoCreateWithClusterCreate", func(t *testing.T) {
		ts.auth.allowOnly(anon(access.Describe, access.Topic, "made"), clusterOp(access.Create))
		req := kmsg.NewPtrMetadataRequest()
		req.Version, req.AllowAutoTopicCreation = 12, true
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr("made")
		req.Topics = append(req.Topics, rt)
		if code := c.roundTrip(req).(*kmsg.MetadataResponse).Topics[0].ErrorCode; code != 0 || ts.b.Topic("made") == nil {
			t.Errorf("auto-create with CREATE on the cluster: %v, created %v", kerr.ErrorForCode(code), ts.b.Topic("made") != nil)
		}
	})

	t.Run("ListGroups", func(t *testing.T) {
		mustAnswer(t, c, commitReqAllowed(t, ts, "other"), func(r kmsg.Response) int16 {
			return r.(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
		})
		for _, tc := range []struct {
			grants []grant
			want   []string
		}{
			{nil, nil},
			{[]grant{groupG(access.Describe)}, []string{"g"}},
			{[]grant{clusterOp(access.Describe)}, []string{"g", "other"}},
		} {
			ts.auth.allowOnly(tc.grants...)
			resp := c.roundTrip(kmsg.NewPtrListGroupsRequest()).(*kmsg.ListGroupsResponse)
			var got []string
			for _, g := range resp.Groups {
				got = append(got, g.Group)
			}
			slices.Sort(got)
			if resp.ErrorCode != 0 || !slices.Equal(got, tc.want) {
				t.Errorf("grants %v: %v groups %v, want %v", tc.grants, kerr.ErrorForCode(resp.ErrorCode), got, tc.want)
			}
		}
	})

	t.Run("DescribeCluster", func(t *testing.T) {
		req := kmsg.NewPtrDescribeClusterRequest()
		req.IncludeClusterAuthorizedOperations = true
		for _, tc := range []struct {
			grants []grant
			want   int32
		}{
			{nil, 0},
			{[]grant{clusterOp(access.Create)}, 0}, // no DESCRIBE: nothing shown
			{[]grant{clusterOp(access.Describe), clusterOp(access.Create)}, 1<<access.Describe | 1<<access.Create},
		} {
			ts.auth.allowOnly(tc.grants...)
			resp := c.roundTrip(req).(*kmsg.DescribeClusterResponse)
			if resp.ErrorCode != 0 || resp.ClusterAuthorizedOperations != tc.want {
				t.Errorf("grants %v: %v operations %b, want %b", tc.grants, kerr.ErrorForCode(resp.ErrorCode), resp.ClusterAuthorizedOperations, tc.want)
			}
		}
	})

	t.Run("ListTransactions", func(t *testing.T) {
		for _, tc := range []struct {
			grants []grant
			want   int
		}{{nil, 0}, {[]grant{txnTX(access.Describe)}, 1}} {
			ts.auth.allowOnly(tc.grants...)
			resp := c.roundTrip(kmsg.NewPtrListTransactionsRequest()).(*kmsg.ListTransactionsResponse)
			if resp.ErrorCode != 0 || len(resp.TransactionStates) != tc.want {
				t.Errorf("grants %v: %v, %d transactions, want %d", tc.grants, kerr.ErrorForCode(resp.ErrorCode), len(resp.TransactionStates), tc.want)
			}
		}
	})

	t.Run("OffsetFetchAll", func(t *testing.T) {
		for _, tc := range []struct {
			grants []grant
			want   int
		}{{[]grant{groupG(access.Describe)}, 0}, {[]grant{groupG(access.Describe), topicT(access.Describe)}, 1}} {
			ts.auth.allowOnly(tc.grants...)
			req := kmsg.NewPtrOffsetFetchRequest()
			req.Version, req.Group, req.Topics = 7, "g", nil
			resp := c.roundTrip(req).(*kmsg.OffsetFetchResponse)
			if resp.ErrorCode != 0 || len(resp.Topics) != tc.want {
				t.Errorf("grants %v: %v, %d topics, want %d", tc.grants, kerr.ErrorForCode(resp.ErrorCode), len(resp.Topics), tc.want)
			}
		}
	})

	t.Run("DescribeGroupsOperations", func(t *testing.T) {
		ts.auth.allowOnly(groupG(access.Describe), groupG(access.Delete))
		req := kmsg.NewPtrDescribeGroupsRequest()
		req.Version, req.Groups, req.IncludeAuthorizedOperations = 3, []string{"g"}, true
		g := c.roundTrip(req).(*kmsg.DescribeGroupsResponse).Groups[0]
		if want := int32(1<<access.Describe | 1<<access.Delete); g.ErrorCode != 0 || g.AuthorizedOperations != want {
			t.Errorf("g: %v operations %b, want %b", kerr.ErrorForCode(g.ErrorCode), g.AuthorizedOperations, want)
		}
	})
}

// commitReqAllowed opens the table for one commit to group grp.
func commitReqAllowed(t *testing.T, ts *seamServer, grp string) *kmsg.OffsetCommitRequest {
	t.Helper()
	ts.auth.allowOnly(anon(access.Read, access.Group, grp), topicT(access.Read))
	return commitReq(grp, "t", 1)
}

func topicNames(mr *kmsg.MetadataResponse) []string {
	var out []string
	for _, t := range mr.Topics {
		out = append(out, *t.Topic)
	}
	return out
}

// TestAccessHidesExistence: a topic the principal may not see answers
// TOPIC_AUTHORIZATION_FAILED whether it exists or not, so names do not
// leak through produce, fetch or metadata.
func TestAccessHidesExistence(t *testing.T) {
	ts := startSeamServer(t)
	c := ts.dial(t)
	makeFixture(t, ts, c)
	ts.auth.allowOnly()
	for _, topic := range []string{"t", "nosuch"} {
		if p := produceAnswer(t, c, topic, makeBatch(1, 10, 1)); p.ErrorCode != kerr.TopicAuthorizationFailed.Code {
			t.Errorf("produce to %s: %v, want TOPIC_AUTHORIZATION_FAILED", topic, kerr.ErrorForCode(p.ErrorCode))
		}
		fr := c.roundTrip(fetchReq(12, topic, 0, 0, 0)).(*kmsg.FetchResponse)
		if code := fr.Topics[0].Partitions[0].ErrorCode; code != kerr.TopicAuthorizationFailed.Code {
			t.Errorf("fetch of %s: %v, want TOPIC_AUTHORIZATION_FAILED", topic, kerr.ErrorForCode(code))
		}
	}
	if ts.b.Topic("nosuch") != nil {
		t.Error("a denied produce created a topic")
	}
}

// TestAccessCheckAllocatesNothing: a check through the seam allocates
// nothing with AllowAll (nor with any authorizer that allocates nothing
// itself): it uses the request's own one-action buffer, so the produce
// and fetch paths allocate no more than before the seam.
func TestAccessCheckAllocatesNothing(t *testing.T) {
	ts := startServer(t, nil)
	nc, peer := net.Pipe()
	defer nc.Close()
	defer peer.Close()
	c := newConn(ts.s, nc)
	r := &request{c: c, key: 0, version: 9, p: &pending{}}
	if n := testing.AllocsPerRun(100, func() {
		if err := ts.s.access(r, access.Write, access.Topic, "t"); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("access with AllowAll: %v allocations, want 0", n)
	}
}

// TestAccessPartial: a denied topic fails only its own partitions, as in
// Kafka: the others of the same request are produced and committed, except
// in AddPartitionsToTxn, where nothing is added (OPERATION_NOT_ATTEMPTED).
func TestAccessPartial(t *testing.T) {
	ts := startSeamServer(t)
	c := ts.dial(t)
	fx := makeFixture(t, ts, c)
	if _, err := ts.b.CreateTopic("u", 1, nil, false); err != nil {
		t.Fatal(err)
	}
	ts.auth.allowOnly(topicT(access.Write), topicT(access.Read), groupG(access.Read), txnTX(access.Write))

	pr := produceReq(9, "t", 0, makeBatch(1, 10, 1))
	pr.Topics = append(pr.Topics, produceReq(9, "u", 0, makeBatch(1, 10, 1)).Topics[0])
	presp := c.roundTrip(pr).(*kmsg.ProduceResponse)
	if got := []int16{presp.Topics[0].Partitions[0].ErrorCode, presp.Topics[1].Partitions[0].ErrorCode}; !slices.Equal(got, []int16{0, kerr.TopicAuthorizationFailed.Code}) {
		t.Errorf("produce to t and u: codes %v, want [0 TOPIC_AUTHORIZATION_FAILED]", got)
	}
	if hw := ts.b.Topic("u").Partition(0).HighWatermark(); hw != 0 {
		t.Errorf("u's high watermark %d after a denied produce, want 0", hw)
	}

	cr := commitReq("g", "t", 2)
	cr.Topics = append(cr.Topics, commitReq("g", "u", 2).Topics[0])
	cresp := c.roundTrip(cr).(*kmsg.OffsetCommitResponse)
	if got := []int16{cresp.Topics[0].Partitions[0].ErrorCode, cresp.Topics[1].Partitions[0].ErrorCode}; !slices.Equal(got, []int16{0, kerr.TopicAuthorizationFailed.Code}) {
		t.Errorf("commit of t and u: codes %v, want [0 TOPIC_AUTHORIZATION_FAILED]", got)
	}

	ar := addPartitionsReq(fx)
	ar.Topics = append(ar.Topics, kmsg.AddPartitionsToTxnRequestTopic{Topic: "u", Partitions: []int32{0}})
	aresp := c.roundTrip(ar).(*kmsg.AddPartitionsToTxnResponse)
	want := []int16{kerr.OperationNotAttempted.Code, kerr.TopicAuthorizationFailed.Code}
	if got := []int16{aresp.Topics[0].Partitions[0].ErrorCode, aresp.Topics[1].Partitions[0].ErrorCode}; !slices.Equal(got, want) {
		t.Errorf("add t and u to a transaction: codes %v, want %v", got, want)
	}
	ts.auth.allowOnly(txnTX(access.Describe), topicT(access.Describe))
	dr := kmsg.NewPtrDescribeTransactionsRequest()
	dr.TransactionalIDs = []string{"tx"}
	if st := c.roundTrip(dr).(*kmsg.DescribeTransactionsResponse).TransactionStates[0]; st.ErrorCode != 0 || len(st.Topics) != 0 {
		t.Errorf("describe tx after the refused add: %v, topics %v, want none added", kerr.ErrorForCode(st.ErrorCode), st.Topics)
	}
}
