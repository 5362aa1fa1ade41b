package log

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/vfs"
)

// Durability says when an append is acknowledged.
type Durability struct {
	// Always acknowledges an append only after fdatasync.
	Always bool
	// Interval, when Always is false, is how often a background sync
	// runs; 0 leaves flushing to the operating system.
	Interval time.Duration
}

// ParseDurability parses "always", "interval=<duration>" or "none".
func ParseDurability(s string) (Durability, error) {
	switch {
	case s == "always":
		return Durability{Always: true}, nil
	case s == "none":
		return Durability{}, nil
	case strings.HasPrefix(s, "interval="):
		d, err := time.ParseDuration(strings.TrimPrefix(s, "interval="))
		if err != nil || d <= 0 {
			return Durability{}, fmt.Errorf("durability %q: interval must be a positive duration such as interval=100ms", s)
		}
		return Durability{Interval: d}, nil
	}
	return Durability{}, fmt.Errorf("durability %q: want always, interval=<duration> or none", s)
}

func (d Durability) String() string {
	switch {
	case d.Always:
		return "always"
	case d.Interval > 0:
		return "interval=" + d.Interval.String()
	}
	return "none"
}

// Config is a log's tunables; the broker maps topic configs onto it.
type Config struct {
	Durability Durability
	// SegmentBytes: the active segment is rolled before it would grow
	// past this size.
	SegmentBytes int64
	// SegmentAge: the active segment is rolled when it is older; 0 never.
	SegmentAge time.Duration
	// RetentionMs: closed segments whose newest timestamp is older are
	// deleted (when Delete is set); -1 keeps them forever.
	RetentionMs int64
	// RetentionBytes: the oldest closed segments are deleted while the log
	// is larger (when Delete is set); -1 has no limit.
	RetentionBytes int64
	// Delete and Compact are cleanup.policy.
	Delete  bool
	Compact bool
	// DeleteRetentionMs: a tombstone is dropped by compaction once its
	// timestamp is older than this.
	DeleteRetentionMs int64
	// IndexIntervalBytes is the sparse indexes' granularity.
	IndexIntervalBytes int
	// LeaderEpoch is written into every appended batch.
	LeaderEpoch int32
}

// DefaultConfig is Kafka's defaults with Herald's durability.
func DefaultConfig() Config {
	return Config{
		Durability:         Durability{Always: true},
		SegmentBytes:       1 << 30,
		SegmentAge:         7 * 24 * time.Hour,
		RetentionMs:        7 * 24 * 60 * 60 * 1000,
		RetentionBytes:     -1,
		Delete:             true,
		DeleteRetentionMs:  24 * 60 * 60 * 1000,
		IndexIntervalBytes: 4096,
	}
}

// Validate reports every problem with the config.
func (c Config) Validate() error {
	var errs []error
	if c.SegmentBytes < 14 {
		errs = append(errs, fmt.Errorf("segment bytes %d is too small", c.SegmentBytes))
	}
	if c.SegmentBytes > 1<<32-1 {
		errs = append(errs, fmt.Errorf("segment bytes %d is over 4 GiB", c.SegmentBytes))
	}
	if c.IndexIntervalBytes <= 0 {
		errs = append(errs, fmt.Errorf("index interval %d must be positive", c.IndexIntervalBytes))
	}
	if c.SegmentAge < 0 {
		errs = append(errs, fmt.Errorf("segment age %s is negative", c.SegmentAge))
	}
	return errors.Join(errs...)
}

// Options are the log's collaborators.
type Options struct {
	// FS does all file I/O; default vfs.Default.
	FS vfs.FS
	// Logger reports recovery and maintenance; default slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Files, when set, opens the segment files through this shared
	// descriptor cache (see FileCache); otherwise each stays open while
	// the log is.
	Files *FileCache
	// SkipParentSync leaves the fsync of the log directory's parent (which
	// makes a new log directory's entry durable) to the caller, who must
	// do it before relying on the log: the broker syncs the data dir once
	// for all the partitions it opens.
	SkipParentSync bool
	// Stats, when set, counts this log's syncs (shared by many logs).
	Stats *Stats
}

func (o *Options) setDefaults() {
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}
