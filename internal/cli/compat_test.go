package cli

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestNotHeraldOnly runs the same command lines against Herald and
// against franz-go's kfake, a Kafka implementation that shares no code
// with Herald: the CLI uses nothing but the Kafka protocol.
func TestNotHeraldOnly(t *testing.T) {
	steps := []struct {
		name string
		in   string
		args []string
		exp  string // stdout must contain this
	}{
		{"topic create", "", []string{"topic", "create", "t1", "dlq", "-p", "2"}, "t1"},
		{"topic list", "", []string{"topic", "list"}, "t1"},
		{"topic alter-config", "", []string{"topic", "alter-config", "t1", "--set", "retention.ms=3600000"}, "OK"},
		{"topic add-partitions", "", []string{"topic", "add-partitions", "t1", "--num", "1"}, "OK"},
		{"topic describe", "", []string{"topic", "describe", "t1"}, "retention.ms"},
		{"produce lines", "a\nb\nc\n", []string{"produce", "t1", "--partition", "0"}, ""},
		{"produce json", `{"key":"k","value":"d","headers":{"h":"1"}}` + "\n", []string{"produce", "t1", "--json", "--partition", "0"}, ""},
		{"produce value", "", []string{"produce", "dlq", "--value", "letter", "--header", "dlq_topic=t1", "--partition", "0"}, ""},
		{"consume", "", []string{"consume", "t1", "--count", "4"}, "a\nb\nc\nd\n"},
		{"consume json", "", []string{"consume", "t1", "--from", "-1", "--format", "json"}, `"value":"d"`},
		{"consume group", "", []string{"consume", "t1", "--group", "g"}, "a\nb\nc\nd\n"},
		{"group list", "", []string{"group", "list"}, "g"},
		{"group describe", "", []string{"group", "describe", "g"}, "t1"},
		{"group reset dry run", "", []string{"group", "reset-offsets", "g", "--to-datetime", "2020-01-01"}, "planned"},
		{"group reset execute", "", []string{"group", "reset-offsets", "g", "--topic", "t1", "--shift-by", "-1", "--execute"}, "OK"},
		{"consume group replay", "", []string{"consume", "t1", "--group", "g"}, "d\n"},
		{"cluster info", "", []string{"cluster", "info"}, "BROKERS"},
		{"dlq redrive", "", []string{"dlq", "redrive", "dlq", "--group", "rd"}, "re-drove 1 letters"},
		{"group delete", "", []string{"group", "delete", "g"}, "OK"},
		{"topic delete", "", []string{"topic", "delete", "t1"}, "OK"},
	}
	for _, b := range []struct {
		name  string
		start func(*testing.T) string
	}{{"herald", newHerald}, {"kfake", newKfake}} {
		t.Run(b.name, func(t *testing.T) {
			addr := b.start(t)
			for _, s := range steps {
				r := herald(t, addr, s.in, s.args...)
				if r.code != 0 || !strings.Contains(r.out, s.exp) {
					t.Fatalf("%s on %s: exit %d, stdout does not contain %q\nstdout:\n%s\nstderr:\n%s", s.name, b.name, r.code, s.exp, r.out, r.errOut)
				}
			}
		})
	}
}

// TestBinaryExitCode builds the herald binary and checks that a failing
// command exits 1 with the message on stderr.
func TestBinaryExitCode(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "herald")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/heraldhq/herald/cmd/herald").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "topic", "list")
	cmd.Env = append(cmd.Environ(), brokersEnv+"=127.0.0.1:1")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("herald topic list with no broker: %v, want exit 1\n%s", err, out)
	}
	if !strings.Contains(string(out), "herald: connection refused: is a broker running at 127.0.0.1:1?") {
		t.Fatalf("stderr: %s", out)
	}
}
