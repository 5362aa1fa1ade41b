package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Scenarios runs every file matching glob as a data-driven scenario, one
// subtest per file. A file is blocks of a command line, a "----" line and
// the expected output up to a blank line; "#" lines before a command are
// comments, kept when the file is rewritten. start makes a fresh state for
// a file and returns the function that runs one command and returns its
// output. With rewrite, the files are written again with the output
// instead of being compared.
//
// The group and transaction coordinators' state machines are tested so.
func Scenarios(t *testing.T, glob string, rewrite bool, start func(t *testing.T) func(cmd string) string) {
	t.Helper()
	files, err := filepath.Glob(glob)
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenario files match %s (%v)", glob, err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), filepath.Ext(f)), func(t *testing.T) {
			runScenario(t, f, rewrite, start(t))
		})
	}
}

type scenarioBlock struct {
	comments  []string
	cmd, want string
}

func runScenario(t *testing.T, file string, rewrite bool, run func(cmd string) string) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for _, b := range parseScenario(t, string(data)) {
		got := run(b.cmd)
		if rewrite {
			for _, c := range b.comments {
				out.WriteString(c + "\n")
			}
			fmt.Fprintf(&out, "%s\n----\n%s\n\n", b.cmd, got)
			continue
		}
		if got != b.want {
			t.Errorf("%s: %s\ngot:\n%s\nwant:\n%s", file, b.cmd, got, b.want)
		}
	}
	if rewrite {
		if err := os.WriteFile(file, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func parseScenario(t *testing.T, data string) []scenarioBlock {
	var out []scenarioBlock
	var comments []string
	lines := strings.Split(data, "\n")
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if l == "" {
			continue
		}
		if strings.HasPrefix(l, "#") {
			comments = append(comments, l)
			continue
		}
		b := scenarioBlock{cmd: l, comments: comments}
		comments = nil
		if i+1 >= len(lines) || lines[i+1] != "----" {
			t.Fatalf("line %d: %q not followed by ----", i+1, l)
		}
		i += 2
		var want []string
		for ; i < len(lines) && lines[i] != ""; i++ {
			want = append(want, lines[i])
		}
		b.want = strings.Join(want, "\n")
		out = append(out, b)
	}
	return out
}
