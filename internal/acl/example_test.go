package acl_test

import (
	"fmt"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/acl"
)

// Alice may write every topic whose name starts with "orders.", except
// orders.audit; ops is a super user.
func Example() {
	a := acl.New(acl.Config{SuperUsers: []access.Principal{{Type: "User", Name: "ops"}}})
	err := a.Create([]acl.Binding{
		{Principal: "User:alice", Host: "*", Type: access.Topic, Name: "orders.", Pattern: acl.Prefixed, Op: access.Write, Permission: acl.Allow},
		{Principal: "User:alice", Host: "*", Type: access.Topic, Name: "orders.audit", Pattern: acl.Literal, Op: acl.All, Permission: acl.Deny},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, q := range []struct {
		who  string
		op   access.Operation
		name string
	}{
		{"alice", access.Write, "orders.eu"},
		{"alice", access.Describe, "orders.eu"}, // WRITE implies DESCRIBE
		{"alice", access.Read, "orders.eu"},
		{"alice", access.Write, "orders.audit"}, // deny wins
		{"bob", access.Write, "orders.eu"},      // default deny
		{"ops", access.Write, "orders.audit"},   // super user
	} {
		acts := []access.Action{{Op: q.op, Type: access.Topic, Name: q.name}}
		a.Authorize(access.Request{Principal: access.Principal{Type: "User", Name: q.who}, ClientHost: "10.0.0.1"}, acts)
		fmt.Println(q.who, q.op, q.name, acts[0].Allowed)
	}
	// Output:
	// alice WRITE orders.eu true
	// alice DESCRIBE orders.eu true
	// alice READ orders.eu false
	// alice WRITE orders.audit false
	// bob WRITE orders.eu false
	// ops WRITE orders.audit true
}
