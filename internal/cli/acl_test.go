package cli

import (
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/server"
)

// newACLHerald starts a broker with the ACL authorizer. Its connections
// are User:ANONYMOUS until SASL; with --allow-if-no-acl, ANONYMOUS may
// do what no ACL names, the cluster included, so the CLI can manage
// ACLs and then be denied by them.
func newACLHerald(t *testing.T) string {
	t.Helper()
	cfg := server.DefaultConfig()
	cfg.DataDir, cfg.ListenAddr, cfg.Durability = t.TempDir(), "127.0.0.1:0", "none"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.AuthorizerKind, cfg.AllowIfNoACL = "acl", true
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	return srv.Addr().String()
}

func aclRows(t *testing.T, out string) []aclRow {
	t.Helper()
	var rows []aclRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("%v in %q", err, out)
	}
	return rows
}

// TestACLCommands: add (and its dry run, which shows exactly what add
// then creates), list with filters, remove (and its dry run), and an ACL
// added by the CLI applying to the next request.
func TestACLCommands(t *testing.T) {
	addr := newACLHerald(t)
	ok(t, addr, "", "topic", "create", "orders", "orders.eu", "secret")
	add := []string{"acl", "add", "--allow-principal", "User:alice,User:bob", "--operation", "read,describe",
		"--topic", "orders.", "--resource-pattern-type", "prefixed", "--group", "billing", "-o", "json"}

	dry := ok(t, addr, "", append(add, "--dry-run")...)
	planned := aclRows(t, dry.out)
	if len(planned) != 8 || !strings.Contains(dry.errOut, "dry run: would add 8 ACLs") {
		t.Fatalf("dry run planned %d ACLs: %s %s", len(planned), dry.out, dry.errOut)
	}
	if got := aclRows(t, ok(t, addr, "", "acl", "list", "-o", "json").out); len(got) != 0 {
		t.Fatalf("the dry run added %v", got)
	}
	added := aclRows(t, ok(t, addr, "", add...).out)
	if !slicesEqual(added, planned) {
		t.Fatalf("add created\n%v\nthe dry run planned\n%v", added, planned)
	}
	listed := aclRows(t, ok(t, addr, "", "acl", "list", "-o", "json").out)
	if !slicesEqual(listed, planned) {
		t.Fatalf("list shows\n%v\nwant\n%v", listed, planned)
	}

	// Filters: bob's; those that apply to topic orders.eu (MATCH).
	if got := aclRows(t, ok(t, addr, "", "acl", "list", "--allow-principal", "User:bob", "-o", "json").out); len(got) != 4 {
		t.Errorf("bob's ACLs: %v", got)
	}
	if got := aclRows(t, ok(t, addr, "", "acl", "list", "--topic", "orders.eu", "--resource-pattern-type", "match", "-o", "json").out); len(got) != 4 {
		t.Errorf("ACLs that apply to orders.eu: %v", got)
	}
	text := ok(t, addr, "", "acl", "list", "--group", "billing").out
	if !strings.Contains(text, "PRINCIPAL") || !strings.Contains(text, "User:alice  *     ALLOW       READ") {
		t.Errorf("table:\n%s", text)
	}

	// A DENY added by the CLI applies to the next produce.
	ok(t, addr, "v\n", "produce", "secret")
	ok(t, addr, "", "acl", "add", "--deny-principal", "User:ANONYMOUS", "--operation", "write", "--topic", "secret")
	fails(t, addr, "v\n", "TOPIC_AUTHORIZATION_FAILED", "produce", "secret")

	rmDry := ok(t, addr, "", "acl", "remove", "--allow-principal", "User:alice", "--topic", "orders.", "--resource-pattern-type", "prefixed", "--dry-run", "-o", "json")
	if got := aclRows(t, rmDry.out); len(got) != 2 || !strings.Contains(rmDry.errOut, "would remove 2 ACLs") {
		t.Fatalf("remove dry run: %v %s", got, rmDry.errOut)
	}
	if got := aclRows(t, ok(t, addr, "", "acl", "list", "-o", "json").out); len(got) != 9 {
		t.Fatalf("the remove dry run removed something: %d left", len(got))
	}
	rm := ok(t, addr, "", "acl", "remove", "--allow-principal", "User:alice", "--topic", "orders.", "--resource-pattern-type", "prefixed")
	if !strings.Contains(rm.errOut, "removed 2 ACLs") {
		t.Errorf("remove: %s", rm.errOut)
	}
	ok(t, addr, "", "acl", "remove", "--topic", "secret")
	ok(t, addr, "v\n", "produce", "secret")
	if got := aclRows(t, ok(t, addr, "", "acl", "list", "-o", "json").out); len(got) != 6 {
		t.Errorf("%d ACLs left, want 6: %v", len(got), got)
	}
}

func slicesEqual(a, b []aclRow) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestACLCommandErrors: bad flags are refused before anything is sent,
// and a broker without an authorizer says so.
func TestACLCommandErrors(t *testing.T) {
	for _, c := range []struct {
		want string
		args []string
	}{
		{"unknown --operation", []string{"acl", "add", "--allow-principal", "User:a", "--operation", "fly", "--topic", "t"}},
		{"want Type:Name", []string{"acl", "add", "--allow-principal", "alice", "--operation", "read", "--topic", "t"}},
		{"adding needs", []string{"acl", "add", "--allow-principal", "User:a", "--operation", "read"}},
		{"unknown --resource-pattern-type", []string{"acl", "add", "--allow-principal", "User:a", "--operation", "read", "--topic", "t", "--resource-pattern-type", "match"}},
		{"remove needs a resource", []string{"acl", "remove", "--allow-principal", "User:a"}},
	} {
		fails(t, "127.0.0.1:1", "", c.want, c.args...)
	}
	fails(t, newHerald(t), "", "SECURITY_DISABLED", "acl", "list")
}
