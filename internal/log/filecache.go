package log

import (
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/heraldhq/herald/internal/vfs"
)

// FileCache bounds how many segment files are open at once across every
// log that shares it (the broker has one), so that the number of
// partitions is not bounded by RLIMIT_NOFILE.
//
// A segment file of a log opened with Options.Files is opened on use and
// closed again when the cache needs room for another, least recently used
// first. A file is never closed while an operation on it runs, nor while it
// is preferred while it holds writes not yet synced: a file with them is
// evicted only when no other is free, and is synced before it is closed,
// so that an error of their writeback is not lost with the descriptor
// (the file's next Sync returns it). When every open file is in use the
// cache goes over its bound rather than fail (the operating system's
// limit then decides).
//
// Reads of a closed-and-evicted file reopen it transparently; a failed
// reopen (EMFILE) is an error of that one operation. All methods are safe
// for concurrent use.
type FileCache struct {
	max int

	mu struct {
		sync.Mutex
		// open counts files holding a descriptor. Invariant: it is the
		// length of the list head..tail.
		open int
		// head is the most recently used open file, tail the least.
		head, tail *cachedFile
		opens      uint64 // descriptors opened (first open or reopen)
		evictions  uint64
	}
}

// NewFileCache returns a cache that keeps at most max segment files open
// (at least 2).
func NewFileCache(n int) *FileCache {
	return &FileCache{max: max(n, 2)}
}

// FileCacheStats are a FileCache's counters.
type FileCacheStats struct {
	Max, Open        int
	Opens, Evictions uint64
}

// Stats returns the cache's counters.
func (c *FileCache) Stats() FileCacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return FileCacheStats{Max: c.max, Open: c.mu.open, Opens: c.mu.opens, Evictions: c.mu.evictions}
}

// open opens name through the cache with flag (the first open, which may
// create or truncate it); later reopens use O_RDWR.
func (c *FileCache) open(fs vfs.FS, name string, flag int, perm os.FileMode) (*cachedFile, error) {
	fd, err := fs.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return c.adopt(fs, name, fd), nil
}

// adopt puts an open file under the cache's management.
func (c *FileCache) adopt(fs vfs.FS, name string, fd vfs.File) *cachedFile {
	f := &cachedFile{c: c, fs: fs, name: name}
	var victims [2]victim
	c.mu.Lock()
	f.fd, f.gen = fd, 1
	c.installLocked(f)
	n := c.evictLocked(f, &victims)
	c.mu.Unlock()
	c.closeVictims(victims[:n])
	return f
}

// installLocked counts f's new descriptor and makes f the most recent.
// mu must be held.
func (c *FileCache) installLocked(f *cachedFile) {
	c.mu.open++
	c.mu.opens++
	c.pushFrontLocked(f)
}

// evictLocked takes the descriptors of up to len(victims) least recently
// used files that nobody uses, while the cache is over its bound; the
// caller closes them with closeVictims after unlocking. Files without
// unsynced writes go first; one with them is synced before it is closed,
// so that its writeback errors are not lost with the descriptor.
// mu must be held.
func (c *FileCache) evictLocked(keep *cachedFile, victims *[2]victim) int {
	n := 0
	for _, dirtyToo := range []bool{false, true} {
		for v := c.mu.tail; v != nil && c.mu.open > c.max && n < len(victims); {
			prev := v.prev
			if dirty := v.writes != v.synced; v != keep && v.refs == 0 && (!dirty || dirtyToo) {
				victims[n] = victim{f: v, fd: v.fd, dirty: dirty, target: v.writes}
				n++
				c.dropLocked(v)
				c.mu.evictions++
			}
			v = prev
		}
	}
	return n
}

// victim is an evicted descriptor to close.
type victim struct {
	f      *cachedFile
	fd     vfs.File
	dirty  bool
	target uint64 // f.writes when it was evicted
}

// closeVictims closes evicted descriptors, syncing those with unsynced
// writes first; a failed sync is kept for the file's next Sync to return.
func (c *FileCache) closeVictims(vs []victim) {
	for _, v := range vs {
		if v.dirty {
			err := v.fd.Sync()
			c.mu.Lock()
			if err != nil && v.f.syncErr == nil {
				v.f.syncErr = err
			} else if err == nil && v.target > v.f.synced {
				v.f.synced = v.target
			}
			c.mu.Unlock()
		}
		v.fd.Close()
	}
}

// dropLocked takes f's descriptor out of the cache (the caller closes it).
// mu must be held.
func (c *FileCache) dropLocked(f *cachedFile) {
	c.unlinkLocked(f)
	f.fd = nil
	c.mu.open--
}

func (c *FileCache) pushFrontLocked(f *cachedFile) {
	f.prev, f.next = nil, c.mu.head
	if c.mu.head != nil {
		c.mu.head.prev = f
	}
	c.mu.head = f
	if c.mu.tail == nil {
		c.mu.tail = f
	}
}

func (c *FileCache) unlinkLocked(f *cachedFile) {
	if f.prev != nil {
		f.prev.next = f.next
	} else {
		c.mu.head = f.next
	}
	if f.next != nil {
		f.next.prev = f.prev
	} else {
		c.mu.tail = f.prev
	}
	f.prev, f.next = nil, nil
}

// cachedFile is a segment file whose descriptor the cache may close while
// it is idle. It implements vfs.File: each operation takes the descriptor
// (reopening the file if it was evicted), runs, and gives it back.
//
// The write position (for Write, Read and Seek) is the file's own, kept
// here so that a reopened descriptor continues where the last one was;
// like an *os.File's, it is for one writer at a time (the log's, under
// Log.mu).
type cachedFile struct {
	c    *FileCache
	fs   vfs.FS
	name string

	// pos is the write position; wgen is the gen of the descriptor that
	// pos was last applied to. Owned by the one writer.
	pos  int64
	wgen uint64

	// Guarded by c.mu.
	fd vfs.File // nil while evicted
	// gen counts descriptors installed, so that the writer can tell a
	// reopened one (whose offset is 0) from the one it last used.
	gen uint64
	// refs counts operations running on fd; fd is not closed while > 0.
	refs int
	// writes counts writes and truncations done; synced is the
	// value writes had when the last successful sync began. While they
	// differ the file is evicted only when no other is free, and synced
	// first.
	writes, synced uint64
	// syncErr is the error of a sync made when the file was evicted;
	// the next Sync returns it.
	syncErr    error
	closed     bool
	prev, next *cachedFile
}

// acquire returns the descriptor, reopening the file if needed, and
// counts a use that release ends. write marks the use as a change that a
// later Sync must cover.
func (f *cachedFile) acquire(write bool) (vfs.File, uint64, error) {
	c := f.c
	c.mu.Lock()
	if f.closed {
		c.mu.Unlock()
		return nil, 0, os.ErrClosed
	}
	if f.fd == nil {
		c.mu.Unlock()
		return f.reopen(write)
	}
	f.useLocked(write)
	if c.mu.head != f {
		c.unlinkLocked(f)
		c.pushFrontLocked(f)
	}
	fd, gen := f.fd, f.gen
	c.mu.Unlock()
	return fd, gen, nil
}

// useLocked counts a use. c.mu must be held.
func (f *cachedFile) useLocked(bool) { f.refs++ }

// reopen opens the evicted file again, outside the cache's lock; when
// another goroutine reopened it meanwhile, its descriptor is used and
// this one closed.
func (f *cachedFile) reopen(write bool) (vfs.File, uint64, error) {
	c := f.c
	fd, err := f.fs.OpenFile(f.name, os.O_RDWR, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("reopen segment file: %w", err)
	}
	var victims [2]victim
	c.mu.Lock()
	var extra vfs.File
	switch {
	case f.closed:
		c.mu.Unlock()
		fd.Close()
		return nil, 0, os.ErrClosed
	case f.fd != nil:
		extra = fd
		c.unlinkLocked(f)
		c.pushFrontLocked(f)
	default:
		f.fd = fd
		f.gen++
		c.installLocked(f)
	}
	f.useLocked(write)
	n := c.evictLocked(f, &victims)
	fd, gen := f.fd, f.gen
	c.mu.Unlock()
	if extra != nil {
		extra.Close()
	}
	c.closeVictims(victims[:n])
	return fd, gen, nil
}

// release ends a use; the last use of a closed file closes its descriptor.
func (f *cachedFile) release() { f.releaseAfter(false) }

// releaseAfter ends a use; wrote says it changed the file. A change is
// counted when it is done, so that a sync that began before it does not
// count it as synced.
func (f *cachedFile) releaseAfter(wrote bool) {
	c := f.c
	var victims [2]victim
	n := 0
	c.mu.Lock()
	f.refs--
	if wrote {
		f.writes++
	}
	if f.closed && f.refs == 0 && f.fd != nil {
		victims[0] = victim{f: f, fd: f.fd}
		n = 1
		c.dropLocked(f)
	} else if c.mu.open > c.max {
		// Files that were busy or pinned when the cache filled up
		// are evicted as they become free.
		n = c.evictLocked(nil, &victims)
	}
	c.mu.Unlock()
	c.closeVictims(victims[:n])
}

func (f *cachedFile) ReadAt(b []byte, off int64) (int, error) {
	fd, _, err := f.acquire(false)
	if err != nil {
		return 0, err
	}
	n, err := fd.ReadAt(b, off)
	f.release()
	return n, err
}

// writeFd returns the descriptor for the writer, positioned at pos.
func (f *cachedFile) writeFd(write bool) (vfs.File, error) {
	fd, gen, err := f.acquire(write)
	if err != nil {
		return nil, err
	}
	if gen != f.wgen {
		if _, err := fd.Seek(f.pos, io.SeekStart); err != nil {
			f.release()
			return nil, err
		}
		f.wgen = gen
	}
	return fd, nil
}

func (f *cachedFile) Write(b []byte) (int, error) {
	fd, err := f.writeFd(true)
	if err != nil {
		return 0, err
	}
	n, err := fd.Write(b)
	f.pos += int64(n)
	f.releaseAfter(true)
	return n, err
}

func (f *cachedFile) Read(b []byte) (int, error) {
	fd, err := f.writeFd(false)
	if err != nil {
		return 0, err
	}
	n, err := fd.Read(b)
	f.pos += int64(n)
	f.release()
	return n, err
}

func (f *cachedFile) Seek(offset int64, whence int) (int64, error) {
	fd, err := f.writeFd(false)
	if err != nil {
		return 0, err
	}
	pos, err := fd.Seek(offset, whence)
	if err == nil {
		f.pos = pos
	}
	f.release()
	return pos, err
}

func (f *cachedFile) Truncate(size int64) error {
	fd, _, err := f.acquire(true)
	if err != nil {
		return err
	}
	err = fd.Truncate(size)
	f.releaseAfter(true)
	return err
}

// Sync syncs the writes made so far. A file with none since the last
// successful sync has nothing to sync, and is not reopened for it. An
// evicted file is reopened: fsync covers the file's dirty pages whichever
// descriptor wrote them.
func (f *cachedFile) Sync() error {
	c := f.c
	c.mu.Lock()
	if f.closed {
		c.mu.Unlock()
		return os.ErrClosed
	}
	if err := f.syncErr; err != nil {
		c.mu.Unlock()
		return err
	}
	target := f.writes
	if target == f.synced {
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	fd, _, err := f.acquire(false)
	if err != nil {
		return err
	}
	err = fd.Sync()
	c.mu.Lock()
	if err == nil {
		err = f.syncErr
	}
	if err == nil && target > f.synced {
		f.synced = target
	}
	c.mu.Unlock()
	f.release()
	return err
}

func (f *cachedFile) Stat() (os.FileInfo, error) {
	fd, _, err := f.acquire(false)
	if err != nil {
		return nil, err
	}
	fi, err := fd.Stat()
	f.release()
	return fi, err
}

// Close closes the file for good; an operation still running keeps the
// descriptor until it ends. Later operations fail with os.ErrClosed.
func (f *cachedFile) Close() error {
	c := f.c
	c.mu.Lock()
	if f.closed {
		c.mu.Unlock()
		return os.ErrClosed
	}
	f.closed = true
	var fd vfs.File
	if f.refs == 0 && f.fd != nil {
		fd = f.fd
		c.dropLocked(f)
	}
	c.mu.Unlock()
	if fd != nil {
		return fd.Close()
	}
	return nil
}
