package cli

import (
	"strings"
	"testing"
)

// TestUnknownCommand checks that a mistyped verb exits non-zero with
// "unknown command" and a suggestion, while a noun alone prints its help.
func TestUnknownCommand(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		exp  string
	}{
		{name: "typo", args: []string{"topic", "lst"}, exp: `unknown command "lst" for "herald topic"; did you mean "list"?`},
		{name: "nonsense", args: []string{"group", "frobnicate"}, exp: `unknown command "frobnicate" for "herald group" (see herald group --help)`},
		{name: "nested", args: []string{"cluster", "inf"}, exp: `did you mean "info"?`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := herald(t, "", "", tc.args...)
			if r.code == 0 || !strings.Contains(r.errOut, tc.exp) {
				t.Fatalf("herald %s: exit %d, stderr %q; want non-zero and %q", strings.Join(tc.args, " "), r.code, r.errOut, tc.exp)
			}
		})
	}
	if r := ok(t, "", "", "topic"); !strings.Contains(r.out, "Available Commands:") {
		t.Fatalf("herald topic alone: %q, want its help", r.out)
	}
}
