package bench

import (
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// FdatasyncBandwidth writes 1 MiB blocks to a file in dir, each followed by
// fdatasync, for d, and returns bytes per second: the most a broker that
// syncs every acknowledged write could sustain on this disk.
func FdatasyncBandwidth(dir string, d time.Duration) (float64, error) {
	f, err := os.CreateTemp(dir, "fdatasync-probe-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(filepath.Clean(f.Name()))
	defer f.Close()
	block := payload()
	for len(block) < 1<<20 {
		block = append(block, block...)
	}
	var n int64
	start := time.Now()
	for time.Since(start) < d {
		if _, err := f.Write(block); err != nil {
			return 0, err
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			return 0, err
		}
		n += int64(len(block))
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// FdatasyncLatency times write+fdatasync of one 1 KiB record, appended to
// a file in dir, for d: the floor under a one-in-flight round trip on any
// peer that syncs before it acknowledges.
func FdatasyncLatency(dir string, d time.Duration) (Latency, error) {
	f, err := os.CreateTemp(dir, "fdatasync-lat-*")
	if err != nil {
		return Latency{}, err
	}
	defer os.Remove(filepath.Clean(f.Name()))
	defer f.Close()
	v := payload()
	h := newHist()
	start := time.Now()
	for time.Since(start) < d {
		t := time.Now()
		if _, err := f.Write(v); err != nil {
			return Latency{}, err
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			return Latency{}, err
		}
		_ = h.RecordValue(time.Since(t).Microseconds())
	}
	return latencyOf(h), nil
}
