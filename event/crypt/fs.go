package crypt

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"github.com/heraldhq/herald/internal/vfs"
)

// writeAtomic replaces path with b: a temporary file in the same
// directory, written and fsynced, renamed over path, and the directory
// fsynced, so that a crash leaves the old file or the new, never a mix.
// It returns the new file's info. After an error the file is the old one
// or, if only the directory's fsync failed, the new one.
func writeAtomic(fs vfs.FS, path string, b []byte) (os.FileInfo, error) {
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, err
	}
	tmp := path + ".tmp-" + hex.EncodeToString(rnd[:])
	f, err := fs.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if err := writeSync(f, b); err != nil {
		_ = fs.Remove(tmp)
		return nil, err
	}
	if err := fs.Rename(tmp, path); err != nil {
		_ = fs.Remove(tmp)
		return nil, err
	}
	if err := fs.SyncDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	return fs.Stat(path)
}

func writeSync(f vfs.File, b []byte) error {
	_, err := f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// readFile reads the whole keyring file, refusing one over maxFileSize.
func readFile(fs vfs.FS, path string) ([]byte, os.FileInfo, error) {
	f, err := fs.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("crypt: open keyring: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("crypt: open keyring: %w", err)
	}
	if fi.Size() > maxFileSize {
		return nil, nil, fmt.Errorf("crypt: keyring %s: %d bytes is over %d", path, fi.Size(), maxFileSize)
	}
	b := make([]byte, fi.Size())
	if _, err := f.ReadAt(b, 0); err != nil {
		return nil, nil, fmt.Errorf("crypt: read keyring %s: %w", path, err)
	}
	return b, fi, nil
}
