package log

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/records"
)

// testBatch builds a producer-style batch of n records, each with a key
// "k<i>" and a value of size bytes, timestamps ts, ts+1, ….
func testBatch(n, size int, ts int64, codec records.Codec) []byte {
	recs := make([]records.Record, n)
	for i := range recs {
		v := bytes.Repeat([]byte{byte('a' + i%26)}, size)
		recs[i] = records.Record{Key: []byte(fmt.Sprintf("k%d", i)), Value: v, TimestampDelta: int64(i)}
	}
	return records.BuildBatch(records.BatchSpec{
		Attributes: int16(codec), BaseTimestamp: ts, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1,
	}, recs...)
}

// keyedBatch builds a batch of one record per key/value pair; a nil value
// is a tombstone.
func keyedBatch(ts int64, codec records.Codec, kv ...[]byte) []byte {
	var recs []records.Record
	for i := 0; i+1 < len(kv); i += 2 {
		recs = append(recs, records.Record{Key: kv[i], Value: kv[i+1], TimestampDelta: int64(i / 2)})
	}
	return records.BuildBatch(records.BatchSpec{
		Attributes: int16(codec), BaseTimestamp: ts, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1,
	}, recs...)
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testConfig is DefaultConfig with small segments and indexes, so that
// tests roll and index often.
func testConfig() Config {
	c := DefaultConfig()
	c.SegmentBytes = 64 << 10
	c.IndexIntervalBytes = 256
	c.RetentionMs = -1
	return c
}

// testFiles, when set, is the descriptor cache openTest gives logs opened
// without one (see TestSuitesWithFileCache).
var testFiles *FileCache

func openTest(t testing.TB, dir string, cfg Config, opts Options) *Log {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	if opts.Files == nil {
		opts.Files = testFiles
	}
	l, err := Open(dir, cfg, opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// readAll reads every batch from offset to the high watermark.
func readAll(t testing.TB, l *Log, from int64) [][]byte {
	t.Helper()
	var out [][]byte
	off := from
	for off < l.HighWatermark() {
		b, err := l.Read(nil, off, 1<<20, true)
		var d *DamagedError
		if errors.As(err, &d) && d.Segment < 0 {
			// Offsets recovery moved aside, as it reported.
			off = d.LastOffset + 1
			continue
		}
		if err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
		if len(b) == 0 {
			if inTailGap(l, off) {
				break
			}
			t.Fatalf("read at %d below hw %d returned nothing", off, l.HighWatermark())
		}
		for len(b) > 0 {
			n, _ := records.PeekSize(b)
			out = append(out, b[:n])
			off = records.Header(b).LastOffset() + 1
			b = b[n:]
		}
	}
	return out
}

// fakeClock is a settable clock for retention and roll tests.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

// inTailGap reports whether no batch is at or after off: off is in the
// offsets recovery skipped past damage, and nothing was appended since.
func inTailGap(l *Log, off int64) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, s := range l.mu.segments {
		if s.size > 0 && s.next > off {
			return false
		}
	}
	return true
}
