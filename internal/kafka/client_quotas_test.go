package kafka

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/quota"
)

func newAdmin(t testing.TB, addr, clientID string) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ClientID(clientID), kgo.RequestRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

func ent(kv ...*string) kadm.ClientQuotaEntity {
	var e kadm.ClientQuotaEntity
	for i := 0; i < len(kv); i += 2 {
		e = append(e, kadm.ClientQuotaEntityComponent{Type: *kv[i], Name: kv[i+1]})
	}
	return e
}

var (
	userT   = kmsg.StringPtr(quota.User)
	clientT = kmsg.StringPtr(quota.ClientID)
)

// TestClientQuotasKadm: kadm alters and describes quotas; validate_only
// changes nothing; each invalid entry gets INVALID_REQUEST while the
// valid ones in the same request apply; filters select by EXACT, DEFAULT
// and ANY, strict or not; and the quotas set are the ones enforced.
func TestClientQuotasKadm(t *testing.T) {
	ts := startServer(t, nil)
	adm := newAdmin(t, ts.addr, "admin")
	ctx := context.Background()
	entries := []kadm.AlterClientQuotaEntry{
		{Entity: ent(userT, kmsg.StringPtr("alice")), Ops: []kadm.AlterClientQuotaOp{{Key: quota.ProducerByteRate, Value: 1 << 20}}},
		{Entity: ent(userT, nil, clientT, kmsg.StringPtr("app")), Ops: []kadm.AlterClientQuotaOp{{Key: quota.ConsumerByteRate, Value: 2048}, {Key: quota.RequestPercentage, Value: 25.5}}},
		{Entity: ent(clientT, nil), Ops: []kadm.AlterClientQuotaOp{{Key: quota.ControllerMutationRate, Value: 10}}},
		{Entity: ent(userT, kmsg.StringPtr("bad")), Ops: []kadm.AlterClientQuotaOp{{Key: "no_such_key", Value: 1}}},
		{Entity: ent(kmsg.StringPtr("group"), kmsg.StringPtr("g")), Ops: []kadm.AlterClientQuotaOp{{Key: quota.ProducerByteRate, Value: 1}}},
		{Entity: ent(userT, kmsg.StringPtr("frac")), Ops: []kadm.AlterClientQuotaOp{{Key: quota.ProducerByteRate, Value: 1.5}}},
	}
	vr, err := adm.ValidateAlterClientQuotas(ctx, entries)
	if err != nil {
		t.Fatal(err)
	}
	checkAltered(t, vr, 3)
	if got, _ := adm.DescribeClientQuotas(ctx, false, nil); len(got) != 0 {
		t.Fatalf("validate_only stored %v", got)
	}
	ar, err := adm.AlterClientQuotas(ctx, entries)
	if err != nil {
		t.Fatal(err)
	}
	checkAltered(t, ar, 3)
	if l, ok := ts.s.quotas.Limit(quota.Produce, "alice", "any"); !ok || l != 1<<20 {
		t.Fatalf("alice's produce limit %v %v after the alter", l, ok)
	}

	describe := func(strict bool, comps ...kadm.DescribeClientQuotaComponent) []string {
		t.Helper()
		got, err := adm.DescribeClientQuotas(ctx, strict, comps)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, q := range got {
			out = append(out, q.Entity.String()+" "+q.Values[0].String())
		}
		return out
	}
	exact := kadm.DescribeClientQuotaComponent{Type: quota.User, MatchName: kmsg.StringPtr("alice"), MatchType: 0}
	if got := describe(false, exact); len(got) != 1 || got[0] != "{user=alice} producer_byte_rate=1048576.000000" {
		t.Errorf("EXACT user=alice: %v", got)
	}
	dflt := kadm.DescribeClientQuotaComponent{Type: quota.User, MatchType: 1}
	if got := describe(false, dflt); len(got) != 1 || got[0] != "{user=<default>, client-id=app} consumer_byte_rate=2048.000000" {
		t.Errorf("DEFAULT user: %v", got)
	}
	if got := describe(true, dflt); len(got) != 0 {
		t.Errorf("DEFAULT user, strict: %v", got)
	}
	any := kadm.DescribeClientQuotaComponent{Type: quota.ClientID, MatchType: 2}
	if got := describe(false, any); len(got) != 1 {
		t.Errorf("ANY client-id: %v", got)
	}
	if got := describe(false); len(got) != 3 {
		t.Errorf("no filter: %v", got)
	}
	_, err = adm.DescribeClientQuotas(ctx, false, []kadm.DescribeClientQuotaComponent{{Type: "topic", MatchType: 2}})
	if !errors.Is(err, kerr.InvalidRequest) {
		t.Errorf("unknown entity type in filter: %v, want INVALID_REQUEST", err)
	}

	// Removing the last values removes the entity.
	_, err = adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{
		{Entity: ent(userT, kmsg.StringPtr("alice")), Ops: []kadm.AlterClientQuotaOp{{Key: quota.ProducerByteRate, Remove: true}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := describe(false, exact); len(got) != 0 {
		t.Errorf("after removing alice's only value: %v", got)
	}
}

// checkAltered: the first ok entries succeeded and the rest are
// INVALID_REQUEST with a message.
func checkAltered(t *testing.T, rs kadm.AlteredClientQuotas, ok int) {
	t.Helper()
	if len(rs) != 6 {
		t.Fatalf("%d results", len(rs))
	}
	for i, r := range rs {
		if i < ok && r.Err != nil {
			t.Errorf("entry %d (%v): %v %s", i, r.Entity, r.Err, r.ErrMessage)
		}
		if i >= ok && (!errors.Is(r.Err, kerr.InvalidRequest) || r.ErrMessage == "") {
			t.Errorf("entry %d (%v): %v %q, want INVALID_REQUEST with a reason", i, r.Entity, r.Err, r.ErrMessage)
		}
	}
}

// configsOnly denies DESCRIBE_CONFIGS and ALTER_CONFIGS on the cluster.
type configsDenied struct{}

func (configsDenied) Authorize(_ access.Request, acts []access.Action) {
	for i := range acts {
		a := &acts[i]
		a.Allowed = !(a.Type == access.Cluster && (a.Op == access.DescribeConfigs || a.Op == access.AlterConfigs))
	}
}

// TestClientQuotasAuthorized: without DESCRIBE_CONFIGS / ALTER_CONFIGS on
// the cluster, both APIs answer CLUSTER_AUTHORIZATION_FAILED and nothing
// changes.
func TestClientQuotasAuthorized(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.Authorizer = configsDenied{} })
	adm := newAdmin(t, ts.addr, "admin")
	ctx := context.Background()
	if _, err := adm.DescribeClientQuotas(ctx, false, nil); !errors.Is(err, kerr.ClusterAuthorizationFailed) {
		t.Errorf("describe: %v", err)
	}
	rs, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{
		{Entity: ent(userT, nil), Ops: []kadm.AlterClientQuotaOp{{Key: quota.ProducerByteRate, Value: 1}}},
	})
	if err != nil || len(rs) != 1 || !errors.Is(rs[0].Err, kerr.ClusterAuthorizationFailed) {
		t.Errorf("alter: %v %+v", err, rs)
	}
	if ts.s.quotas.Active() {
		t.Error("a denied alter set a quota")
	}
}

// TestClientQuotasSarama: sarama's cluster admin alters (v0 and, as
// Kafka 2.8, v1) and describes quotas.
func TestClientQuotasSarama(t *testing.T) {
	for _, v := range []sarama.KafkaVersion{sarama.V2_6_0_0, sarama.V2_8_0_0} {
		t.Run(v.String(), func(t *testing.T) {
			ts := startServer(t, nil)
			cfg := sarama.NewConfig()
			cfg.Version, cfg.ClientID = v, "admin"
			adm, err := sarama.NewClusterAdmin([]string{ts.addr}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer adm.Close()
			entity := []sarama.QuotaEntityComponent{
				{EntityType: sarama.QuotaEntityUser, MatchType: sarama.QuotaMatchExact, Name: "bob"},
				{EntityType: sarama.QuotaEntityClientID, MatchType: sarama.QuotaMatchDefault},
			}
			err = adm.AlterClientQuotas(entity, sarama.ClientQuotasOp{Key: quota.ConsumerByteRate, Value: 4096}, false)
			if err != nil {
				t.Fatal(err)
			}
			err = adm.AlterClientQuotas(entity, sarama.ClientQuotasOp{Key: "bogus", Value: 1}, false)
			if err == nil || !strings.Contains(err.Error(), "unknown quota key") { // sarama reports the message
				t.Errorf("bogus key: %v, want the reason", err)
			}
			got, err := adm.DescribeClientQuotas([]sarama.QuotaFilterComponent{
				{EntityType: sarama.QuotaEntityUser, MatchType: sarama.QuotaMatchExact, Match: "bob"},
			}, false)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].Values[quota.ConsumerByteRate] != 4096 || len(got[0].Entity) != 2 {
				t.Fatalf("describe: %+v", got)
			}
			if l, ok := ts.s.quotas.Limit(quota.Fetch, "bob", "whatever"); !ok || l != 4096 {
				t.Fatalf("bob's fetch limit: %v %v", l, ok)
			}
		})
	}
}

// quotaSeedAlter and quotaSeedDescribe are FuzzHandle's seeds for the
// quota APIs: entries with names, defaults and an ip.
func quotaSeedAlter() *kmsg.AlterClientQuotasRequest {
	req := kmsg.NewPtrAlterClientQuotasRequest()
	req.SetVersion(1)
	for _, e := range [][2]*string{{userT, kmsg.StringPtr("u")}, {clientT, nil}, {kmsg.StringPtr("ip"), kmsg.StringPtr("1.2.3.4")}} {
		entry := kmsg.NewAlterClientQuotasRequestEntry()
		ent := kmsg.NewAlterClientQuotasRequestEntryEntity()
		ent.Type, ent.Name = *e[0], e[1]
		entry.Entity = append(entry.Entity, ent)
		op := kmsg.NewAlterClientQuotasRequestEntryOp()
		op.Key, op.Value = quota.ProducerByteRate, 1024
		entry.Ops = append(entry.Ops, op)
		req.Entries = append(req.Entries, entry)
	}
	return req
}

func quotaSeedDescribe() *kmsg.DescribeClientQuotasRequest {
	req := kmsg.NewPtrDescribeClientQuotasRequest()
	req.SetVersion(1)
	c := kmsg.NewDescribeClientQuotasRequestComponent()
	c.EntityType, c.MatchType = quota.User, 2
	req.Components = append(req.Components, c)
	return req
}
