package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testenv"
)

func TestHeartbeat(t *testing.T) {
	// Off a terminal: nothing.
	var quiet bytes.Buffer
	heartbeat(&quiet, "creating topics")()
	if quiet.Len() != 0 {
		t.Fatalf("heartbeat off a terminal wrote %q", quiet.String())
	}
	// On one: the line comes back until stop, which clears it.
	var w testenv.Buffer
	stop := startHeartbeat(&w, "creating topics", 5*time.Millisecond)
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(w.String(), "\rcreating topics... ") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no heartbeat: %q", w.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	stop() // idempotent
	got := w.String()
	if !strings.HasSuffix(got, "\r\033[K") {
		t.Fatalf("stop did not clear the line: %q", got)
	}
	if after := w.String(); after != got {
		t.Fatalf("heartbeat went on after stop: %q", after)
	}
}
