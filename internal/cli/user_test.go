package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

func TestUserCommands(t *testing.T) {
	addr := newSecureKfake(t, kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "admin", "admin-pw"))
	t.Setenv("HERALD_SASL_MECHANISM", "SCRAM-SHA-256")
	t.Setenv("HERALD_SASL_USERNAME", "admin")
	t.Setenv("HERALD_SASL_PASSWORD", "admin-pw")

	r := ok(t, addr, "alice-secret\n", "user", "create", "alice", "--mechanism", "SCRAM-SHA-512", "--iterations", "4096", "--password-stdin")
	if strings.Contains(r.out+r.errOut, "alice-secret") {
		t.Fatalf("create echoed the password:\n%s%s", r.out, r.errOut)
	}
	t.Setenv("HERALD_USER_PASSWORD", "alice-256")
	ok(t, addr, "", "user", "create", "alice")

	out := ok(t, addr, "", "user", "list", "-o", "json").out
	if strings.Contains(out, "alice-secret") || strings.Contains(out, "alice-256") {
		t.Fatalf("list shows a password:\n%s", out)
	}
	var users []userCred
	if err := json.Unmarshal([]byte(out), &users); err != nil {
		t.Fatalf("list -o json: %v\n%s", err, out)
	}
	alice := findUser(users, "alice")
	want := []credInfo{{"SCRAM-SHA-256", 8192}, {"SCRAM-SHA-512", 4096}}
	if alice == nil || !sameCreds(alice.Credentials, want) {
		t.Fatalf("alice's credentials %+v, want %+v", alice, want)
	}
	if text := ok(t, addr, "", "user", "list").out; !strings.Contains(text, "alice  SCRAM-SHA-512  4096") {
		t.Fatalf("text list:\n%s", text)
	}

	// alice authenticates with her new password.
	asAlice := []string{"--sasl-mechanism", "SCRAM-SHA-512", "--sasl-username", "alice", "--sasl-password", "alice-secret"}
	ok(t, addr, "", append([]string{"topic", "list"}, asAlice...)...)

	ok(t, addr, "", "user", "delete", "alice", "--mechanism", "SCRAM-SHA-512")
	fails(t, addr, "", "authentication failed", append([]string{"topic", "list"}, asAlice...)...)
	if alice := findUser(listUsers(t, addr), "alice"); alice == nil || !sameCreds(alice.Credentials, want[:1]) {
		t.Fatalf("after deleting SCRAM-SHA-512: %+v", alice)
	}
	ok(t, addr, "", "user", "delete", "alice")
	if alice := findUser(listUsers(t, addr), "alice"); alice != nil {
		t.Fatalf("alice still listed after delete: %+v", alice)
	}
	if r := herald(t, addr, "", "user", "delete", "alice"); r.code == 0 || !strings.Contains(r.out, "no such user") {
		t.Fatalf("deleting a missing user: exit %d, stdout %q", r.code, r.out)
	}
}

func TestUserCreateErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in, exp string
		args          []string
	}{
		{"mechanism", "pw\n", `invalid --mechanism "PLAIN"`, []string{"--mechanism", "PLAIN", "--password-stdin"}},
		{"iterations", "pw\n", "invalid --iterations 100", []string{"--iterations", "100", "--password-stdin"}},
		{"empty password", "\n", "empty password", []string{"--password-stdin"}},
		{"no password source", "", "no password: use --password-stdin", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fails(t, "127.0.0.1:1", tc.in, tc.exp, append([]string{"user", "create", "bob"}, tc.args...)...)
		})
	}
}

func listUsers(t *testing.T, addr string) []userCred {
	t.Helper()
	var users []userCred
	if err := json.Unmarshal([]byte(ok(t, addr, "", "user", "list", "-o", "json").out), &users); err != nil {
		t.Fatal(err)
	}
	return users
}

func findUser(us []userCred, name string) *userCred {
	for i := range us {
		if us[i].User == name {
			return &us[i]
		}
	}
	return nil
}

func sameCreds(got, want []credInfo) bool {
	if len(got) != len(want) {
		return false
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			return false
		}
	}
	return true
}
