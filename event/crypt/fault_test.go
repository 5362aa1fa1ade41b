package crypt

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/heraldhq/herald/internal/vfs"
)

var cheap = ScryptParams{LogN: 10, R: 8, P: 1}

// TestKeyringFaults fails each filesystem operation a rotation and a shred
// make, at every occurrence in turn. The failed call returns the error;
// the file on disk then opens, as the old keyring or the new, never torn;
// the keyring in memory agrees with it; data wrapped before still
// unwraps unless the shred took; and the call succeeds once the fault is
// gone.
func TestKeyringFaults(t *testing.T) {
	ctx := context.Background()
	ops := []vfs.Op{vfs.OpOpen, vfs.OpWrite, vfs.OpSync, vfs.OpRename, vfs.OpSyncDir}
	for _, op := range ops {
		for n := 0; ; n++ {
			path := filepath.Join(t.TempDir(), "k")
			ffs := vfs.NewFaultFS(vfs.Default)
			kr, err := createFileKeyring(ffs, path, []byte("pw"), cheap)
			if err != nil {
				t.Fatal(err)
			}
			_, wrapped, err := kr.Wrap(ctx, "a", make([]byte, 32))
			if err != nil {
				t.Fatal(err)
			}
			ffs.FailAfter(op, n, vfs.ErrIO)
			_, rotErr := kr.Rotate(ctx, "a")
			shredErr := kr.Shred(ctx, "a")
			ffs.Reset()
			if rotErr == nil && shredErr == nil {
				if n == 0 {
					t.Fatalf("no %v fault reached the calls", op)
				}
				break // op happens fewer than n+1 times: every position tried
			}
			disk, err := openFileKeyring(vfs.Default, path, []byte("pw"))
			if err != nil {
				t.Fatalf("%v fault #%d: file does not open: %v", op, n, err)
			}
			onDisk, diskErr := disk.Versions("a")
			inMem, memErr := kr.Versions("a")
			if !slices.Equal(onDisk, inMem) || errors.Is(memErr, ErrShredded) != errors.Is(diskErr, ErrShredded) ||
				(memErr == nil) != (diskErr == nil) {
				t.Fatalf("%v fault #%d: disk %v %v, memory %v %v", op, n, onDisk, diskErr, inMem, memErr)
			}
			_, err = kr.Unwrap(ctx, "a", 1, wrapped)
			if shredded := errors.Is(memErr, ErrShredded); shredded != errors.Is(err, ErrShredded) || !shredded && err != nil {
				t.Fatalf("%v fault #%d: versions %v %v, unwrap v1: %v", op, n, inMem, memErr, err)
			}
			if err := kr.Shred(ctx, "a"); err != nil {
				t.Fatalf("%v fault #%d: shred after the fault: %v", op, n, err)
			}
			if _, err := kr.Unwrap(ctx, "a", 1, wrapped); !errors.Is(err, ErrShredded) {
				t.Fatalf("%v fault #%d: after shred: %v", op, n, err)
			}
		}
	}
}
