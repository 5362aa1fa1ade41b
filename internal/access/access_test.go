package access

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestAllowAllAllowsEverything(t *testing.T) {
	acts := []Action{{Op: Write, Type: Topic, Name: "t"}, {Op: ClusterAction, Type: Cluster, Name: ClusterName}}
	AllowAll{}.Authorize(Request{Principal: Anonymous}, acts)
	for _, a := range acts {
		if !a.Allowed {
			t.Errorf("AllowAll denied %v %v %q", a.Op, a.Type, a.Name)
		}
	}
}

// TestAllowAllAllocatesNothing: the default authorizer costs the produce
// and fetch paths no allocation.
func TestAllowAllAllocatesNothing(t *testing.T) {
	var a Authorizer = AllowAll{}
	acts := make([]Action, 1)
	rc := Request{Principal: Anonymous, ClientHost: "127.0.0.1", ClientID: "c", APIKey: 0, APIVersion: 9}
	if n := testing.AllocsPerRun(100, func() {
		acts[0] = Action{Op: Write, Type: Topic, Name: "orders"}
		a.Authorize(rc, acts)
	}); n != 0 {
		t.Errorf("AllowAll.Authorize: %v allocations, want 0", n)
	}
}

// TestCodesAreKafkas: the resource types and operations are Kafka's wire
// codes, so ACLs from CreateAcls and the authorized-operations bitfields
// line up.
func TestCodesAreKafkas(t *testing.T) {
	for _, c := range []struct {
		got, want int8
	}{
		{int8(Topic), 2}, {int8(Group), 3}, {int8(Cluster), 4}, {int8(TransactionalID), 5},
		{int8(Read), 3}, {int8(Write), 4}, {int8(Create), 5}, {int8(Delete), 6}, {int8(Alter), 7},
		{int8(Describe), 8}, {int8(ClusterAction), 9}, {int8(DescribeConfigs), 10},
		{int8(AlterConfigs), 11}, {int8(IdempotentWrite), 12},
	} {
		if c.got != c.want {
			t.Errorf("code %d, want %d", c.got, c.want)
		}
	}
	if Anonymous.String() != "User:ANONYMOUS" {
		t.Errorf("Anonymous is %q", Anonymous)
	}
}

// TestOps: the operations each resource type knows are Kafka's
// (AclEntry.supportedOperations), as bitfields.
func TestOps(t *testing.T) {
	bits := func(ops []Operation) int32 {
		var b int32
		for _, op := range ops {
			b |= 1 << op
		}
		return b
	}
	for _, c := range []struct {
		rt   ResourceType
		want int32
	}{
		{Topic, 3576}, {Group, 328}, {Cluster, 8096},
		{TransactionalID, 1<<kmsg.ACLOperationDescribe | 1<<kmsg.ACLOperationWrite},
		{kmsg.ACLResourceTypeDelegationToken, 0},
	} {
		if got := bits(Ops(c.rt)); got != c.want {
			t.Errorf("Ops(%v) = %d, want %d", c.rt, got, c.want)
		}
	}
}
