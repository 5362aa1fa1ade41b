package access_test

import (
	"fmt"

	"github.com/heraldhq/herald/internal/access"
)

// readOnly allows reading and describing, and nothing else.
type readOnly struct{}

func (readOnly) Authorize(_ access.Request, acts []access.Action) {
	for i := range acts {
		acts[i].Allowed = acts[i].Op == access.Read || acts[i].Op == access.Describe
	}
}

// An Authorizer answers a batch of actions in place.
func Example() {
	rc := access.Request{Principal: access.Anonymous, ClientHost: "127.0.0.1", APIKey: 0}
	acts := []access.Action{
		{Op: access.Write, Type: access.Topic, Name: "orders"},
		{Op: access.Read, Type: access.Topic, Name: "orders"},
	}
	var a access.Authorizer = readOnly{}
	a.Authorize(rc, acts)
	for _, act := range acts {
		fmt.Println(rc.Principal, act.Op, act.Type, act.Name, act.Allowed)
	}
	// Output:
	// User:ANONYMOUS WRITE TOPIC orders false
	// User:ANONYMOUS READ TOPIC orders true
}
