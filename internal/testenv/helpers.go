package testenv

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// Buffer is a bytes.Buffer that a test may read while other goroutines
// write to it: a log sink for a broker under test, or a command's output.
// The zero value is ready to use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Count returns how many times substr occurs in what was written.
func (s *Buffer) Count(substr string) int { return strings.Count(s.String(), substr) }

// Lines returns how many lines hold every one of subs.
func (s *Buffer) Lines(subs ...string) int {
	n := 0
next:
	for _, l := range strings.Split(s.String(), "\n") {
		for _, sub := range subs {
			if !strings.Contains(l, sub) {
				continue next
			}
		}
		n++
	}
	return n
}

// CheckFor calls cond until it returns nil, and fails the test with cond's
// last error when timeout passes first. Tests use it instead of sleeping.
func CheckFor(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing after %v: %v", timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
