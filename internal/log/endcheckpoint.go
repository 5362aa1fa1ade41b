package log

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// endFile holds the log end offset at the last clean close, as decimal
// text followed by the CRC-32C of that text in hex:
//
//	<offset> <crc32c hex>\n
//
// It is a lower bound, never the truth: recovery gives out no offset
// below it, so that a segment truncated or deleted while the broker was
// down cannot make acknowledged offsets be assigned again. A crash leaves
// it stale (lower), which is harmless. Part of the on-disk format; do not
// change.
const endFile = "log-end-offset"

func formatEnd(off int64) []byte {
	s := strconv.FormatInt(off, 10)
	return []byte(fmt.Sprintf("%s %08x\n", s, crc32.Checksum([]byte(s), crcTable)))
}

// readEnd returns the offset in the end checkpoint, or -1 when there is
// none or it is damaged (reported).
func (l *Log) readEnd() int64 {
	b, err := readFile(l.fs, l.path(endFile))
	if errors.Is(err, fs.ErrNotExist) {
		return -1
	}
	if err == nil {
		if n, ok := parseEnd(b); ok {
			return n
		}
	}
	l.logger.Error("ignoring damaged log end checkpoint; offsets past the segments' end are not protected", "file", l.path(endFile), "err", err)
	return -1
}

// parseEnd parses an end checkpoint and checks its checksum.
func parseEnd(b []byte) (int64, bool) {
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, false
	}
	n, err1 := strconv.ParseInt(f[0], 10, 64)
	sum, err2 := strconv.ParseUint(f[1], 16, 32)
	return n, err1 == nil && err2 == nil && n >= 0 && uint32(sum) == crc32.Checksum([]byte(f[0]), crcTable)
}

// writeEnd stores the log end offset: a temporary file, fsync, rename. The
// directory is not synced: losing the rename loses only a lower bound.
func (l *Log) writeEnd(off int64) error {
	tmp := l.path(endFile + ".tmp")
	f, err := l.fs.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(formatEnd(off))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = l.fs.Rename(tmp, l.path(endFile))
	}
	return err
}
