package main

import (
	"io/fs"
	"path/filepath"
	"testing"
)

// TestDataFilePerms runs a broker with topics, records and a group, and
// checks that nothing it wrote is readable by the group or others.
// Every path is checked: the broker's, the metadata's, the lock and
// producer snapshot, and the partition logs' directories and files.
func TestDataFilePerms(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	populate(t, dir)
	n := 0
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
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
