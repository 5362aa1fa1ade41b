package vfs

import (
	"os"
	"sync"
	"syscall"
)

// Op names a kind of filesystem operation for fault injection.
type Op int

// The operations a FaultFS can fail.
const (
	OpWrite Op = iota
	OpSync
	OpOpen
	OpRename
	OpRemove
	OpTruncate
	OpSyncDir
	opCount
)

func (o Op) String() string {
	return [...]string{"write", "sync", "open", "rename", "remove", "truncate", "syncdir"}[o]
}

// FaultFS wraps an FS and fails chosen operations. It is for tests.
//
// A rule set with FailAfter(op, n, err) lets n operations of that kind
// succeed and fails every one after that with err until Reset. A failed
// write may be partial: with ShortWrites set, half of the bytes are written
// before the error, as a full disk does.
type FaultFS struct {
	FS

	mu struct {
		sync.Mutex
		count [opCount]int
		rules [opCount]*rule
		// ShortWrites makes a failing write write half its bytes first.
		short bool
	}
}

type rule struct {
	after int
	err   error
}

// NewFaultFS wraps fs.
func NewFaultFS(fs FS) *FaultFS { return &FaultFS{FS: fs} }

// ErrNoSpace is ENOSPC as the OS reports it.
var ErrNoSpace error = syscall.ENOSPC

// ErrIO is EIO as the OS reports it.
var ErrIO error = syscall.EIO

// FailAfter makes the (n+1)th and later operations of kind op fail with err,
// counting from now.
func (fs *FaultFS) FailAfter(op Op, n int, err error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.mu.rules[op] = &rule{after: fs.mu.count[op] + n, err: err}
}

// SetShortWrites makes failing writes write half of their bytes first.
func (fs *FaultFS) SetShortWrites(short bool) {
	fs.mu.Lock()
	fs.mu.short = short
	fs.mu.Unlock()
}

// Reset removes every rule.
func (fs *FaultFS) Reset() {
	fs.mu.Lock()
	fs.mu.rules = [opCount]*rule{}
	fs.mu.Unlock()
}

// Count returns how many operations of kind op have been attempted.
func (fs *FaultFS) Count(op Op) int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.mu.count[op]
}

// check counts an operation and returns the error to fail it with.
func (fs *FaultFS) check(op Op) (short bool, err error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.mu.count[op]++
	r := fs.mu.rules[op]
	if r == nil || fs.mu.count[op] <= r.after {
		return fs.mu.short, nil
	}
	return fs.mu.short, r.err
}

func pathErr(op, name string, err error) error {
	return &os.PathError{Op: op, Path: name, Err: err}
}

// OpenFile opens a file whose operations are subject to the rules.
func (fs *FaultFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	if _, err := fs.check(OpOpen); err != nil {
		return nil, pathErr("open", name, err)
	}
	f, err := fs.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultFile{File: f, fs: fs, name: name}, nil
}

// Rename renames unless a rule fails it.
func (fs *FaultFS) Rename(oldname, newname string) error {
	if _, err := fs.check(OpRename); err != nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
	}
	return fs.FS.Rename(oldname, newname)
}

// Remove removes unless a rule fails it.
func (fs *FaultFS) Remove(name string) error {
	if _, err := fs.check(OpRemove); err != nil {
		return pathErr("remove", name, err)
	}
	return fs.FS.Remove(name)
}

// SyncDir syncs unless a rule fails it.
func (fs *FaultFS) SyncDir(dir string) error {
	if _, err := fs.check(OpSyncDir); err != nil {
		return pathErr("fsync", dir, err)
	}
	return fs.FS.SyncDir(dir)
}

type faultFile struct {
	File
	fs   *FaultFS
	name string
}

func (f *faultFile) Write(p []byte) (int, error) {
	short, err := f.fs.check(OpWrite)
	if err == nil {
		return f.File.Write(p)
	}
	n := 0
	if short && len(p) > 1 {
		n, _ = f.File.Write(p[:len(p)/2])
	}
	return n, pathErr("write", f.name, err)
}

func (f *faultFile) Sync() error {
	if _, err := f.fs.check(OpSync); err != nil {
		return pathErr("fdatasync", f.name, err)
	}
	return f.File.Sync()
}

func (f *faultFile) Truncate(size int64) error {
	if _, err := f.fs.check(OpTruncate); err != nil {
		return pathErr("truncate", f.name, err)
	}
	return f.File.Truncate(size)
}
