package crypt_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/heraldhq/herald/event/crypt"
)

func TestKeyringFileRefused(t *testing.T) {
	kr, path := newKeyring(t)
	if _, _, err := kr.Wrap(context.Background(), "k", make([]byte, 32)); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := crypt.OpenFileKeyring(path, []byte("wrong horse")); !errors.Is(err, crypt.ErrPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	if _, err := crypt.OpenFileKeyring(path, nil); err == nil {
		t.Fatal("empty passphrase accepted")
	}
	write := func(b []byte) string {
		p := filepath.Join(t.TempDir(), "k")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Every part of the file is checked: the header is the body's
	// associated data. Bytes 10..12 are the KDF cost; changing them gives
	// another key (or an out-of-range cost), so they are refused too. One
	// byte of each field (each open runs scrypt).
	for _, i := range []int{0, 7, 8, 9, 10, 11, 12, 13, 15, 16, 47, 48, 59, 60, len(good) / 2, len(good) - 17, len(good) - 1} {
		bad := bytes.Clone(good)
		bad[i] ^= 0x01
		if _, err := crypt.OpenFileKeyring(write(bad), []byte("correct horse")); err == nil {
			t.Fatalf("byte %d altered: opened", i)
		}
	}
	for _, n := range []int{0, 8, 60, 75, len(good) - 1} {
		if _, err := crypt.OpenFileKeyring(write(good[:n]), []byte("correct horse")); err == nil {
			t.Fatalf("truncated to %d: opened", n)
		}
	}
	if _, err := crypt.CreateFileKeyring(path, []byte("x"), testScrypt); !errors.Is(err, os.ErrExist) {
		t.Fatalf("create over an existing file: %v", err)
	}
	if _, err := crypt.CreateFileKeyring(filepath.Join(t.TempDir(), "k"), []byte("x"), crypt.ScryptParams{LogN: 40, R: 8, P: 1}); err == nil {
		t.Fatal("absurd scrypt cost accepted")
	}
}

// TestKeyringFileWrites: the file is private, no temporary file is left,
// and what one keyring wrote another process reads.
func TestKeyringFileWrites(t *testing.T) {
	ctx := context.Background()
	kr, path := newKeyring(t)
	other := reopen(t, path)
	_, w, err := kr.Wrap(ctx, "a", bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kr.Rotate(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	// other opened before "a" existed: it rereads the changed file.
	dek, err := other.Unwrap(ctx, "a", 1, w)
	if err != nil || !bytes.Equal(dek, bytes.Repeat([]byte{7}, 32)) {
		t.Fatalf("other process Unwrap = %x, %v", dek, err)
	}
	if _, err := other.Unwrap(ctx, "a", 3, w); !errors.Is(err, crypt.ErrKeyNotFound) {
		t.Fatalf("missing version: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	ents, _ := os.ReadDir(filepath.Dir(path))
	for _, e := range ents {
		if e.Name() != "keys.hkr" && e.Name() != "keys.hkr.lock" {
			t.Fatalf("left behind: %s", e.Name())
		}
	}
}

// TestKeyringConcurrent: codecs of two keyrings over one file (two
// processes) make keys for many subjects at once; every key survives,
// none is made twice, and all events decrypt everywhere.
func TestKeyringConcurrent(t *testing.T) {
	kr1, path := newKeyring(t)
	kr2 := reopen(t, path)
	c1 := newCodec(t, kr1, crypt.Config{KeyID: crypt.ByKey("")})
	c2 := newCodec(t, kr2, crypt.Config{KeyID: crypt.ByKey("")})
	var wg sync.WaitGroup
	var mu sync.Mutex
	type sealedAs struct{ key, version string }
	var sealed []sealedAs
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := c1
			if g%2 == 1 {
				c = c2
			}
			for i := range 10 {
				e := seal(t, c, fmt.Sprintf("cust-%d", (g*7+i)%20))
				mu.Lock()
				sealed = append(sealed, sealedAs{e.Key, e.Extensions[crypt.ExtKeyVersion]})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	final := reopen(t, path)
	for _, s := range sealed {
		vs, err := final.Versions(s.key)
		if err != nil || len(vs) != 1 || s.version != "1" {
			t.Fatalf("%s: versions %v %v, sealed with %s", s.key, vs, err, s.version)
		}
	}
}

// TestGeneration: shreds and rotations move the generation, here and in
// another process once it rereads the file; new key ids do not, so that
// codecs keep their caches while new subjects arrive.
func TestGeneration(t *testing.T) {
	ctx := context.Background()
	kr, path := newKeyring(t)
	other := reopen(t, path)
	g := kr.Generation()
	if _, _, err := kr.Wrap(ctx, "new", make([]byte, 32)); err != nil {
		t.Fatal(err)
	}
	if kr.Generation() != g {
		t.Fatal("a new key id moved the generation")
	}
	og := other.Generation()
	if _, err := other.Versions("new"); err != nil { // rereads
		t.Fatal(err)
	}
	if other.Generation() != og {
		t.Fatal("rereading a new key id moved the generation")
	}
	for _, change := range []func() error{
		func() error { _, err := kr.Rotate(ctx, "new"); return err },
		func() error { return kr.Shred(ctx, "new") },
	} {
		g, og := kr.Generation(), other.Generation()
		if err := change(); err != nil {
			t.Fatal(err)
		}
		_, _ = other.Versions("new")
		if kr.Generation() == g || other.Generation() == og {
			t.Fatalf("generation did not move: here %d→%d, other %d→%d", g, kr.Generation(), og, other.Generation())
		}
	}
}

func TestChangePassphrase(t *testing.T) {
	ctx := context.Background()
	kr, path := newKeyring(t)
	other := reopen(t, path)
	_, w, err := kr.Wrap(ctx, "a", make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	if err := kr.ChangePassphrase([]byte("new horse"), testScrypt); err != nil {
		t.Fatal(err)
	}
	if _, err := crypt.OpenFileKeyring(path, []byte("correct horse")); !errors.Is(err, crypt.ErrPassphrase) {
		t.Fatalf("old passphrase: %v", err)
	}
	reopened, err := crypt.OpenFileKeyring(path, []byte("new horse"))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []*crypt.FileKeyring{kr, reopened} {
		if _, err := k.Unwrap(ctx, "a", 1, w); err != nil {
			t.Fatalf("key lost in the change: %v", err)
		}
	}
	if _, err := other.Unwrap(ctx, "a", 1, w); !errors.Is(err, crypt.ErrPassphrase) {
		t.Fatalf("a process with the old passphrase: %v", err)
	}
}
