package kafka

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/acl"
	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/group"
	"github.com/heraldhq/herald/internal/txn"
)

// aclServer is a broker on dir with groups, transactions and the ACL
// authorizer (durable in the broker's metadata log), whose connections
// act as the principal their client id names (client id "alice" is
// User:alice). User:admin is a super user.
type aclServer struct {
	addr string
	a    *acl.Authorizer
	stop func()
}

func startACLServer(t *testing.T, dir string, cfg acl.Config) *aclServer {
	t.Helper()
	b, err := broker.Open(broker.Config{DataDir: dir, Durability: "always", AutoCreateTopics: true, Logger: quiet})
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Store = b
	cfg.SuperUsers = append(cfg.SuperUsers, access.Principal{Type: "User", Name: "admin"})
	a := acl.New(cfg)
	s := New(Config{
		Broker: b, Groups: co, Txn: tc, Logger: quiet, ACL: a,
		AdvertisedHost: "127.0.0.1", AdvertisedPort: int32(ln.Addr().(*net.TCPAddr).Port),
	})
	principalFromClientID(s)
	go s.Serve(ln)
	var once sync.Once
	stop := func() {
		once.Do(func() {
			s.Close()
			tc.Close()
			co.Close()
			pm.Close()
			b.Close()
		})
	}
	t.Cleanup(stop)
	return &aclServer{addr: ln.Addr().String(), a: a, stop: stop}
}

// as is a franz-go client acting as User:<name>.
func (as *aclServer) as(t *testing.T, name string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	opts = append([]kgo.Opt{kgo.SeedBrokers(as.addr), kgo.ClientID(name), kgo.RequestRetries(1),
		kgo.RetryTimeout(2 * time.Second), kgo.MetadataMinAge(10 * time.Millisecond)}, opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func (as *aclServer) admin(t *testing.T, name string) *kadm.Client {
	return kadm.NewClient(as.as(t, name))
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// mustCreateACLs creates b's ACLs as admin and fails on any error.
func mustCreateACLs(t *testing.T, adm *kadm.Client, b *kadm.ACLBuilder) {
	t.Helper()
	rs, err := adm.CreateACLs(ctxT(t), b)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.Err != nil {
			t.Fatalf("create %s %v %s: %v %s", r.Principal, r.Operation, r.Name, r.Err, r.ErrMessage)
		}
	}
}

func produceErr(t *testing.T, cl *kgo.Client, topic string) error {
	t.Helper()
	return cl.ProduceSync(ctxT(t), &kgo.Record{Topic: topic, Value: []byte("v")}).FirstErr()
}

func wantErr(t *testing.T, what string, err error, want *kerr.Error) {
	t.Helper()
	if want == nil && err != nil || want != nil && !errors.Is(err, want) {
		t.Errorf("%s: %v, want %v", what, err, want)
	}
}

// TestACLsFranzGo: real franz-go clients, each its own principal, against
// a broker running the ACL authorizer: produce, consume, commit, list,
// create, transactions and the ACL APIs themselves, allowed and denied
// by literal, prefixed and wildcard ACLs, deny beating allow; every
// change applies to the next request.
func TestACLsFranzGo(t *testing.T) {
	as := startACLServer(t, t.TempDir(), acl.Config{})
	adm := as.admin(t, "admin")
	if _, err := adm.CreateTopics(ctxT(t), 1, 1, nil, "orders.eu", "orders.us", "secret", "public"); err != nil {
		t.Fatal(err)
	}
	mustCreateACLs(t, adm, kadm.NewACLs().Allow("User:alice").Topics("orders.").
		ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpWrite))
	mustCreateACLs(t, adm, kadm.NewACLs().Allow("User:*").Topics("public").Operations(kadm.OpRead))
	mustCreateACLs(t, adm, kadm.NewACLs().Allow("User:alice").Groups("g-alice").Operations(kadm.OpRead))

	alice := as.as(t, "alice")
	bob := as.as(t, "bob", kgo.DisableIdempotentWrite())

	t.Run("produce", func(t *testing.T) {
		wantErr(t, "alice to orders.eu (prefixed ALLOW, idempotent)", produceErr(t, alice, "orders.eu"), nil)
		wantErr(t, "alice to secret", produceErr(t, as.as(t, "alice"), "secret"), kerr.TopicAuthorizationFailed)
		wantErr(t, "bob to orders.eu", produceErr(t, bob, "orders.eu"), kerr.TopicAuthorizationFailed)
		// IDEMPOTENT_WRITE: alice has it from her WRITE on orders.*,
		// bob, with no WRITE anywhere, has not.
		for who, want := range map[string]*kerr.Error{"alice": nil, "bob": kerr.ClusterAuthorizationFailed} {
			resp, err := kmsg.NewPtrInitProducerIDRequest().RequestWith(ctxT(t), as.as(t, who))
			if err != nil {
				t.Fatal(err)
			}
			wantErr(t, who+" InitProducerID", kerr.ErrorForCode(resp.ErrorCode), want)
		}
	})

	t.Run("deny beats allow, without a restart", func(t *testing.T) {
		mustCreateACLs(t, adm, kadm.NewACLs().Deny("User:alice").Topics("orders.us").Operations(kadm.OpWrite))
		wantErr(t, "alice to orders.us", produceErr(t, as.as(t, "alice"), "orders.us"), kerr.TopicAuthorizationFailed)
		wantErr(t, "alice to orders.eu", produceErr(t, alice, "orders.eu"), nil)
	})

	t.Run("metadata hides what a principal may not describe", func(t *testing.T) {
		for _, c := range []struct {
			who  string
			want []string
		}{
			{"admin", []string{"orders.eu", "orders.us", "public", "secret"}},
			{"alice", []string{"orders.eu", "orders.us", "public"}}, // WRITE and READ imply DESCRIBE; the DENY is of WRITE only
			{"bob", []string{"public"}},                             // User:* READ
			{"carol", []string{"public"}},
		} {
			td, err := as.admin(t, c.who).ListTopics(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			if got := td.Names(); !slices.Equal(got, c.want) {
				t.Errorf("%s lists %v, want %v", c.who, got, c.want)
			}
		}
	})

	t.Run("consume and commit", func(t *testing.T) {
		if err := produceErr(t, as.as(t, "admin"), "public"); err != nil {
			t.Fatal(err)
		}
		wantErr(t, "bob reads public (User:* READ)", consumeErr(t, as, "bob", "public"), nil)
		wantErr(t, "alice reads secret", consumeErr(t, as, "alice", "secret"), kerr.TopicAuthorizationFailed)
		aliceAdm := as.admin(t, "alice")
		offs := kadm.Offsets{}
		offs.Add(kadm.Offset{Topic: "public", Partition: 0, At: 1})
		_, err := aliceAdm.CommitOffsets(ctxT(t), "g-alice", offs)
		wantErr(t, "alice commits in g-alice", err, nil)
		cr, err := aliceAdm.CommitOffsets(ctxT(t), "g-bob", offs)
		if err == nil {
			err = cr.Error()
		}
		wantErr(t, "alice commits in g-bob", err, kerr.GroupAuthorizationFailed)
		// A consumer group member: JoinGroup needs READ on the group.
		cl := as.as(t, "bob", kgo.ConsumerGroup("g-alice"), kgo.ConsumeTopics("public"))
		wantErr(t, "bob joins g-alice", pollErr(t, cl), kerr.GroupAuthorizationFailed)
	})

	t.Run("auto-creation needs CREATE", func(t *testing.T) {
		cl := as.as(t, "alice")
		autoCreate := func() int16 {
			req := kmsg.NewPtrMetadataRequest()
			req.AllowAutoTopicCreation = true
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr("orders.new")
			req.Topics = append(req.Topics, rt)
			resp, err := req.RequestWith(ctxT(t), cl)
			if err != nil {
				t.Fatal(err)
			}
			return resp.Topics[0].ErrorCode
		}
		if got := autoCreate(); got != kerr.TopicAuthorizationFailed.Code {
			t.Errorf("auto-create without CREATE: %v", kerr.ErrorForCode(got))
		}
		if td, _ := adm.ListTopics(ctxT(t), "orders.new"); td.Has("orders.new") {
			t.Error("orders.new was created without CREATE")
		}
		mustCreateACLs(t, adm, kadm.NewACLs().Allow("User:alice").Topics("orders.").
			ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpCreate))
		if got := autoCreate(); got != 0 {
			t.Errorf("auto-create with CREATE on prefix orders.: %v", kerr.ErrorForCode(got))
		}
	})

	t.Run("admin APIs", func(t *testing.T) {
		aliceAdm := as.admin(t, "alice")
		r, err := aliceAdm.CreateTopic(ctxT(t), 1, 1, nil, "other")
		if err == nil {
			err = r.Err
		}
		wantErr(t, "alice creates topic other", err, kerr.TopicAuthorizationFailed)
		rs, err := aliceAdm.CreateACLs(ctxT(t), kadm.NewACLs().Allow("User:alice").Topics("secret").Operations(kadm.OpRead))
		if err == nil {
			err = rs[0].Err
		}
		wantErr(t, "alice creates an ACL", err, kerr.ClusterAuthorizationFailed)
		dr, err := aliceAdm.DescribeACLs(ctxT(t), kadm.NewACLs().Allow().AllowHosts().AnyResource().Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternAny))
		if err == nil {
			err = dr[0].Err
		}
		wantErr(t, "alice describes ACLs", err, kerr.ClusterAuthorizationFailed)
		mustCreateACLs(t, adm, kadm.NewACLs().Allow("User:alice").Clusters().Operations(kadm.OpDescribe))
		d, err := aliceAdm.DescribeACLs(ctxT(t), kadm.NewACLs().Allow("User:alice").AllowHosts().Groups().ResourcePatternType(kadm.ACLPatternAny).Operations(kadm.OpAny))
		if err != nil || d[0].Err != nil || len(d[0].Described) != 1 || d[0].Described[0].Name != "g-alice" {
			t.Errorf("alice, with DESCRIBE on the cluster, describes her group ACLs: %+v %v", d, err)
		}
	})

	t.Run("transactions", func(t *testing.T) {
		txErr := func() error {
			cl := as.as(t, "alice", kgo.TransactionalID("tx-alice"))
			if err := cl.BeginTransaction(); err != nil {
				return err
			}
			if err := produceErr(t, cl, "orders.eu"); err != nil {
				return err
			}
			return cl.EndTransaction(ctxT(t), kgo.TryCommit)
		}
		wantErr(t, "alice's transaction without WRITE on tx-alice", txErr(), kerr.TransactionalIDAuthorizationFailed)
		mustCreateACLs(t, adm, kadm.NewACLs().Allow("User:alice").TransactionalIDs("tx-").
			ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpWrite))
		wantErr(t, "alice's transaction with WRITE on prefix tx-", txErr(), nil)
	})

	t.Run("delete applies at once", func(t *testing.T) {
		dr, err := adm.DeleteACLs(ctxT(t), kadm.NewACLs().Allow("User:alice").Topics("orders.").
			ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpWrite).AllowHosts())
		if err != nil || len(dr) != 1 || dr[0].Err != nil || len(dr[0].Deleted) != 1 {
			t.Fatalf("delete: %+v %v", dr, err)
		}
		wantErr(t, "alice to orders.eu after the delete", produceErr(t, as.as(t, "alice"), "orders.eu"), kerr.TopicAuthorizationFailed)
	})
}

func consumeErr(t *testing.T, as *aclServer, who, topic string) error {
	t.Helper()
	cl := as.as(t, who, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	return pollErr(t, cl)
}

// pollErr polls until a record or an error arrives.
func pollErr(t *testing.T, cl *kgo.Client) error {
	t.Helper()
	ctx := ctxT(t)
	for {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		for _, fe := range fs.Errors() {
			return fe.Err
		}
		if fs.NumRecords() > 0 {
			return nil
		}
	}
}

// TestACLsSurviveRestart: ACLs created through CreateAcls are in the
// metadata log: after a restart they still allow and deny, and one
// deleted before the restart stays deleted.
func TestACLsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	as := startACLServer(t, dir, acl.Config{})
	adm := as.admin(t, "admin")
	if _, err := adm.CreateTopics(ctxT(t), 1, 1, nil, "a", "b"); err != nil {
		t.Fatal(err)
	}
	mustCreateACLs(t, adm, kadm.NewACLs().Allow("User:alice").Topics("a", "b").Operations(kadm.OpWrite))
	mustCreateACLs(t, adm, kadm.NewACLs().Deny("User:alice").Topics("b").Operations(kadm.OpAll))
	if _, err := adm.DeleteACLs(ctxT(t), kadm.NewACLs().Allow("User:alice").Topics("b").Operations(kadm.OpWrite).AllowHosts()); err != nil {
		t.Fatal(err)
	}
	as.stop()

	as = startACLServer(t, dir, acl.Config{})
	wantErr(t, "alice to a after the restart", produceErr(t, as.as(t, "alice"), "a"), nil)
	wantErr(t, "alice to b after the restart (DENY)", produceErr(t, as.as(t, "alice"), "b"), kerr.TopicAuthorizationFailed)
	d, err := as.admin(t, "admin").DescribeACLs(ctxT(t), kadm.NewACLs().Allow().Deny().AnyResource().
		ResourcePatternType(kadm.ACLPatternAny).Operations(kadm.OpAny).AllowHosts().DenyHosts())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range d {
		n += len(r.Described)
	}
	if n != 2 {
		t.Errorf("%d ACLs after the restart, want 2 (allow a, deny b): %+v", n, d)
	}
}

// TestACLAPIsWithoutAuthorizer: without the ACL authorizer the ACL APIs
// answer SECURITY_DISABLED, as Kafka without an authorizer.
func TestACLAPIsWithoutAuthorizer(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dial(t)
	if code := c.roundTrip(createAclsReq("User:a", "t")).(*kmsg.CreateACLsResponse).Results[0].ErrorCode; code != kerr.SecurityDisabled.Code {
		t.Errorf("CreateAcls: %v", kerr.ErrorForCode(code))
	}
	if code := c.roundTrip(describeAllAclsReq()).(*kmsg.DescribeACLsResponse).ErrorCode; code != kerr.SecurityDisabled.Code {
		t.Errorf("DescribeAcls: %v", kerr.ErrorForCode(code))
	}
	if code := c.roundTrip(deleteAclsReq("User:a")).(*kmsg.DeleteACLsResponse).Results[0].ErrorCode; code != kerr.SecurityDisabled.Code {
		t.Errorf("DeleteAcls: %v", kerr.ErrorForCode(code))
	}
}

// TestACLAPIVersions: CreateAcls, DescribeAcls and DeleteAcls at every
// version (v0 means LITERAL; v2 and up are flexible), with per-creation
// INVALID_REQUEST, Kafka's MATCH and ANY filters, and per-filter results.
func TestACLAPIVersions(t *testing.T) {
	for v := int16(0); v <= 3; v++ {
		as := startACLServer(t, t.TempDir(), acl.Config{SuperUsers: []access.Principal{{Type: "User", Name: "test"}}})
		c := (&testServer{addr: as.addr}).dial(t)

		create := kmsg.NewPtrCreateACLsRequest()
		create.Version = v
		good := createAclsReq("User:alice", "orders").Creations[0]
		bad := good
		bad.Principal = "alice" // no type
		wild := good
		wild.ResourceName = "*"
		create.Creations = []kmsg.CreateACLsRequestCreation{good, bad, wild}
		if v > 0 {
			pre := good
			pre.ResourceName, pre.ResourcePatternType = "ord", acl.Prefixed
			create.Creations = append(create.Creations, pre)
		}
		cr := c.roundTrip(create).(*kmsg.CreateACLsResponse)
		for i, r := range cr.Results {
			want := int16(0)
			if i == 1 {
				want = kerr.InvalidRequest.Code
			}
			if r.ErrorCode != want {
				t.Errorf("v%d creation %d: %v, want %v", v, i, kerr.ErrorForCode(r.ErrorCode), kerr.ErrorForCode(want))
			}
		}

		// MATCH on "orders" finds the literal, the "*" and (v1+) the
		// prefix; v0 filters are LITERAL: exactly "orders".
		desc := describeAllAclsReq()
		desc.Version, desc.ResourceType, desc.ResourceName, desc.ResourcePatternType = v, access.Topic, kmsg.StringPtr("orders"), acl.Match
		dr := c.roundTrip(desc).(*kmsg.DescribeACLsResponse)
		want := 3
		if v == 0 {
			want = 1
		}
		if dr.ErrorCode != 0 || len(dr.Resources) != want {
			t.Errorf("v%d describe MATCH orders: %v, %d resources, want %d", v, kerr.ErrorForCode(dr.ErrorCode), len(dr.Resources), want)
		}
		desc.ResourceType = 0 // UNKNOWN
		if dr := c.roundTrip(desc).(*kmsg.DescribeACLsResponse); dr.ErrorCode != kerr.InvalidRequest.Code {
			t.Errorf("v%d describe with an UNKNOWN type: %v", v, kerr.ErrorForCode(dr.ErrorCode))
		}

		del := kmsg.NewPtrDeleteACLsRequest()
		del.Version = v
		f := deleteAclsReq("User:alice").Filters[0]
		f.ResourceName = kmsg.StringPtr("*")
		if v == 0 {
			f.ResourcePatternType = acl.Literal
		}
		unknown := f
		unknown.Operation = 0
		del.Filters = []kmsg.DeleteACLsRequestFilter{f, unknown}
		delr := c.roundTrip(del).(*kmsg.DeleteACLsResponse)
		if r := delr.Results[0]; r.ErrorCode != 0 || len(r.MatchingACLs) != 1 || r.MatchingACLs[0].ResourceName != "*" {
			t.Errorf("v%d delete of the * ACL: %+v", v, r)
		}
		if r := delr.Results[1]; r.ErrorCode != kerr.InvalidRequest.Code {
			t.Errorf("v%d delete with an UNKNOWN operation: %v", v, kerr.ErrorForCode(r.ErrorCode))
		}
		created := len(create.Creations) - 1
		if left := as.a.Describe(acl.Filter{Type: acl.AnyType, Pattern: acl.AnyPattern, Op: acl.AnyOp, Permission: acl.AnyPermission}); len(left) != created-1 {
			t.Errorf("v%d: %d ACLs left, want %d: %v", v, len(left), created-1, left)
		}
	}
}

// FuzzACLRequests feeds arbitrary CreateAcls, DescribeAcls and DeleteAcls
// frames to a server with the ACL authorizer (the connection a super
// user, so every frame reaches the ACL code): no panic, every answer
// encodes, and the authorizer holds only valid ACLs afterwards.
//
//	go test -run ^$ -fuzz FuzzACLRequests -fuzztime 30s ./internal/kafka/
func FuzzACLRequests(f *testing.F) {
	for v := int16(0); v <= 3; v++ {
		for _, req := range []kmsg.Request{createAclsReq("User:a", "t"), describeAllAclsReq(), deleteAclsReq("User:a")} {
			req.SetVersion(v)
			f.Add(kmsg.NewRequestFormatter().AppendRequest(nil, req, 1)[4:])
		}
	}
	a := acl.New(acl.Config{SuperUsers: []access.Principal{access.Anonymous}})
	ts := startServer(f, func(cfg *Config) { cfg.ACL = a })
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	c := newConn(ts.s, c1)
	f.Fuzz(func(t *testing.T, frame []byte) {
		fuzzFrame(t, ts.s, c, frame)
		for _, b := range a.Describe(acl.Filter{Type: acl.AnyType, Pattern: acl.AnyPattern, Op: acl.AnyOp, Permission: acl.AnyPermission}) {
			if err := b.Validate(); err != nil {
				t.Fatalf("the authorizer holds an invalid ACL: %v", err)
			}
		}
	})
}
