package kafka

import (
	"testing"

	"github.com/IBM/sarama"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/acl"
)

// TestACLsSarama: sarama's cluster admin creates, lists and deletes ACLs
// at the versions it picks for an old (v0 requests) and a newer Kafka
// (CreateAcls v1, DescribeAcls and DeleteAcls v2, flexible), and the ACLs
// it creates are the ones the authorizer holds.
func TestACLsSarama(t *testing.T) {
	for _, v := range []sarama.KafkaVersion{sarama.V1_0_0_0, sarama.V2_5_0_0} {
		t.Run(v.String(), func(t *testing.T) {
			as := startACLServer(t, t.TempDir(), acl.Config{})
			cfg := sarama.NewConfig()
			cfg.Version, cfg.ClientID = v, "admin"
			adm, err := sarama.NewClusterAdmin([]string{as.addr}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer adm.Close()
			pattern := sarama.AclPatternLiteral
			if v.IsAtLeast(sarama.V2_0_0_0) {
				pattern = sarama.AclPatternPrefixed
			}
			err = adm.CreateACLs([]*sarama.ResourceAcls{{
				Resource: sarama.Resource{ResourceType: sarama.AclResourceTopic, ResourceName: "orders", ResourcePatternType: pattern},
				Acls: []*sarama.Acl{
					{Principal: "User:alice", Host: "*", Operation: sarama.AclOperationWrite, PermissionType: sarama.AclPermissionAllow},
					{Principal: "User:bob", Host: "10.0.0.1", Operation: sarama.AclOperationRead, PermissionType: sarama.AclPermissionDeny},
				},
			}})
			if err != nil {
				t.Fatal(err)
			}
			if !may(as.a, "alice", access.Write, "orders") || may(as.a, "bob", access.Read, "orders") {
				t.Fatal("the ACLs sarama created do not decide as created")
			}
			filter := sarama.AclFilter{ResourceType: sarama.AclResourceAny, ResourcePatternTypeFilter: sarama.AclPatternAny,
				Operation: sarama.AclOperationAny, PermissionType: sarama.AclPermissionAny}
			if !v.IsAtLeast(sarama.V2_0_0_0) {
				filter.ResourcePatternTypeFilter = sarama.AclPatternLiteral // v0 has no pattern: LITERAL
			}
			got, err := adm.ListAcls(filter)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || len(got[0].Acls) != 2 || got[0].ResourceName != "orders" {
				t.Fatalf("ListAcls: %+v", got)
			}
			alice := "User:alice"
			filter.Principal = &alice
			deleted, err := adm.DeleteACL(filter, false)
			if err != nil || len(deleted) != 1 || deleted[0].Principal != "User:alice" {
				t.Fatalf("DeleteACL: %+v %v", deleted, err)
			}
			if may(as.a, "alice", access.Write, "orders") {
				t.Fatal("alice may still write after the delete")
			}
		})
	}
}

// may asks a whether User:who, from 10.0.0.1, may do op to topic name.
func may(a *acl.Authorizer, who string, op access.Operation, name string) bool {
	acts := []access.Action{{Op: op, Type: access.Topic, Name: name}}
	a.Authorize(access.Request{Principal: access.Principal{Type: "User", Name: who}, ClientHost: "10.0.0.1"}, acts)
	return acts[0].Allowed
}
