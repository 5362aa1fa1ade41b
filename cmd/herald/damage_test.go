package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/metadata"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/internal/vfs"
)

// TestMetadataDamageMatrix damages each metadata file in every way at the
// head, the middle and the tail, and checks through a real broker and real
// clients that either the broker starts with every topic, config, record
// and committed offset (damage to the snapshot, the second copy: logged and
// rewritten), or it refuses naming the file and herald repair, and
// metadata.Repair (the command's entry point) brings everything back
// (damage to the log, whose snapshot covers every acknowledged record).
func TestMetadataDamageMatrix(t *testing.T) {
	template := t.TempDir()
	populate(t, template)

	damages := []struct {
		name  string
		apply func(path string, pos int) error
	}{
		{"flip", func(path string, pos int) error {
			return edit(path, func(b []byte) []byte { b[pos] ^= 0x5a; return b })
		}},
		{"truncate", func(path string, pos int) error { return os.Truncate(path, int64(pos)) }},
		{"zero", func(path string, pos int) error {
			return edit(path, func(b []byte) []byte {
				clear(b[pos:min(pos+16, len(b))])
				return b
			})
		}},
		{"delete", func(path string, _ int) error { return os.Remove(path) }},
	}
	positions := []struct {
		name string
		at   func(size int) int
	}{
		{"head", func(int) int { return 2 }},
		{"middle", func(size int) int { return size / 2 }},
		{"tail", func(size int) int { return size - 3 }},
	}
	for _, file := range []string{metadata.FileName, metadata.SnapshotName} {
		for _, d := range damages {
			for _, p := range positions {
				if d.name == "delete" && p.name != "head" {
					continue // a deleted file has no position
				}
				t.Run(file+"/"+d.name+"/"+p.name, func(t *testing.T) {
					dir := t.TempDir()
					copyDir(t, template, dir)
					path := filepath.Join(dir, file)
					fi, err := os.Stat(path)
					if err != nil {
						t.Fatal(err)
					}
					if err := d.apply(path, p.at(int(fi.Size()))); err != nil {
						t.Fatal(err)
					}
					var logs testenv.Buffer
					srv, err := openServer(dir, &logs)
					if file == metadata.SnapshotName {
						// The log is intact: start, say so, rewrite the copy.
						if err != nil {
							t.Fatalf("refused over a damaged snapshot: %v", err)
						}
						if d.name != "delete" && !strings.Contains(logs.String(), "snapshot is damaged") {
							t.Errorf("damaged snapshot not logged:\n%s", logs.String())
						}
						verify(t, srv)
						srv.Close()
						if _, err := metadata.Repair(vfs.Default, dir, metadata.RepairOptions{}); err != nil {
							t.Fatal(err)
						}
						return
					}
					if err == nil {
						srv.Close()
						t.Fatal("started on a damaged metadata log")
					}
					if !errors.Is(err, metadata.ErrCorrupt) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "herald repair "+dir) {
						t.Fatalf("refusal does not match ErrCorrupt or name the file and herald repair: %v", err)
					}
					rep, err := metadata.Repair(vfs.Default, dir, metadata.RepairOptions{Execute: true})
					if err != nil || !rep.Executed {
						t.Fatalf("repair: %v %+v", err, rep)
					}
					srv, err = openServer(dir, io.Discard)
					if err != nil {
						t.Fatalf("after repair: %v", err)
					}
					defer srv.Close()
					verify(t, srv)
				})
			}
		}
	}
}

func edit(path string, f func([]byte) []byte) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return os.WriteFile(path, f(b), 0o600)
}

// copyDir copies the closed broker's data dir src into dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if e.IsDir() {
			return os.MkdirAll(to, 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}
