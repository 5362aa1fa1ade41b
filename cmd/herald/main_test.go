package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/buildinfo"
)

// herald runs a command line in-process and returns stdout, stderr and
// the exit code main would use.
func herald(t *testing.T, env map[string]string, args ...string) (string, string, int) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(""), &out, &errOut)
	return out.String(), errOut.String(), code
}

func TestVersion(t *testing.T) {
	want := buildinfo.Read().String() + "\n"
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out, errOut, code := herald(t, nil, args...)
		if code != 0 || out != want {
			t.Fatalf("herald %s: exit %d, out %q, err %q; want %q", strings.Join(args, " "), code, out, errOut, want)
		}
	}
	out, _, code := herald(t, nil, "version", "-o", "json")
	if code != 0 || !strings.Contains(out, `"go": "`+buildinfo.Read().Go+`"`) {
		t.Fatalf("herald version -o json: exit %d, %s", code, out)
	}
}

func TestUnknownCommandExitCode(t *testing.T) {
	for _, args := range [][]string{{"srve"}, {"topic", "lst"}} {
		_, errOut, code := herald(t, nil, args...)
		if code != 1 || !strings.Contains(errOut, "unknown command") {
			t.Fatalf("herald %s: exit %d, stderr %q; want 1 and unknown command", strings.Join(args, " "), code, errOut)
		}
	}
}

// TestDefaultsLoopback checks that neither listener is exposed unless asked.
func TestDefaultsLoopback(t *testing.T) {
	out, errOut, code := herald(t, nil, "serve", "--print-config")
	if code != 0 {
		t.Fatalf("serve --print-config: exit %d: %s", code, errOut)
	}
	for _, want := range []string{"\nlisten: 127.0.0.1:9092\n", "\nregistry-listen: 127.0.0.1:8081\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("serve --print-config lacks %q:\n%s", want, out)
		}
	}
	out, _, _ = herald(t, nil, "registry", "--print-config")
	if !strings.Contains(out, "\nlisten: 127.0.0.1:8081\n") {
		t.Errorf("registry --print-config: no loopback listen:\n%s", out)
	}
}

// TestConfigFile checks the precedence flag > environment > file >
// default, that every flag is a key, and that --print-config's output
// reads back as a config file giving the same settings.
func TestConfigFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "herald.yaml")
	writeFile(t, path, `# a comment
data-dir: /from/file
durability: interval=50ms
default-partitions: 3
auto-create-topics: false
listen: 0.0.0.0:9092
log-level: debug
`)
	out, errOut, code := herald(t, map[string]string{"HERALD_DURABILITY": "none"},
		"serve", "--config", path, "--default-partitions", "5", "--print-config")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"\ndata-dir: /from/file\n",      // file
		"\ndurability: none\n",          // environment over file
		"\ndefault-partitions: 5\n",     // flag over file
		"\nauto-create-topics: false\n", // file, a bool
		"\nmax-connections: 4096\n",     // default
		"\nregistry-listen: 127.0.0.1:8081\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("--print-config lacks %q:\n%s", want, out)
		}
	}
	// The printed settings read back as a config file.
	printed := filepath.Join(dir, "printed.yaml")
	writeFile(t, printed, out)
	again, errOut, code := herald(t, nil, "serve", "--config", printed, "--print-config")
	if code != 0 || again != out {
		t.Fatalf("--print-config of its own output: exit %d %s\n--- got\n%s\n--- want\n%s", code, errOut, again, out)
	}
	// The registry's list flag takes a YAML list.
	writeFile(t, path, "brokers: [a:9092, b:9092]\n")
	if out, _, _ := herald(t, nil, "registry", "--config", path, "--print-config"); !strings.Contains(out, "brokers: a:9092,b:9092\n") {
		t.Errorf("registry brokers from a list:\n%s", out)
	}
}

func TestConfigFileErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, body, exp string
	}{
		{name: "unknown key", body: "data-dir: /d\nlisten-addr: x\n", exp: `unknown key "listen-addr"`},
		{name: "bad value", body: "default-partitions: many\n", exp: `line 1: default-partitions`},
		{name: "not a map", body: "- a\n- b\n", exp: "herald.yaml"},
		{name: "nested", body: "listen: {host: x}\n", exp: "want a value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "herald.yaml")
			writeFile(t, path, tc.body)
			_, errOut, code := herald(t, nil, "serve", "--config", path, "--print-config")
			if code != 1 || !strings.Contains(errOut, tc.exp) {
				t.Fatalf("exit %d, stderr %q; want 1 and %q", code, errOut, tc.exp)
			}
		})
	}
	if _, errOut, code := herald(t, nil, "serve", "--config", filepath.Join(dir, "missing.yaml")); code != 1 || !strings.Contains(errOut, "missing.yaml") {
		t.Fatalf("missing file: exit %d %q", code, errOut)
	}
}

func TestRegistryShortBrokersFlag(t *testing.T) {
	out, errOut, code := herald(t, nil, "registry", "-b", "k1:9092", "--print-config")
	if code != 0 || !strings.Contains(out, "brokers: k1:9092\n") {
		t.Fatalf("registry -b: exit %d %s\n%s", code, errOut, out)
	}
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestDeployConfig checks that the config file the systemd unit reads
// (deploy/herald.yaml) loads and keeps the listeners on loopback.
func TestDeployConfig(t *testing.T) {
	out, errOut, code := herald(t, nil, "serve", "--config", "../../deploy/herald.yaml", "--print-config")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"\ndata-dir: /var/lib/herald\n", "\nlisten: 127.0.0.1:9092\n", "\nregistry-listen: 127.0.0.1:8081\n", "\nlog-format: json\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("deploy/herald.yaml: --print-config lacks %q:\n%s", want, out)
		}
	}
}
