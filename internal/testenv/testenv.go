// Package testenv decides what a test does when something outside Go that
// it needs (kcat, a PostgreSQL server) is missing. Under a plain `go test`
// the test skips with a message that names what is missing and how to get
// it; with HERALD_REQUIRE_TOOLS=1, which `make test` and CI set, it fails,
// so that nothing is skipped silently where everything should be there.
//
//	kcat := testenv.Tool(t, "kcat", "scripts/ensure-tools.sh installs it")
//	dsn := testenv.Postgres(t, dsn)
package testenv

import (
	"net"
	"net/url"
	"os"
	"os/exec"
	"time"
)

// RequireEnv is the environment variable that turns a missing tool or
// service into a test failure when it is "1".
const RequireEnv = "HERALD_REQUIRE_TOOLS"

// TB is the part of testing.TB this package uses.
type TB interface {
	Helper()
	Skipf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// Required reports whether HERALD_REQUIRE_TOOLS=1.
func Required() bool { return os.Getenv(RequireEnv) == "1" }

// Missing skips tb, or fails it with HERALD_REQUIRE_TOOLS=1, saying that
// what is missing (err) and how to get it (hint).
func Missing(tb TB, what, hint string, err error) {
	tb.Helper()
	if Required() {
		tb.Fatalf("%s is missing (%v) and %s=1: %s", what, err, RequireEnv, hint)
		return
	}
	tb.Skipf("%s is missing (%v): %s; the test skips (%s=1, as make test sets, makes it fail)", what, err, hint, RequireEnv)
}

// Tool returns the path of the program name, or calls Missing.
func Tool(tb TB, name, hint string) string {
	tb.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		Missing(tb, name, hint, err)
		return ""
	}
	return path
}

// Postgres checks that the PostgreSQL server of dsn (a postgres:// URL)
// accepts TCP connections, else calls Missing. It returns dsn.
func Postgres(tb TB, dsn string) string {
	tb.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatalf("PostgreSQL DSN %q: %v", dsn, err)
		return ""
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "5432")
	}
	nc, err := net.DialTimeout("tcp", host, 3*time.Second)
	if err != nil {
		Missing(tb, "PostgreSQL at "+host, "scripts/ensure-postgres.sh (as root) installs and starts it; HERALD_TEST_POSTGRES names another server", err)
		return dsn
	}
	nc.Close()
	return dsn
}
