package testenv

import (
	"fmt"
	"net"
	"strings"
	"testing"
)

// recorder is a TB that records what a helper did.
type recorder struct {
	skipped, failed string
}

func (r *recorder) Helper()                      {}
func (r *recorder) Skipf(f string, args ...any)  { r.skipped = fmt.Sprintf(f, args...) }
func (r *recorder) Fatalf(f string, args ...any) { r.failed = fmt.Sprintf(f, args...) }

func TestMissing(t *testing.T) {
	for _, tc := range []struct {
		name    string
		require string
		fail    bool
	}{
		{name: "plain go test skips", require: ""},
		{name: "make test fails", require: "1", fail: true},
		{name: "other value skips", require: "0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(RequireEnv, tc.require)
			var r recorder
			if p := Tool(&r, "herald-no-such-tool", "install it with apt-get"); p != "" {
				t.Fatalf("Tool found %q", p)
			}
			msg := r.skipped
			if tc.fail {
				msg = r.failed
			}
			if (r.failed != "") != tc.fail || (r.skipped != "") == tc.fail {
				t.Fatalf("skipped %q failed %q, want fail=%v", r.skipped, r.failed, tc.fail)
			}
			if !strings.Contains(msg, "herald-no-such-tool is missing") || !strings.Contains(msg, "install it with apt-get") {
				t.Fatalf("message %q does not name the tool and the hint", msg)
			}
		})
	}
}

func TestPostgres(t *testing.T) {
	t.Setenv(RequireEnv, "")
	// A port nothing listens on: taken, then released.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var r recorder
	Postgres(&r, "postgres://u@"+addr+"/db")
	if !strings.Contains(r.skipped, "PostgreSQL at "+addr) {
		t.Fatalf("unreachable server: skipped %q failed %q", r.skipped, r.failed)
	}
	// A listening server passes.
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	r = recorder{}
	Postgres(&r, "postgres://u@"+ln.Addr().String()+"/db")
	if r.skipped != "" || r.failed != "" {
		t.Fatalf("reachable server: skipped %q failed %q", r.skipped, r.failed)
	}
}
