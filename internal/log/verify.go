package log

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/records"
	"github.com/heraldhq/herald/internal/vfs"
)

// Verify reads every batch of the log (closed segments whole, the active
// one up to what readers may see) and checks its CRC. It returns every
// damaged range it finds, and marks each so that reads of its offsets fail
// with ErrDamaged instead of handing out bytes a consumer cannot parse;
// every other offset reads as before. Nothing is cut or rewritten.
//
// Verify runs alongside appends and reads: it holds no lock while it reads
// and paces itself to bytesPerSec (0: no limit). It stops with ctx's error
// when ctx is done.
func (l *Log) Verify(ctx context.Context, bytesPerSec int64) ([]Damage, error) {
	l.mu.RLock()
	if l.mu.closed {
		l.mu.RUnlock()
		return nil, ErrClosed
	}
	segs := slices.Clone(l.mu.segments)
	ends := make([]int64, len(segs)) // the offset after each segment's last
	for i := range segs {
		if i+1 < len(segs) {
			ends[i] = segs[i+1].base
		} else {
			ends[i] = l.hw.Load()
		}
	}
	var all []Damage
	for _, r := range l.mu.lost {
		fi, err := l.fs.Stat(r.file)
		size := int64(0)
		if err == nil {
			size = fi.Size()
		}
		base, pos, _, _, _ := parseDamagedName(filepath.Base(r.file))
		all = append(all, Damage{File: r.file, Segment: base, Pos: pos, End: pos + size, FirstOffset: r.first, LastOffset: r.last,
			Reason: "moved aside by recovery from a damaged segment tail"})
	}
	l.mu.RUnlock()
	throttle := newPacer(ctx, bytesPerSec).wait
	for i, s := range segs {
		limit := s.readable.Load()
		r := newChunkReader(s.file, limit, throttle)
		_, bad, reasons, err := scanDamage(r, 0, s.base, true, nil)
		if err != nil {
			if errors.Is(err, os.ErrClosed) || s.removed.Load() {
				continue // deleted or compacted meanwhile
			}
			return all, err
		}
		if s.removed.Load() {
			continue
		}
		for j := range bad {
			if bad[j].last < 0 {
				bad[j].last = ends[i] - 1
			}
			all = append(all, Damage{File: segmentName(l.dir, s.base, logSuffix), Segment: s.base,
				Pos: bad[j].pos, End: bad[j].end, FirstOffset: bad[j].first, LastOffset: bad[j].last,
				Reason: fmt.Sprint(reasons[j])})
		}
		l.markBad(s, bad)
	}
	return all, nil
}

// markBad adds ranges to the segment's damaged ranges that reads skip.
func (l *Log) markBad(s *segment, ranges []badRange) {
	if len(ranges) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	bad := slices.Clone(s.bad)
	for _, b := range ranges {
		if _, ok := badAt(bad, b.pos); !ok {
			bad = append(bad, b)
		}
	}
	sort.Slice(bad, func(i, j int) bool { return bad[i].pos < bad[j].pos })
	s.bad = bad
}

// pacer limits a reader to a rate.
type pacer struct {
	ctx   context.Context
	rate  int64
	start time.Time
	n     int64
}

func newPacer(ctx context.Context, bytesPerSec int64) *pacer {
	return &pacer{ctx: ctx, rate: bytesPerSec, start: time.Now()}
}

// wait blocks until reading n more bytes keeps to the rate.
func (p *pacer) wait(n int) error {
	if err := p.ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", errStopped, err)
	}
	p.n += int64(n)
	if p.rate <= 0 {
		return nil
	}
	due := p.start.Add(time.Duration(float64(p.n) / float64(p.rate) * float64(time.Second)))
	d := time.Until(due)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-p.ctx.Done():
		return fmt.Errorf("%w: %w", errStopped, p.ctx.Err())
	}
}

// VerifyDir checks a log directory offline, without changing anything in
// it: every batch of every segment against its CRC, every index and time
// index file against its checksum and the batches it points at, and the
// log start and log end checkpoints. It returns every damaged range found. Missing
// index files are not damage: they are rebuilt at open. Bytes recovery
// moved aside (.damaged files) are returned as Damage too, with no
// offsets, so that an operator sees them.
func VerifyDir(fsys vfs.FS, dir string) ([]Damage, error) {
	if fsys == nil {
		fsys = vfs.Default
	}
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list log dir: %w", err)
	}
	var bases []int64
	var out []Damage
	for _, e := range ents {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, logSuffix):
			if base, err := strconv.ParseInt(strings.TrimSuffix(name, logSuffix), 10, 64); err == nil && base >= 0 {
				bases = append(bases, base)
			}
		case strings.HasSuffix(name, damagedSuffix):
			fi, err := e.Info()
			if err != nil {
				return out, err
			}
			base, pos, first, last, _ := parseDamagedName(name)
			out = append(out, Damage{File: dir + string(os.PathSeparator) + name, Segment: base, Pos: pos, End: pos + fi.Size(),
				FirstOffset: first, LastOffset: last, Reason: "moved aside by recovery from a damaged segment tail"})
		case name == endFile:
			b, err := readFile(fsys, dir+string(os.PathSeparator)+name)
			if err != nil {
				return out, err
			}
			if _, ok := parseEnd(b); !ok {
				out = append(out, Damage{File: dir + string(os.PathSeparator) + name, End: int64(len(b)),
					FirstOffset: -1, LastOffset: -1, Reason: "checksum mismatch; ignored at the next open"})
			}
		case name == logStartFile:
			b, err := readFile(fsys, dir+string(os.PathSeparator)+name)
			if err != nil {
				return out, err
			}
			if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err != nil || n < 0 {
				out = append(out, Damage{File: dir + string(os.PathSeparator) + name, End: int64(len(b)),
					FirstOffset: -1, LastOffset: -1, Reason: "not an offset; the log start falls back to the first segment"})
			}
		}
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	for i, base := range bases {
		end := int64(-1)
		if i+1 < len(bases) {
			end = bases[i+1]
		}
		d, err := verifySegmentFiles(fsys, dir, base, end)
		if err != nil {
			return out, err
		}
		out = append(out, d...)
	}
	return out, nil
}

// verifySegmentFiles checks one segment's .log, .index and .timeindex
// files; end is the next segment's base offset, or -1 for the last.
func verifySegmentFiles(fsys vfs.FS, dir string, base, end int64) ([]Damage, error) {
	name := segmentName(dir, base, logSuffix)
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("open segment %d: %w", base, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat segment %d: %w", base, err)
	}
	var out []Damage
	// named maps the byte positions index entries name to the base offset
	// of the batch found there (-1 until found).
	named := map[int64]int64{}
	var idx []indexFile
	for _, k := range []struct {
		suffix string
		size   int
	}{{indexSuffix, offsetEntrySize}, {timeIndexSuffix, timeEntrySize}} {
		x := indexFile{name: segmentName(dir, base, k.suffix), size: k.size}
		d, ok, err := x.load(fsys, base)
		switch {
		case err != nil:
			return nil, err
		case !ok:
			out = append(out, d)
		case x.body != nil:
			for p := 0; p+k.size <= len(x.body); p += k.size {
				named[int64(beUint32(x.body[p+k.size-4:]))] = -1
			}
			idx = append(idx, x)
		}
	}
	r := newChunkReader(f, fi.Size(), nil)
	_, bad, reasons, err := scanDamage(r, 0, base, true, func(h records.Header, pos int64) {
		if _, ok := named[pos]; ok {
			named[pos] = h.BaseOffset()
		}
	})
	if err != nil {
		return nil, err
	}
	for i, b := range bad {
		// An index entry for a damaged batch is not itself damaged.
		if v, ok := named[b.pos]; ok && v < 0 {
			named[b.pos] = b.first
		}
		if b.last < 0 && end >= 0 {
			b.last = end - 1
		}
		out = append(out, Damage{File: name, Segment: base, Pos: b.pos, End: b.end,
			FirstOffset: b.first, LastOffset: b.last, Reason: fmt.Sprint(reasons[i])})
	}
	for _, x := range idx {
		if d, ok := x.check(base, named); !ok {
			out = append(out, d)
		}
	}
	return out, nil
}

// indexFile is an index or time index file being verified.
type indexFile struct {
	name string
	size int    // entry size
	body []byte // entries, once the checksum passed; nil when missing
}

// load reads the file and checks its checksum; a missing file is fine.
func (x *indexFile) load(fsys vfs.FS, base int64) (Damage, bool, error) {
	d := Damage{File: x.name, Segment: base, FirstOffset: -1, LastOffset: -1}
	b, err := readFile(fsys, x.name)
	if errors.Is(err, fs.ErrNotExist) {
		return d, true, nil
	}
	if err != nil {
		return d, false, err
	}
	d.End = int64(len(b))
	body, ok := readChecked(fsys, x.name, x.size)
	if !ok {
		d.Reason = "checksum mismatch or partial entry; rebuilt from the segment at the next open"
		return d, false, nil
	}
	x.body = body
	if x.body == nil {
		x.body = []byte{}
	}
	return d, true, nil
}

// check reports the first entry that does not name the start of a good
// batch with the offset it says.
func (x *indexFile) check(base int64, named map[int64]int64) (Damage, bool) {
	for p := 0; p+x.size <= len(x.body); p += x.size {
		rel := int64(beUint32(x.body[p+x.size-8:]))
		pos := int64(beUint32(x.body[p+x.size-4:]))
		if named[pos] != base+rel {
			return Damage{File: x.name, Segment: base, Pos: int64(p), End: int64(p + x.size), FirstOffset: -1, LastOffset: -1,
				Reason: fmt.Sprintf("entry for offset %d points at byte %d, where no good batch with that offset starts; rebuilt at the next open", base+rel, pos)}, false
		}
	}
	return Damage{}, true
}

func beUint32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}
