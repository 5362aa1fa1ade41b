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

// TestCompletion checks that shell completion offers the broker's topic
// and group names (what `herald completion` scripts ask for on Tab).
func TestCompletion(t *testing.T) {
	addr := newHerald(t)
	ok(t, addr, "", "topic", "create", "orders", "payments", "-p", "1")
	ok(t, addr, "a\n", "produce", "orders")
	ok(t, addr, "", "consume", "orders", "-g", "billing")
	complete := func(args ...string) []string {
		t.Helper()
		r := ok(t, "", "", append([]string{"__complete"}, args...)...)
		lines := strings.Split(strings.TrimSpace(r.out), "\n")
		return lines[:len(lines)-1] // the last line is the directive
	}
	for _, tc := range []struct {
		name string
		args []string
		exp  string
	}{
		{name: "consume", args: []string{"consume", "--brokers", addr, ""}, exp: "orders,payments"},
		{name: "consume prefix", args: []string{"consume", "--brokers", addr, "pay"}, exp: "payments"},
		{name: "topic describe leaves out given", args: []string{"topic", "describe", "--brokers", addr, "orders", ""}, exp: "payments"},
		{name: "produce takes one", args: []string{"produce", "--brokers", addr, "orders", ""}, exp: ""},
		{name: "group describe", args: []string{"group", "describe", "--brokers", addr, ""}, exp: "billing"},
		{name: "consume --group", args: []string{"consume", "orders", "--brokers", addr, "--group", ""}, exp: "billing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := strings.Join(complete(tc.args...), ","); got != tc.exp {
				t.Fatalf("completions %q, want %q", got, tc.exp)
			}
		})
	}
}
