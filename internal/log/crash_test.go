package log

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/records"
	"github.com/heraldhq/herald/internal/vfs"
)

// Crash tests. Three kinds, from most to least real:
//
//   - TestCrash: a child process (this test binary, re-executed) appends
//     under Durability{Always: true} from several goroutines and prints
//     every acknowledged batch; the parent SIGKILLs it at a random moment,
//     sometimes in the middle of a segment roll, reopens the log and checks
//     that every acknowledged batch is there, byte for byte.
//   - TestCrashTornTail: the same, and between a kill and the reopen the
//     active segment gets a torn tail (garbage, zeros, a partial batch, a
//     batch with a flipped bit, or unacknowledged batches cut short).
//     Recovery must cut exactly that tail and report it.
//   - TestCrashPowerLoss: in process, through a filesystem that remembers
//     how much of each file was synced; a "power loss" throws away or
//     zeroes a random part of everything that was not. A SIGKILL cannot
//     lose the page cache; this can.
//
// More kill cycles: go test ./internal/log -run Crash -crash.cycles=500
// (or HERALD_CRASH_CYCLES=500). HERALD_CRASH_SEED=<n> replays a run.

var crashCyclesFlag = flag.Int("crash.cycles", 0,
	"kill cycles for the crash tests (default 20 each; also $HERALD_CRASH_CYCLES)")

const (
	crashChildEnv = "HERALD_CRASH_CHILD"      // the child's log dir
	crashSeedEnv  = "HERALD_CRASH_SEED"       // the parent's seed, for replay
	crashCycleEnv = "HERALD_CRASH_CYCLES"     // more cycles
	crashRollEnv  = "HERALD_CRASH_ROLL_PAUSE" // child announces and slows rolls
	crashWriters  = 4                         // appending goroutines in the child
)

func crashCycles(t *testing.T, def int) int {
	if *crashCyclesFlag > 0 {
		return *crashCyclesFlag
	}
	if s := os.Getenv(crashCycleEnv); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			t.Fatalf("%s=%q: want a positive number", crashCycleEnv, s)
		}
		return n
	}
	return def
}

func crashSeed(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(crashSeedEnv); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", crashSeedEnv, s, err)
		}
		seed = n
	}
	t.Logf("seed %d (replay with %s=%d)", seed, crashSeedEnv, seed)
	return seed
}

func crashConfig() Config {
	c := DefaultConfig()
	c.Durability = Durability{Always: true}
	c.SegmentBytes = 256 << 10
	c.IndexIntervalBytes = 4096
	c.RetentionMs = -1
	return c
}

// crashBatch builds a random producer batch: 1-16 records of 8-512 bytes,
// one in eight compressed.
func crashBatch(rng *rand.Rand) []byte {
	n := 1 + rng.IntN(16)
	recs := make([]records.Record, n)
	for i := range recs {
		v := make([]byte, 8+rng.IntN(505))
		for j := range v {
			v[j] = byte('a' + rng.IntN(26))
		}
		recs[i] = records.Record{Key: []byte("k" + strconv.Itoa(rng.IntN(1000))), Value: v, TimestampDelta: int64(i)}
	}
	codec := records.CodecNone
	if rng.IntN(8) == 0 {
		codec = records.Codec(1 + rng.IntN(4))
	}
	return records.BuildBatch(records.BatchSpec{
		Attributes: int16(codec), BaseTimestamp: time.Now().UnixMilli(),
		ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1,
	}, recs...)
}

// crashAck is one acknowledged batch: where it went and the hash of its
// bytes as stored (after the log wrote the base offset and epoch in).
type crashAck struct {
	base, last int64
	sum        [sha256.Size]byte
}

func (a crashAck) String() string { return fmt.Sprintf("[%d, %d] %x", a.base, a.last, a.sum[:6]) }

// crashAcks accumulates the acknowledged batches of every cycle.
type crashAcks map[int64]crashAck

func (m crashAcks) add(t *testing.T, a crashAck) {
	t.Helper()
	if old, ok := m[a.base]; ok && old != a {
		t.Fatalf("offset %d acknowledged twice: %v and %v", a.base, old, a)
	}
	m[a.base] = a
}

// ---- child ----

// crashOut writes whole lines to stdout, one write each, so that a kill
// never leaves half a line and lines never interleave.
type crashOut struct{ mu sync.Mutex }

func (o *crashOut) line(s string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, err := os.Stdout.WriteString(s + "\n"); err != nil {
		crashChildFail("stdout: %v", err)
	}
}

func crashChildFail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "crash child: "+format+"\n", args...)
	os.Exit(3)
}

// rollPauseFS announces every step of a segment roll on stdout and sleeps
// a little in each, so that a parent that kills on the announcement kills
// somewhere inside the roll.
type rollPauseFS struct {
	vfs.FS
	out *crashOut
}

func (fs *rollPauseFS) pause(what string) {
	fs.out.line("roll " + what)
	time.Sleep(time.Millisecond)
}

func (fs *rollPauseFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	if flag&os.O_TRUNC != 0 {
		fs.pause(filepath.Base(name))
	}
	return fs.FS.OpenFile(name, flag, perm)
}

func (fs *rollPauseFS) SyncDir(dir string) error {
	fs.pause("syncdir")
	return fs.FS.SyncDir(dir)
}

// TestCrashChild is the process TestCrash kills. It appends until killed,
// printing "ack <base> <last> <sha256>" once each Append has returned nil.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		t.Skip("the child process of TestCrash; runs only when started by it")
	}
	seed, _ := strconv.ParseUint(os.Getenv(crashSeedEnv), 10, 64)
	out := &crashOut{}
	var fs vfs.FS = vfs.Default
	if os.Getenv(crashRollEnv) != "" {
		fs = &rollPauseFS{FS: vfs.Default, out: out}
	}
	l, err := Open(dir, crashConfig(), Options{FS: fs, Logger: quietLogger()})
	if err != nil {
		crashChildFail("open: %v", err)
	}
	out.line("ready")
	for w := range crashWriters {
		go func() {
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			for {
				b := crashBatch(rng)
				res, err := l.Append(b)
				if err != nil {
					crashChildFail("append: %v", err)
				}
				out.line(fmt.Sprintf("ack %d %d %x", res.BaseOffset, res.LastOffset, sha256.Sum256(b)))
			}
		}()
	}
	time.Sleep(time.Minute)
	crashChildFail("not killed after a minute")
}

// ---- parent ----

type killMode int

const (
	killFromStart killMode = iota // a delay after exec: sometimes during Open's recovery
	killFromReady                 // a delay after Open returned: mid-append
	killInRoll                    // inside the nth segment roll
)

func (m killMode) String() string { return [...]string{"from-start", "from-ready", "in-roll"}[m] }

// crashRun is what one child run produced.
type crashRun struct {
	acks  []crashAck
	rolls int  // roll steps the child announced
	ready bool // the child had opened the log
}

// runCrashChild starts a child on dir, kills it as mode says, and returns
// what it acknowledged.
func runCrashChild(t *testing.T, dir string, seed uint64, mode killMode, delay time.Duration, rollAt int) crashRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, crashSeedEnv+"="+strconv.FormatUint(seed, 10))
	if mode == killInRoll {
		cmd.Env = append(cmd.Env, crashRollEnv+"=1")
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	lines := make(chan string, 256)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()

	var run crashRun
	killed := false
	kill := func() {
		if !killed {
			killed = true
			cmd.Process.Signal(syscall.SIGKILL)
		}
	}
	var timer <-chan time.Time
	switch mode {
	case killFromStart:
		timer = time.After(delay)
	case killInRoll:
		timer = time.After(3 * time.Second) // no roll came: kill anyway
	}
	safety := time.After(10 * time.Second)
	for open := true; open; {
		select {
		case line, ok := <-lines:
			if !ok {
				open = false
				break
			}
			switch f := strings.Fields(line); {
			case len(f) == 4 && f[0] == "ack":
				run.acks = append(run.acks, parseCrashAck(t, f))
			case line == "ready":
				run.ready = true
				if mode == killFromReady {
					timer = time.After(delay)
				}
			case len(f) == 2 && f[0] == "roll":
				run.rolls++
				if mode == killInRoll && run.rolls == rollAt {
					// The child sleeps 1ms in each step of the roll.
					timer = time.After(delay % (3 * time.Millisecond))
				}
			}
		case <-timer:
			timer = nil
			kill()
		case <-safety:
			kill()
			t.Errorf("child still running after 10s")
		}
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !killed || !errors.As(err, &ee) || !ee.Sys().(syscall.WaitStatus).Signaled() {
		t.Fatalf("child was not killed by us: %v\nstderr:\n%s", err, stderr.Bytes())
	}
	return run
}

func parseCrashAck(t *testing.T, f []string) crashAck {
	base, err1 := strconv.ParseInt(f[1], 10, 64)
	last, err2 := strconv.ParseInt(f[2], 10, 64)
	sum, err3 := hexDecode(f[3])
	if err := errors.Join(err1, err2, err3); err != nil || len(sum) != sha256.Size {
		t.Fatalf("bad ack line %q: %v", strings.Join(f, " "), err)
	}
	a := crashAck{base: base, last: last}
	copy(a.sum[:], sum)
	return a
}

func hexDecode(s string) ([]byte, error) {
	if len(s)%2 != 0 {
		return nil, errors.New("odd length")
	}
	b := make([]byte, len(s)/2)
	for i := range b {
		v, err := strconv.ParseUint(s[2*i:2*i+2], 16, 8)
		if err != nil {
			return nil, err
		}
		b[i] = byte(v)
	}
	return b, nil
}

// logRecorder is a slog.Handler that keeps every record, to check what
// recovery reports.
type logRecorder struct {
	mu   *sync.Mutex
	recs *[]logRecord
}

type logRecord struct {
	msg   string
	attrs map[string]slog.Value
}

func newLogRecorder() *logRecorder {
	return &logRecorder{mu: new(sync.Mutex), recs: new([]logRecord)}
}

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logRecorder) WithGroup(string) slog.Handler            { return h }
func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	lr := logRecord{msg: r.Message, attrs: map[string]slog.Value{}}
	r.Attrs(func(a slog.Attr) bool {
		lr.attrs[a.Key] = a.Value
		return true
	})
	h.mu.Lock()
	*h.recs = append(*h.recs, lr)
	h.mu.Unlock()
	return nil
}

// find returns the records whose message starts with prefix.
func (h *logRecorder) find(prefix string) []logRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []logRecord
	for _, r := range *h.recs {
		if strings.HasPrefix(r.msg, prefix) {
			out = append(out, r)
		}
	}
	return out
}

// tornTail is what tearTail did to the active segment.
type tornTail struct {
	kind    string
	segment int64 // base of the active segment
	goodEnd int64 // where its last good batch ends after the damage
	size    int64 // its size after the damage
}

// verifyCrashLog reopens dir in process and checks that every
// acknowledged batch is there, byte-identical, that offsets run without
// gaps from the log start to the log end offset, that recovery reported
// exactly the torn tail (when there is one to expect), and that the log
// takes appends again. The batch it appends is added to acks.
func verifyCrashLog(t *testing.T, dir string, fs vfs.FS, acks crashAcks, torn *tornTail, rng *rand.Rand) {
	t.Helper()
	if fs == nil {
		fs = vfs.Default
	}
	rec := newLogRecorder()
	l, err := Open(dir, crashConfig(), Options{FS: fs, Logger: slog.New(rec)})
	if err != nil {
		t.Fatalf("reopen after crash: %v", err)
	}
	defer l.Close()
	start, end, hw := l.LogStartOffset(), l.LogEndOffset(), l.HighWatermark()
	if start != 0 || hw != end {
		t.Fatalf("after recovery: log start %d (want 0), high watermark %d, log end %d", start, hw, end)
	}
	gaps := crashGaps.note(dir, rec)
	sums := make(map[int64][sha256.Size]byte)
	next := start
	for _, b := range readAll(t, l, start) {
		h := records.Header(b)
		if h.BaseOffset() != next && gaps[next] != h.BaseOffset() {
			t.Fatalf("batch at offset %d follows offset %d: offsets are not contiguous, and recovery reported no gap there", h.BaseOffset(), next-1)
		}
		next = h.BaseOffset()
		if err := records.ValidateStored(b); err != nil {
			t.Fatalf("batch at %d: %v", next, err)
		}
		sums[next] = sha256.Sum256(b)
		next = h.LastOffset() + 1
	}
	if next != end && gaps[next] != end {
		t.Fatalf("batches end at %d, log end offset is %d", next, end)
	}
	var lost []string
	for _, a := range acks {
		got, ok := sums[a.base]
		switch {
		case !ok:
			lost = append(lost, fmt.Sprintf("%v lost", a))
		case got != a.sum:
			lost = append(lost, fmt.Sprintf("%v changed to %x", a, got[:6]))
		}
	}
	if len(lost) > 0 {
		sort.Strings(lost)
		t.Fatalf("%d of %d acknowledged batches lost or changed (log end %d): %s",
			len(lost), len(acks), end, strings.Join(lost[:min(len(lost), 10)], "; "))
	}

	cuts := append(rec.find("torn tail"), rec.find("damaged tail")...)
	if torn != nil {
		want := torn.size - torn.goodEnd
		switch {
		case want == 0 && len(cuts) != 0:
			t.Fatalf("%s damage left whole batches, but recovery cut: %v", torn.kind, cuts[0].attrs)
		case want > 0 && len(cuts) != 1:
			t.Fatalf("%s damage of %d bytes at %d: recovery reported %d cuts, want 1", torn.kind, want, torn.goodEnd, len(cuts))
		case want > 0:
			a := cuts[0].attrs
			if a["segment"].Int64() != torn.segment || a["position"].Int64() != torn.goodEnd || a["bytes"].Int64() != want {
				t.Fatalf("%s damage: recovery reported segment %v position %v bytes %v, want %d, %d, %d",
					torn.kind, a["segment"], a["position"], a["bytes"], torn.segment, torn.goodEnd, want)
			}
			want := a["next_offset"].Int64()
			for _, r := range rec.find("offsets skipped") {
				// The tear cut batches the child synced (at a roll,
				// whose index names them) but was killed before
				// acknowledging: recovery cannot know they were not.
				want = max(want, r.attrs["next_offset"].Int64())
			}
			if want != end {
				t.Fatalf("recovery reported data lost from offset %v up to %v, log end is %d", a["from_offset"], a["next_offset"], end)
			}
		}
	}
	if bad := rec.find("corrupt batch in closed segment"); len(bad) > 0 {
		t.Fatalf("a closed segment lost data: %v", bad[0].attrs)
	}

	b := crashBatch(rng)
	res, err := l.Append(b)
	if err != nil {
		t.Fatalf("append after recovery: %v", err)
	}
	if res.BaseOffset != end {
		t.Fatalf("append after recovery went to %d, want %d", res.BaseOffset, end)
	}
	acks.add(t, crashAck{base: res.BaseOffset, last: res.LastOffset, sum: sha256.Sum256(b)})
	if err := l.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
}

// gapLog remembers, per log directory, the offset gaps recovery reported
// across the cycles of a crash test: from -> next.
type gapLog struct {
	mu   sync.Mutex
	gaps map[string]map[int64]int64
}

var crashGaps = &gapLog{gaps: map[string]map[int64]int64{}}

// note adds the gaps that rec shows recovery left in dir and returns all
// of dir's gaps so far.
func (g *gapLog) note(dir string, rec *logRecorder) map[int64]int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	m := g.gaps[dir]
	if m == nil {
		m = map[int64]int64{}
		g.gaps[dir] = m
	}
	for _, prefix := range []string{"torn tail", "damaged tail", "offsets skipped", "segment data below the log end checkpoint"} {
		for _, r := range rec.find(prefix) {
			from, next := r.attrs["from_offset"].Int64(), r.attrs["next_offset"].Int64()
			if next > from {
				m[from] = next
			}
		}
	}
	return m
}

// crashFreshAt bounds how much log a crash test verifies per cycle: past
// it, the test starts over in a new directory so that more cycles cost
// linear time.
const crashFreshAt = 24 << 20

func dirSize(t *testing.T, dir string) int64 {
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, e := range ents {
		if fi, err := e.Info(); err == nil {
			n += fi.Size()
		}
	}
	return n
}

func TestCrash(t *testing.T) { testCrash(t, false) }

func TestCrashTornTail(t *testing.T) { testCrash(t, true) }

func testCrash(t *testing.T, tear bool) {
	if os.Getenv(crashChildEnv) != "" {
		t.Skip("in the crash child")
	}
	t.Parallel()
	seed := crashSeed(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	cycles := crashCycles(t, 20)
	dir := t.TempDir()
	acks := crashAcks{}
	var (
		acked, killedReady, rollKills, tears int
		kinds                                = map[string]int{}
	)
	for c := range cycles {
		if dirSize(t, dir) > crashFreshAt {
			dir, acks = t.TempDir(), crashAcks{}
		}
		mode := killFromReady
		switch r := rng.IntN(4); r {
		case 0:
			mode = killFromStart
		case 1:
			mode = killInRoll
		}
		delay := time.Duration(5+rng.IntN(146)) * time.Millisecond
		run := runCrashChild(t, dir, rng.Uint64(), mode, delay, 1+rng.IntN(6))
		for _, a := range run.acks {
			acks.add(t, a)
		}
		acked += len(run.acks)
		if run.ready {
			killedReady++
		}
		if mode == killInRoll && run.rolls > 0 {
			rollKills++
		}
		var torn *tornTail
		if tear {
			if torn = tearTail(t, dir, acks, rng); torn != nil {
				kinds[torn.kind]++
				if torn.size > torn.goodEnd {
					tears++
				}
			}
		}
		verifyCrashLog(t, dir, nil, acks, torn, rng)
		if t.Failed() {
			t.Fatalf("cycle %d (%v, delay %v)", c, mode, delay)
		}
	}
	t.Logf("%d cycles: %d acknowledged batches checked, %d kills after open, %d kills inside a roll, %d torn tails cut %v",
		cycles, acked, killedReady, rollKills, tears, kinds)
	if acked == 0 {
		t.Fatalf("no child ever acknowledged a batch; the test tests nothing")
	}
}

// hasSegment reports whether dir holds a segment file yet.
func hasSegment(dir string) bool {
	m, _ := filepath.Glob(filepath.Join(dir, "*"+logSuffix))
	return len(m) > 0
}

// activeSegment returns the base and path of the last segment in dir.
func activeSegment(t *testing.T, dir string) (int64, string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	base, name := int64(-1), ""
	for _, e := range ents {
		if n, ok := strings.CutSuffix(e.Name(), logSuffix); ok {
			if b, err := strconv.ParseInt(n, 10, 64); err == nil && b > base {
				base, name = b, e.Name()
			}
		}
	}
	if base < 0 {
		t.Fatalf("no segment in %s", dir)
	}
	return base, filepath.Join(dir, name)
}

// goodPrefix walks data as recovery does and returns where the last good
// batch ends and the offset after it.
func goodPrefix(data []byte, base int64) (end, next int64) {
	next = base
	for int64(len(data)) > end {
		rest := data[end:]
		n, ok := records.PeekSize(rest)
		if !ok || n > len(rest) || records.ValidateStored(rest[:n]) != nil || records.Header(rest).BaseOffset() < next {
			break
		}
		next = records.Header(rest).LastOffset() + 1
		end += int64(n)
	}
	return end, next
}

// tearTail damages the end of the active segment the way a torn write or
// a crash in the middle of one could, never touching acknowledged bytes.
func tearTail(t *testing.T, dir string, acks crashAcks, rng *rand.Rand) *tornTail {
	t.Helper()
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil // killed before the log was created: nothing to tear
	}
	if !hasSegment(dir) {
		return nil
	}
	base, path := activeSegment(t, dir)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	good, next := goodPrefix(data, base)
	// ackedEnd: the end of the last acknowledged batch in the file.
	ackedEnd := int64(0)
	for pos := int64(0); pos < good; {
		n, _ := records.PeekSize(data[pos:])
		if _, ok := acks[records.Header(data[pos:]).BaseOffset()]; ok {
			ackedEnd = pos + int64(n)
		}
		pos += int64(n)
	}
	data = data[:good] // whatever the kill left past this is cut too
	var tail []byte
	kind := [...]string{"garbage", "zeros", "partial batch", "flipped bit", "unacked cut"}[rng.IntN(5)]
	if kind == "unacked cut" && ackedEnd == good {
		kind = "garbage"
	}
	switch kind {
	case "garbage":
		tail = make([]byte, 1+rng.IntN(300))
		for i := range tail {
			tail[i] = byte(rng.Uint32())
		}
		if len(tail) > 16 && tail[16] == records.Magic {
			tail[16]++
		}
	case "zeros":
		tail = make([]byte, 1+rng.IntN(8192))
	case "partial batch":
		b := crashBatch(rng)
		records.SetBaseOffset(b, next)
		tail = b[:1+rng.IntN(len(b)-1)]
	case "flipped bit":
		b := crashBatch(rng)
		records.SetBaseOffset(b, next)
		bit := 8*21 + rng.IntN(8*(len(b)-21)) // inside what the CRC covers
		b[bit/8] ^= 1 << (bit % 8)
		tail = b
	case "unacked cut":
		// Cut the unacknowledged batches after ackedEnd somewhere, and
		// maybe in the middle of one.
		cut := ackedEnd + 1 + rng.Int64N(good-ackedEnd)
		data = data[:cut]
	}
	data = append(data, tail...)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	end, _ := goodPrefix(data, base)
	if end < ackedEnd {
		t.Fatalf("test bug: %s damage reached acknowledged data", kind)
	}
	return &tornTail{kind: kind, segment: base, goodEnd: end, size: int64(len(data))}
}

// ---- power loss ----

// powerFS passes I/O to the OS filesystem but keeps, for every file it
// opened, how many bytes a successful Sync covered. Crash then makes every
// operation fail, and loseUnsynced throws away a random part of each
// file's unsynced bytes (cut off, or zeroed as if the size reached the disk
// and the data did not). Syncs are not passed on: the model, not the disk,
// decides what survives, and the test runs fast.
type powerFS struct {
	vfs.FS
	crashed atomic.Bool
	mu      sync.Mutex
	synced  map[string]int64 // path -> bytes known durable
}

var errPowerLoss = errors.New("power loss")

func newPowerFS() *powerFS { return &powerFS{FS: vfs.Default, synced: map[string]int64{}} }

func (fs *powerFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	if fs.crashed.Load() {
		return nil, &os.PathError{Op: "open", Path: name, Err: errPowerLoss}
	}
	f, err := fs.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if _, ok := fs.synced[name]; !ok || flag&os.O_TRUNC != 0 {
		size := int64(0)
		if flag&os.O_TRUNC == 0 {
			// What was there before we started is durable.
			if fi, err := f.Stat(); err == nil {
				size = fi.Size()
			}
		}
		fs.synced[name] = size
	}
	return &powerFile{File: f, fs: fs, name: name}, nil
}

func (fs *powerFS) Rename(oldname, newname string) error {
	if fs.crashed.Load() {
		return errPowerLoss
	}
	if err := fs.FS.Rename(oldname, newname); err != nil {
		return err
	}
	fs.mu.Lock()
	fs.synced[newname] = fs.synced[oldname]
	delete(fs.synced, oldname)
	fs.mu.Unlock()
	return nil
}

func (fs *powerFS) Remove(name string) error {
	if fs.crashed.Load() {
		return errPowerLoss
	}
	fs.mu.Lock()
	delete(fs.synced, name)
	fs.mu.Unlock()
	return fs.FS.Remove(name)
}

func (fs *powerFS) SyncDir(string) error {
	if fs.crashed.Load() {
		return errPowerLoss
	}
	return nil
}

// loseUnsynced applies the power loss to the files on disk.
func (fs *powerFS) loseUnsynced(t *testing.T, rng *rand.Rand) (lost int64) {
	t.Helper()
	fs.mu.Lock()
	defer fs.mu.Unlock()
	names := make([]string, 0, len(fs.synced))
	for name := range fs.synced {
		names = append(names, name)
	}
	sort.Strings(names) // map order would make a seed not replay
	for _, name := range names {
		synced := fs.synced[name]
		fi, err := os.Stat(name)
		if err != nil {
			continue
		}
		if fi.Size() <= synced {
			continue
		}
		cut := synced + rng.Int64N(fi.Size()-synced+1)
		lost += fi.Size() - cut
		if rng.IntN(3) == 0 {
			f, err := os.OpenFile(name, os.O_WRONLY, 0)
			if err == nil {
				_, err = f.WriteAt(make([]byte, fi.Size()-cut), cut)
				f.Close()
			}
			if err != nil {
				t.Fatal(err)
			}
		} else if err := os.Truncate(name, cut); err != nil {
			t.Fatal(err)
		}
	}
	return lost
}

type powerFile struct {
	vfs.File
	fs   *powerFS
	name string
}

func (f *powerFile) Write(p []byte) (int, error) {
	if f.fs.crashed.Load() {
		return 0, errPowerLoss
	}
	return f.File.Write(p)
}

func (f *powerFile) Sync() error {
	if f.fs.crashed.Load() {
		return errPowerLoss
	}
	// What was written before the sync started is durable once it
	// returns; writes racing with it may not be.
	fi, err := f.File.Stat()
	if err != nil {
		return err
	}
	if f.fs.crashed.Load() {
		return errPowerLoss
	}
	f.fs.mu.Lock()
	if _, ok := f.fs.synced[f.name]; ok {
		f.fs.synced[f.name] = max(f.fs.synced[f.name], fi.Size())
	}
	f.fs.mu.Unlock()
	return nil
}

func (f *powerFile) Truncate(size int64) error {
	if f.fs.crashed.Load() {
		return errPowerLoss
	}
	if err := f.File.Truncate(size); err != nil {
		return err
	}
	f.fs.mu.Lock()
	if s, ok := f.fs.synced[f.name]; ok && s > size {
		f.fs.synced[f.name] = size
	}
	f.fs.mu.Unlock()
	return nil
}

// TestCrashPowerLoss appends from several goroutines under Always, cuts
// the power at a random moment, loses part of every unsynced byte, and
// checks that every acknowledged batch survived. Segments are small so
// that most cycles cross rolls, and closed segments' index files (never
// synced) get damaged too.
func TestCrashPowerLoss(t *testing.T) {
	t.Parallel()
	seed := crashSeed(t)
	rng := rand.New(rand.NewPCG(seed, 2))
	cycles := crashCycles(t, 40)
	// The model, not the disk, decides what survives: a RAM disk will do.
	dir := shmTempDir(t)
	acks := crashAcks{}
	cfg := crashConfig()
	cfg.SegmentBytes = 32 << 10
	cfg.IndexIntervalBytes = 1024
	var total, lostBytes int64
	for c := range cycles {
		if dirSize(t, dir) > crashFreshAt/4 {
			dir, acks = shmTempDir(t), crashAcks{}
		}
		fs := newPowerFS()
		l, err := Open(dir, cfg, Options{FS: fs, Logger: quietLogger()})
		if err != nil {
			t.Fatalf("cycle %d: open: %v", c, err)
		}
		var (
			mu  sync.Mutex
			got []crashAck
			wg  sync.WaitGroup
		)
		for w := range crashWriters {
			wrng := rand.New(rand.NewPCG(rng.Uint64(), uint64(w)))
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					b := crashBatch(wrng)
					res, err := l.Append(b)
					if err != nil {
						if !fs.crashed.Load() {
							t.Errorf("append before the power loss: %v", err)
						}
						return
					}
					mu.Lock()
					got = append(got, crashAck{base: res.BaseOffset, last: res.LastOffset, sum: sha256.Sum256(b)})
					mu.Unlock()
				}
			}()
		}
		time.Sleep(time.Duration(rng.IntN(20000)) * time.Microsecond)
		// The acks recorded so far are the ones a client has seen. A
		// goroutine that returns from Append after this point is not
		// counted: its client never heard back.
		mu.Lock()
		fs.crashed.Store(true)
		seen := slices.Clone(got)
		mu.Unlock()
		wg.Wait()
		l.Close() // fails: the power is off; it only releases the files
		lostBytes += fs.loseUnsynced(t, rng)
		for _, a := range seen {
			acks.add(t, a)
		}
		total += int64(len(seen))
		verifyCrashLog(t, dir, nil, acks, nil, rng)
		if t.Failed() {
			t.Fatalf("cycle %d", c)
		}
	}
	t.Logf("%d power losses: %d acknowledged batches checked, %d unsynced bytes lost", cycles, total, lostBytes)
}

// TestRebuiltIndexesSaved: when a closed segment's index files are
// damaged (as a crash can leave them: they are never synced), the open
// that rebuilds them in memory also writes them back, so that later opens
// do not scan the segment again.
func TestRebuiltIndexesSaved(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.SegmentBytes = 8 << 10
	l := openTest(t, dir, cfg, Options{})
	for i := range 40 {
		if _, err := l.Append(testBatch(4, 100, int64(1000+i*10), records.CodecNone)); err != nil {
			t.Fatal(err)
		}
	}
	if l.Segments() < 3 {
		t.Fatalf("want at least 3 segments, have %d", l.Segments())
	}
	l.Close()
	index := segmentName(dir, 0, indexSuffix)
	timeIndex := segmentName(dir, 0, timeIndexSuffix)
	wantIndex, err1 := os.ReadFile(index)
	wantTimes, err2 := os.ReadFile(timeIndex)
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	for _, damage := range []func(){
		func() { os.Truncate(index, 3) },
		func() { os.Remove(timeIndex) },
		func() { os.WriteFile(index, make([]byte, 64), 0o644) },
	} {
		damage()
		l := openTest(t, dir, cfg, Options{})
		want := readAll(t, l, 0)
		l.Close()
		gotIndex, err1 := os.ReadFile(index)
		gotTimes, err2 := os.ReadFile(timeIndex)
		if err := errors.Join(err1, err2); err != nil {
			t.Fatalf("index files after a rebuild: %v", err)
		}
		if !bytes.Equal(gotIndex, wantIndex) || !bytes.Equal(gotTimes, wantTimes) {
			t.Fatalf("rebuilt index files differ from the ones written at the roll")
		}
		l = openTest(t, dir, cfg, Options{})
		if got := readAll(t, l, 0); len(got) != len(want) {
			t.Fatalf("%d batches after reopen, want %d", len(got), len(want))
		}
		l.Close()
	}
}

// TestAckedIsVisible: once Append returns under Always, the high
// watermark covers the batch, so a fetch right after the produce response
// sees it (the flusher must publish before it wakes the appenders).
func TestAckedIsVisible(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 16 << 10 // the roll's sync publishes too
	l := openTest(t, shmTempDir(t), cfg, Options{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				res, err := l.Append(testBatch(1+i%3, 100, int64(w*1000+i), records.CodecNone))
				if err != nil {
					t.Error(err)
					return
				}
				if hw := l.HighWatermark(); hw <= res.LastOffset {
					t.Errorf("append of [%d, %d] returned with the high watermark at %d", res.BaseOffset, res.LastOffset, hw)
					return
				}
			}
		}()
	}
	wg.Wait()
}
