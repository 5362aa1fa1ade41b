package vfs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// LockName is the lock file's name inside a data dir.
const LockName = "herald.lock"

// ErrLocked is matched (errors.Is) by the error LockDir returns when another
// process, or another open in this process, holds the directory's lock.
var ErrLocked = errors.New("data dir is locked")

// LockedError says who holds a data dir's lock.
type LockedError struct {
	Dir string
	PID int // 0 when the lock file does not name one
}

func (e *LockedError) Error() string {
	if e.PID == 0 {
		return fmt.Sprintf("data dir %s is in use by another herald process (lock file %s)", e.Dir, filepath.Join(e.Dir, LockName))
	}
	return fmt.Sprintf("data dir %s is in use by another herald process (pid %d holds %s)", e.Dir, e.PID, filepath.Join(e.Dir, LockName))
}

// Is makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// DirLock is an exclusive lock on a data dir. It is taken on the real
// operating system's files, whatever FS the caller uses, because it must
// exclude other processes.
type DirLock struct {
	f *os.File
}

// LockDir takes dir's exclusive lock: an advisory flock on dir/herald.lock
// (created 0600), which then holds the holder's pid. The lock belongs to
// the open file, so a second LockDir of the same dir fails in this process
// as in another one; the operating system drops it when the process dies,
// so a crash leaves no stale lock. It never waits.
func LockDir(dir string) (*DirLock, error) {
	path := filepath.Join(dir, LockName)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data dir: %w", err)
	}
	held, err := tryLock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock data dir %s: %w", dir, err)
	}
	if held {
		b := make([]byte, 32)
		n, _ := f.ReadAt(b, 0)
		f.Close()
		pid, _ := strconv.Atoi(string(bytes.TrimSpace(b[:n])))
		return nil, &LockedError{Dir: dir, PID: pid}
	}
	// The pid is for the message others get; failing to write it (a full
	// disk) must not keep the broker from starting.
	pid := []byte(strconv.Itoa(os.Getpid()) + "\n")
	if err := f.Truncate(0); err == nil {
		f.WriteAt(pid, 0)
	}
	return &DirLock{f: f}, nil
}

// Unlock releases the lock; it is idempotent. The file stays: removing it
// would let a process that opened it before the removal lock a file that
// a third process no longer sees.
func (l *DirLock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := unlock(l.f)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}
