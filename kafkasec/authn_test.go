package kafkasec_test

import (
	"context"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/kafkasec"
)

func TestClusterAuthenticator(t *testing.T) {
	seeds := cluster(t, kfake.EnableSASL(), kfake.Superuser(kafkasec.SCRAMSHA256, "admin", "admin-pw"),
		kfake.User(kafkasec.SCRAMSHA512, "alice", "alice-pw"))
	ctx := context.Background()
	a, err := kafkasec.NewClusterAuthenticator(kafkasec.ClusterAuthConfig{Brokers: seeds})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := a.Authenticate(ctx, "alice", "alice-pw"); err != nil || p != "User:alice" {
		t.Fatalf("alice: %q %v", p, err)
	}
	for _, bad := range [][2]string{{"alice", "wrong"}, {"mallory", "x"}, {"alice", ""}} {
		if _, err := a.Authenticate(ctx, bad[0], bad[1]); !errors.Is(err, kafkasec.ErrBadCredentials) {
			t.Fatalf("%s/%s: %v, want ErrBadCredentials", bad[0], bad[1], err)
		}
	}

	// Delete alice: the cached success still holds, a new authenticator
	// (an expired cache) refuses her.
	adminOpts, _ := kafkasec.Config{SASL: kafkasec.SASL{Mechanism: kafkasec.SCRAMSHA256, Username: "admin", Password: "admin-pw"}}.Opts()
	cl, err := kgo.NewClient(append(adminOpts, kgo.SeedBrokers(seeds...))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	res, err := kadm.NewClient(cl).AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: "alice", Mechanism: kadm.ScramSha512}}, nil)
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(ctx, "alice", "alice-pw"); err != nil {
		t.Fatalf("cached alice: %v", err)
	}
	fresh, _ := kafkasec.NewClusterAuthenticator(kafkasec.ClusterAuthConfig{Brokers: seeds})
	if _, err := fresh.Authenticate(ctx, "alice", "alice-pw"); !errors.Is(err, kafkasec.ErrBadCredentials) {
		t.Fatalf("deleted alice: %v, want ErrBadCredentials", err)
	}

	// An unreachable cluster is not a bad password.
	down, _ := kafkasec.NewClusterAuthenticator(kafkasec.ClusterAuthConfig{Brokers: []string{"127.0.0.1:1"}})
	if _, err := down.Authenticate(ctx, "alice", "alice-pw"); err == nil || errors.Is(err, kafkasec.ErrBadCredentials) {
		t.Fatalf("unreachable cluster: %v, want an error other than ErrBadCredentials", err)
	}
}

func TestEvaluate(t *testing.T) {
	topic, cl := kmsg.ACLResourceTypeTopic, kmsg.ACLResourceTypeCluster
	lit, pre := kmsg.ACLResourcePatternTypeLiteral, kmsg.ACLResourcePatternTypePrefixed
	acl := func(rt kmsg.ACLResourceType, name string, pat kmsg.ACLResourcePatternType, op kmsg.ACLOperation, allow bool) kafkasec.ACL {
		return kafkasec.ACL{Principal: "User:a", Host: "*", ResourceType: rt, ResourceName: name, Pattern: pat, Operation: op, Allow: allow}
	}
	read, write, desc, all := kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationDescribe, kmsg.ACLOperationAll
	for _, tc := range []struct {
		name string
		acls []kafkasec.ACL
		rt   kmsg.ACLResourceType
		res  string
		op   kmsg.ACLOperation
		exp  bool
	}{
		{"no acls", nil, topic, "t", read, false},
		{"literal", []kafkasec.ACL{acl(topic, "t", lit, read, true)}, topic, "t", read, true},
		{"literal other name", []kafkasec.ACL{acl(topic, "t", lit, read, true)}, topic, "t2", read, false},
		{"wildcard", []kafkasec.ACL{acl(topic, "*", lit, read, true)}, topic, "x", read, true},
		{"prefixed", []kafkasec.ACL{acl(topic, "or", pre, write, true)}, topic, "orders", write, true},
		{"read implies describe", []kafkasec.ACL{acl(topic, "t", lit, read, true)}, topic, "t", desc, true},
		{"describe does not imply read", []kafkasec.ACL{acl(topic, "t", lit, desc, true)}, topic, "t", read, false},
		{"all", []kafkasec.ACL{acl(topic, "t", lit, all, true)}, topic, "t", write, true},
		{"deny wins", []kafkasec.ACL{acl(topic, "*", lit, all, true), acl(topic, "t", lit, read, false)}, topic, "t", read, false},
		{"deny of another op", []kafkasec.ACL{acl(topic, "t", lit, read, true), acl(topic, "t", lit, write, false)}, topic, "t", read, true},
		{"other resource type", []kafkasec.ACL{acl(topic, "kafka-cluster", lit, all, true)}, cl, "kafka-cluster", desc, false},
		{"host-specific allow ignored", []kafkasec.ACL{{Principal: "User:a", Host: "10.0.0.1", ResourceType: topic, ResourceName: "t", Pattern: lit, Operation: read, Allow: true}}, topic, "t", read, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := kafkasec.Evaluate(tc.acls, tc.rt, tc.res, tc.op); got != tc.exp {
				t.Fatalf("Evaluate = %v, want %v", got, tc.exp)
			}
		})
	}
}
