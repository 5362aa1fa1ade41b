package log

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/records"
	"github.com/heraldhq/herald/internal/vfs"
)

// Benchmarks of the log's hot paths, and of this machine's baseline: a
// plain write+fdatasync loop of the same sizes, in the same temporary
// filesystem, so that one run gives the ratio of Append to the disk:
//
//	go test ./internal/log -run '^$' -bench . -benchtime 2s -benchmem
//
// Compare BenchmarkAppend/always/records=N with
// BenchmarkBaseline/fdatasync/records=N (MB/s), and
// BenchmarkAppend/interval=100ms with BenchmarkBaseline/write.

// benchRecords are the batch sizes, in records of benchRecordBytes.
var benchRecords = []int{16, 256, 1024}

const benchRecordBytes = 1024

// benchBatch is a producer batch of n uncompressed records of 1 KiB.
func benchBatch(n int) []byte {
	return testBatch(n, benchRecordBytes, time.Now().UnixMilli(), records.CodecNone)
}

// openBench opens a log with 1 GiB segments, so that rolls do not
// dominate, in a temporary directory on the same disk as the baseline's.
// Its files go through a descriptor cache, as the broker's do.
func openBench(b *testing.B, d Durability) *Log {
	b.Helper()
	cfg := DefaultConfig()
	cfg.Durability = d
	cfg.SegmentBytes = 1 << 30
	cfg.RetentionMs = -1
	return openTest(b, b.TempDir(), cfg, Options{Files: NewFileCache(64)})
}

var benchDurabilities = []struct {
	name string
	d    Durability
}{
	{"always", Durability{Always: true}},
	{"interval=100ms", Durability{Interval: 100 * time.Millisecond}},
}

// BenchmarkAppend appends one prebuilt batch over and over from one
// goroutine; each Append only rewrites its offset fields.
func BenchmarkAppend(b *testing.B) {
	for _, d := range benchDurabilities {
		for _, n := range benchRecords {
			b.Run(fmt.Sprintf("%s/records=%d", d.name, n), func(b *testing.B) {
				batch := benchBatch(n)
				l := openBench(b, d.d)
				b.SetBytes(int64(len(batch)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := l.Append(batch); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkAppendParallel appends from many goroutines under Always: group
// commit makes one fdatasync serve every append waiting for it, so bytes/s
// should approach the disk's sequential write rate even for small batches.
func BenchmarkAppendParallel(b *testing.B) {
	for _, n := range benchRecords[:2] {
		b.Run(fmt.Sprintf("always/records=%d", n), func(b *testing.B) {
			proto := benchBatch(n)
			l := openBench(b, Durability{Always: true})
			b.SetBytes(int64(len(proto)))
			b.ReportAllocs()
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				batch := append([]byte(nil), proto...) // Append writes offsets into it
				for pb.Next() {
					if _, err := l.Append(batch); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkBaseline is what the disk does without the log: write the same
// batch bytes to a file in a loop, with an fdatasync after each (what
// Append under Always can at best do) or without (interval).
func BenchmarkBaseline(b *testing.B) {
	for _, sync := range []bool{true, false} {
		name := "write"
		if sync {
			name = "fdatasync"
		}
		for _, n := range benchRecords {
			b.Run(fmt.Sprintf("%s/records=%d", name, n), func(b *testing.B) {
				batch := benchBatch(n)
				f, err := vfs.Default.OpenFile(filepath.Join(b.TempDir(), "baseline.log"), os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o644)
				if err != nil {
					b.Fatal(err)
				}
				defer f.Close()
				b.SetBytes(int64(len(batch)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := f.Write(batch); err != nil {
						b.Fatal(err)
					}
					if sync {
						if err := f.Sync(); err != nil { // fdatasync
							b.Fatal(err)
						}
					}
				}
			})
		}
	}
}

// BenchmarkRead reads a prebuilt 64 MiB log from start to end, over and
// over, 1 MiB per Read, into a reused buffer.
func BenchmarkRead(b *testing.B) {
	for _, n := range benchRecords {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			l := openBench(b, Durability{})
			batch := benchBatch(n)
			for size := 0; size < 64<<20; size += len(batch) {
				if _, err := l.Append(batch); err != nil {
					b.Fatal(err)
				}
			}
			if err := l.Sync(); err != nil {
				b.Fatal(err)
			}
			hw := l.HighWatermark()
			dst := make([]byte, 0, 2<<20)
			var off, total int64
			b.ReportAllocs()
			for b.Loop() {
				out, err := l.Read(dst[:0], off, 1<<20, true)
				if err != nil || len(out) == 0 {
					b.Fatalf("read at %d: %d bytes, %v", off, len(out), err)
				}
				total += int64(len(out))
				off = lastOffset(out) + 1
				if off >= hw {
					off = 0
				}
			}
			b.ReportMetric(float64(total)/1e6/b.Elapsed().Seconds(), "MB/s")
		})
	}
}

// lastOffset returns the last offset of the last of the whole batches in b.
func lastOffset(b []byte) int64 {
	var last int64
	for len(b) > 0 {
		n, _ := records.PeekSize(b)
		last = records.Header(b).LastOffset()
		b = b[n:]
	}
	return last
}

// BenchmarkAppendVsBaseline interleaves one Append under Always with one
// plain write+fdatasync of the same bytes to a file beside the log, so that
// both see the same disk at the same moment; on a shared, noisy machine
// that gives a steadier ratio than two separate benchmarks. It reports the
// MB/s of each and their ratio (append/baseline).
func BenchmarkAppendVsBaseline(b *testing.B) {
	for _, n := range benchRecords {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			batch := benchBatch(n)
			l := openBench(b, Durability{Always: true})
			f, err := vfs.Default.OpenFile(filepath.Join(b.TempDir(), "baseline.log"), os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o644)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			var tLog, tBase time.Duration
			b.ReportAllocs()
			for b.Loop() {
				t0 := time.Now()
				if _, err := l.Append(batch); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if _, err := f.Write(batch); err != nil {
					b.Fatal(err)
				}
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
				tLog += t1.Sub(t0)
				tBase += time.Since(t1)
			}
			mb := float64(len(batch)) * float64(b.N) / 1e6
			b.ReportMetric(mb/tLog.Seconds(), "append-MB/s")
			b.ReportMetric(mb/tBase.Seconds(), "baseline-MB/s")
			b.ReportMetric(tBase.Seconds()/tLog.Seconds(), "append/baseline")
		})
	}
}

// BenchmarkProduceFetch4x4 runs 4 appenders and 4 readers on one log under
// Always, with 1 MiB segments so that rolls happen often (every ~60
// appends of 16 KiB): it measures what a roll's work under the log lock
// costs the others. Readers follow the high watermark with 1 MiB reads.
// It reports the appended and the read MB/s.
func BenchmarkProduceFetch4x4(b *testing.B) {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 1 << 20
	cfg.RetentionMs = -1
	l := openTest(b, b.TempDir(), cfg, Options{Files: NewFileCache(64)})
	proto := benchBatch(16)
	var appended, read atomic.Int64
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 4 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			dst := make([]byte, 0, 2<<20)
			var off int64
			for {
				select {
				case <-stop:
					return
				default:
				}
				if off >= l.HighWatermark() {
					select {
					case <-l.Changed():
					case <-stop:
						return
					}
					continue
				}
				out, err := l.Read(dst[:0], off, 1<<20, true)
				if err != nil {
					b.Error(err)
					return
				}
				if len(out) > 0 {
					read.Add(int64(len(out)))
					off = lastOffset(out) + 1
				}
			}
		}()
	}
	b.SetBytes(int64(len(proto)))
	b.ReportAllocs()
	b.SetParallelism(2) // 4 appenders on this 2-CPU machine
	b.RunParallel(func(pb *testing.PB) {
		batch := append([]byte(nil), proto...)
		for pb.Next() {
			if _, err := l.Append(batch); err != nil {
				b.Error(err)
				return
			}
			appended.Add(int64(len(batch)))
		}
	})
	close(stop)
	readers.Wait()
	b.ReportMetric(float64(appended.Load())/1e6/b.Elapsed().Seconds(), "append-MB/s")
	b.ReportMetric(float64(read.Load())/1e6/b.Elapsed().Seconds(), "read-MB/s")
}

// BenchmarkAppendCompressed appends zstd batches under an interval policy,
// so that validation (CRC, decompression, the record walk) is what it
// measures rather than fsync.
func BenchmarkAppendCompressed(b *testing.B) {
	batch := testBatch(256, benchRecordBytes, time.Now().UnixMilli(), records.CodecZstd)
	l := openBench(b, Durability{Interval: 100 * time.Millisecond})
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Append(batch); err != nil {
			b.Fatal(err)
		}
	}
}
