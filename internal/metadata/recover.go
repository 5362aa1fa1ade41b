package metadata

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/heraldhq/herald/internal/vfs"
)

// ErrCorrupt is matched (errors.Is) by every error that refuses to open a
// damaged metadata log; the error names the file, the byte position and
// the `herald repair` command to run.
var ErrCorrupt = errors.New("metadata is damaged")

// CorruptError describes damage that Open refuses to repair by itself.
type CorruptError struct {
	Path   string // the damaged (or missing) file
	Pos    int64  // byte position of the damage in Path; -1 if none applies
	Reason string
	Dir    string // the data dir, for the repair command
}

func (e *CorruptError) Error() string {
	at := ""
	if e.Pos >= 0 {
		at = fmt.Sprintf(" at byte %d", e.Pos)
	}
	return fmt.Sprintf("metadata: %s is damaged%s: %s; nothing was changed. Stop every broker on the dir and run `herald repair %s` to see what can be rebuilt (from the snapshot %s and the intact frames), then `herald repair --execute %s`",
		e.Path, at, e.Reason, e.Dir, SnapshotName, e.Dir)
}

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// logScan is what a pass over the metadata log found.
type logScan struct {
	st      *State // after the valid prefix
	records int    // whole frames in the valid prefix
	good    int    // length of the valid prefix
	// corruptAt is the position of a bad frame that is followed by a
	// valid one (so it is not a torn tail), or -1.
	corruptAt int
	reason    string
	applyErr  error // a checksummed record that cannot be applied
}

// scanLog replays data. A bad frame ends the valid prefix; it is a torn
// tail only if no valid frame starts anywhere after it.
func scanLog(data []byte) logScan {
	sc := logScan{st: &State{Topics: map[string]*Topic{}}, corruptAt: -1}
	sc.good, sc.applyErr = Replay(data, func(r Record) error { sc.records++; return sc.st.Apply(r) })
	if sc.applyErr != nil || sc.good == len(data) {
		return sc
	}
	if next := nextValidFrame(data, sc.good+1); next >= 0 {
		sc.corruptAt = sc.good
		sc.reason = fmt.Sprintf("the frame at byte %d is bad (%s) but a valid frame follows at byte %d, so this is not a torn write",
			sc.good, frameProblem(data[sc.good:]), next)
	}
	return sc
}

// nextValidFrame returns the first position at or after from where a whole
// checksummed frame starts, or -1. A false match needs a CRC-32C and a
// strict JSON decode to pass by chance.
func nextValidFrame(data []byte, from int) int {
	for p := from; p+frameHeader <= len(data); p++ {
		if _, _, err := decodeFrame(data[p:]); err == nil {
			return p
		}
	}
	return -1
}

// frameProblem says what is wrong with the frame at the start of b.
func frameProblem(b []byte) string {
	if len(b) < frameHeader {
		return "header cut short"
	}
	n := int64(b[0])<<24 | int64(b[1])<<16 | int64(b[2])<<8 | int64(b[3])
	switch {
	case n > maxPayload:
		return fmt.Sprintf("length %d is over the limit", n)
	case n > int64(len(b)-frameHeader):
		return fmt.Sprintf("length %d runs past the end of the file", n)
	}
	return "checksum or record does not match"
}

// diag is everything Open and Repair learn about a data dir's metadata
// before changing anything.
type diag struct {
	dir, path, snapPath string
	logExists           bool
	data                []byte
	scan                logScan
	snap                *snapshot // nil if missing or damaged
	snapExists          bool
	snapErr             error // why a present snapshot is unusable
	partDirs            []string
}

func inspect(fsys vfs.FS, dir string) (*diag, error) {
	d := &diag{dir: dir, path: filepath.Join(dir, FileName), snapPath: filepath.Join(dir, SnapshotName)}
	var err error
	d.data, d.logExists, err = readIfExists(fsys, d.path)
	if err != nil {
		return nil, fmt.Errorf("metadata: read %s: %w", d.path, err)
	}
	d.scan = scanLog(d.data)
	raw, exists, err := readIfExists(fsys, d.snapPath)
	if err != nil {
		return nil, fmt.Errorf("metadata: read %s: %w", d.snapPath, err)
	}
	d.snapExists = exists
	if exists {
		d.snap, d.snapErr = decodeSnapshot(raw)
	}
	if d.partDirs, err = partitionDirs(fsys, dir); err != nil {
		return nil, fmt.Errorf("metadata: list %s: %w", dir, err)
	}
	return d, nil
}

// refusal returns the error that keeps Open from starting on d, or nil.
func (d *diag) refusal() error {
	corrupt := func(pos int64, reason string) error {
		return &CorruptError{Path: d.path, Pos: pos, Reason: reason, Dir: d.dir}
	}
	if !d.logExists {
		switch {
		case d.snapExists:
			return corrupt(-1, "the metadata log is missing but its snapshot is there")
		case len(d.partDirs) > 0:
			return corrupt(-1, fmt.Sprintf("the metadata log is missing but the data dir holds partition directories (%s); starting empty would let a new topic of the same name empty them", strings.Join(first(d.partDirs, 3), ", ")))
		}
		return nil
	}
	if d.scan.applyErr != nil {
		return corrupt(int64(d.scan.good), d.scan.applyErr.Error())
	}
	if d.scan.corruptAt >= 0 {
		return corrupt(int64(d.scan.corruptAt), d.scan.reason)
	}
	if s := d.snap; s != nil && int64(d.scan.good) < s.LogBytes && !d.scan.st.Equal(s.state()) {
		return corrupt(int64(d.scan.good), fmt.Sprintf("the log's valid frames end at byte %d but its snapshot records %d acknowledged bytes and holds metadata the log lost",
			d.scan.good, s.LogBytes))
	}
	if d.snap == nil && d.scan.st.ClusterID == "" && len(d.scan.st.Topics) == 0 && len(d.partDirs) > 0 {
		return corrupt(int64(d.scan.good), fmt.Sprintf("the metadata log holds nothing valid but the data dir holds partition directories (%s)", strings.Join(first(d.partDirs, 3), ", ")))
	}
	return nil
}

func first(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], "…")
	}
	return s
}

func readIfExists(fsys vfs.FS, path string) ([]byte, bool, error) {
	f, err := fsys.OpenFile(path, 0, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	return b, true, err
}

// ParsePartitionDir splits a partition directory's name, <topic>-<index>,
// into its parts.
func ParsePartitionDir(name string) (topic string, index int32, ok bool) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 || i == len(name)-1 {
		return "", 0, false
	}
	n, err := strconv.ParseInt(name[i+1:], 10, 32)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != name[i+1:] {
		return "", 0, false
	}
	topic = name[:i]
	for _, c := range topic {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return "", 0, false
		}
	}
	return topic, int32(n), true
}

// partitionDirs lists the directories in dir named like partitions.
func partitionDirs(fsys vfs.FS, dir string) ([]string, error) {
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if _, _, ok := ParsePartitionDir(e.Name()); ok && e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out, nil
}
