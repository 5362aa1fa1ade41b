//go:build unix

package crypt_test

import (
	"context"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"
)

// TestKeyringLockWait: a write waits for the file lock another process
// holds, and gives up when its context ends.
func TestKeyringLockWait(t *testing.T) {
	kr, path := newKeyring(t)
	f, err := os.OpenFile(path+".lock", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := kr.Rotate(ctx, "a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Rotate under another's lock: %v", err)
	}
	done := make(chan error, 1)
	go func() { _, err := kr.Rotate(context.Background(), "a"); done <- err }()
	select {
	case err := <-done:
		t.Fatalf("Rotate did not wait for the lock: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_UN); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
