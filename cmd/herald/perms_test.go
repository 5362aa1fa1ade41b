package main

import (
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/heraldhq/herald/internal/metadata"
	"github.com/heraldhq/herald/internal/vfs"
)

// TestDataFilePerms runs a broker with topics, records and a group, and
// checks that nothing it wrote is readable by the group or others.
//
// The partition logs' own files and directories (segments, indexes,
// log-start-offset, <topic>-<n>/) are internal/log's; they are checked here
// only once that package creates them 0600/0700 too: widen ownedByBroker to
// every path after the merge.
func TestDataFilePerms(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	populate(t, dir)
	n := 0
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !ownedByBroker(dir, p, e) {
			return nil
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		n++
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s is %v: readable by group or others", p, fi.Mode().Perm())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 4 {
		t.Fatalf("checked only %d paths", n)
	}
}

// ownedByBroker: the data dir and the files the broker, metadata, txn and
// lock code create (not internal/log's).
func ownedByBroker(dir, p string, e fs.DirEntry) bool {
	if p == dir {
		return true
	}
	switch e.Name() {
	case metadata.FileName, metadata.SnapshotName, vfs.LockName, "producer.snapshot":
		return true
	}
	return false
}
