// Package vfs is the small filesystem interface that all of Herald's storage
// I/O goes through. The default implementation is the operating system's;
// tests wrap it to inject faults (ENOSPC, failed fsyncs, short writes) at
// chosen operations.
//
//	fs := vfs.Default
//	f, err := fs.OpenFile(filepath.Join(dir, "00000000000000000000.log"), os.O_CREATE|os.O_RDWR, 0o600)
//	if err != nil { ... }
//	defer f.Close()
//	if _, err := f.Write(batch); err != nil { ... }
//	if err := f.Sync(); err != nil { ... } // fdatasync
//
// Herald creates its files 0600 and its directories 0700: a data dir is
// readable by the broker's user only.
//
// LockDir is the one call that bypasses FS: it takes a data dir's
// exclusive flock on the real filesystem, because it must exclude other
// processes.
//
//	lock, err := vfs.LockDir(dataDir) // errors.Is(err, vfs.ErrLocked): another herald holds it (the error names its pid)
//	if err != nil { ... }
//	defer lock.Unlock()
package vfs

import (
	"io"
	"os"
)

// File is an open file. Implementations must be safe for concurrent ReadAt
// calls alongside one writer; Write, Truncate and Sync are called by one
// goroutine at a time (the owner serializes them).
type File interface {
	io.Reader
	io.ReaderAt
	io.Writer
	io.Closer
	// Sync makes the file's data durable (fdatasync on Linux). After a
	// failed Sync the state of the written data is unknown; callers must
	// not retry and must treat everything since the last successful Sync
	// as possibly lost.
	Sync() error
	// Truncate changes the size of the file.
	Truncate(size int64) error
	// Seek sets the offset for the next Write or Read.
	Seek(offset int64, whence int) (int64, error)
	// Stat returns the file's metadata.
	Stat() (os.FileInfo, error)
}

// FS is a filesystem. All methods are safe for concurrent use.
type FS interface {
	// OpenFile opens name with the os package's flags.
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	// Remove removes a file or an empty directory.
	Remove(name string) error
	// RemoveAll removes a path and everything it contains.
	RemoveAll(name string) error
	// Rename atomically replaces newname with oldname.
	Rename(oldname, newname string) error
	// MkdirAll creates a directory and its parents.
	MkdirAll(dir string, perm os.FileMode) error
	// ReadDir lists a directory, sorted by name.
	ReadDir(dir string) ([]os.DirEntry, error)
	// Stat describes a path.
	Stat(name string) (os.FileInfo, error)
	// SyncDir makes a directory's entries (created, renamed and removed
	// files) durable.
	SyncDir(dir string) error
}

// Default is the operating system's filesystem.
var Default FS = osFS{}

type osFS struct{}

func (osFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Remove(name string) error                    { return os.Remove(name) }
func (osFS) RemoveAll(name string) error                 { return os.RemoveAll(name) }
func (osFS) Rename(oldname, newname string) error        { return os.Rename(oldname, newname) }
func (osFS) MkdirAll(dir string, perm os.FileMode) error { return os.MkdirAll(dir, perm) }
func (osFS) ReadDir(dir string) ([]os.DirEntry, error)   { return os.ReadDir(dir) }
func (osFS) Stat(name string) (os.FileInfo, error)       { return os.Stat(name) }

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// osFile wraps *os.File so that Sync is fdatasync: the data and the size,
// not the access times.
type osFile struct{ *os.File }

func (f osFile) Sync() error { return datasync(f.File) }

// OSFile returns the *os.File behind f when f comes from the OS filesystem,
// so that callers can use sendfile and similar calls.
func OSFile(f File) (*os.File, bool) {
	o, ok := f.(osFile)
	if !ok {
		return nil, false
	}
	return o.File, true
}
