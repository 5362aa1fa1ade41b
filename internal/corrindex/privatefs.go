package corrindex

import (
	"io"
	"os"

	"github.com/cockroachdb/pebble/vfs"
)

// privateFS is pebble's default filesystem with the broker's permissions:
// directories 0700 and files 0600, as every other file of the data dir,
// since the index holds ids taken from the records.
type privateFS struct{ vfs.FS }

func (p privateFS) Create(name string) (vfs.File, error) {
	f, err := p.FS.Create(name)
	return f, private(name, err)
}

func (p privateFS) ReuseForWrite(oldname, newname string) (vfs.File, error) {
	f, err := p.FS.ReuseForWrite(oldname, newname)
	return f, private(newname, err)
}

func (p privateFS) OpenReadWrite(name string, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := p.FS.OpenReadWrite(name, opts...)
	return f, private(name, err)
}

func (p privateFS) MkdirAll(dir string, _ os.FileMode) error {
	return p.FS.MkdirAll(dir, 0o700)
}

func (p privateFS) Lock(name string) (io.Closer, error) {
	c, err := p.FS.Lock(name)
	return c, private(name, err)
}

// private narrows a file just created to its owner, unless creating it
// failed.
func private(name string, err error) error {
	if err != nil {
		return err
	}
	return os.Chmod(name, 0o600)
}
