package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testenv"
)

// TestFollowStopsCleanly: consume --follow prints records as they come
// and, when its context ends (Ctrl-C), commits, prints a summary and
// exits 0.
func TestFollowStopsCleanly(t *testing.T) {
	addr := newHerald(t)
	ok(t, addr, "", "topic", "create", "live", "-p", "1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut testenv.Buffer
	done := make(chan int)
	go func() {
		done <- Run(ctx, []string{"consume", "live", "--follow", "--group", "tail", "--brokers", addr}, nil, &out, &errOut)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), "hello\n") {
		if time.Now().After(deadline) {
			t.Fatalf("no record printed; stderr: %s", errOut.String())
		}
		ok(t, addr, "", "produce", "live", "--value", "hello")
		time.Sleep(200 * time.Millisecond)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d after cancel: %s", code, errOut.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("consume --follow did not stop after cancel")
	}
	if !strings.Contains(errOut.String(), "consumed ") {
		t.Fatalf("no summary: %q", errOut.String())
	}
	n := strings.Count(out.String(), "hello\n")
	ok(t, addr, "", "produce", "live", "--value", "after")
	// The group committed what was printed: it resumes after it.
	if got := ok(t, addr, "", "consume", "live", "--group", "tail").out; !strings.HasSuffix(got, "after\n") || strings.Count(got, "hello") != strings.Count(ok(t, addr, "", "consume", "live").out, "hello")-n {
		t.Fatalf("resumed with %q after printing %d", got, n)
	}
}
