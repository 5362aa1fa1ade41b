package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"

	hlog "github.com/heraldhq/herald/internal/log"
)

// What the broker does when background verification finds damaged log
// data (the --on-corruption setting).
const (
	// OnCorruptionServe keeps serving: a fetch of a damaged offset range
	// gets CORRUPT_MESSAGE for that partition, every other offset and
	// partition serves normally, and consumers can seek past the range.
	OnCorruptionServe = "serve"
	// OnCorruptionStop shuts the broker down with the damage report.
	OnCorruptionStop = "stop"
)

// DefaultVerifyBytesPerSec paces background verification so that it does
// not starve produce and fetch of disk bandwidth.
const DefaultVerifyBytesPerSec = 32 << 20

// ErrCorruption is what a broker stopped by damage (OnCorruptionStop)
// reports.
var ErrCorruption = errors.New("damaged log data found")

// VerifyConfig configures background verification.
type VerifyConfig struct {
	// OnCorruption is OnCorruptionServe (the default) or OnCorruptionStop.
	OnCorruption string
	// BytesPerSec paces the reads; 0 takes DefaultVerifyBytesPerSec, < 0
	// is no limit.
	BytesPerSec int64
	// Stop is called once, with an error matching ErrCorruption, when
	// OnCorruption is OnCorruptionStop and damage is found; it must shut
	// the broker down.
	Stop func(error)
}

// ValidateOnCorruption checks an --on-corruption value.
func ValidateOnCorruption(s string) error {
	switch s {
	case "", OnCorruptionServe, OnCorruptionStop:
		return nil
	}
	return fmt.Errorf("on-corruption %q: want %s or %s", s, OnCorruptionServe, OnCorruptionStop)
}

// StartVerify checks every partition's log in the background, one
// partition at a time (Log.Verify: every batch's CRC, paced), and logs
// each damaged range at ERROR with its topic, partition, offsets, file and
// byte range. Under OnCorruptionServe the damaged ranges are served
// around; under OnCorruptionStop cfg.Stop is called with the report. The
// returned function cancels verification and waits for it.
func (b *Broker) StartVerify(cfg VerifyConfig) (cancel func()) {
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		found, err := b.verifyAll(ctx, cfg)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			b.logger.Error("background verification stopped", "err", err)
			return
		}
		b.logger.Info("background verification finished", "damaged_ranges", found)
		if found > 0 && cfg.OnCorruption == OnCorruptionStop && cfg.Stop != nil {
			cfg.Stop(fmt.Errorf("%w: %d damaged ranges (see the log); stopping as --on-corruption=stop asks", ErrCorruption, found))
		}
	}()
	return func() { stop(); wg.Wait() }
}

// verifyAll verifies every partition and returns how many damaged ranges
// it found.
func (b *Broker) verifyAll(ctx context.Context, cfg VerifyConfig) (int, error) {
	rate := cfg.BytesPerSec
	switch {
	case rate == 0:
		rate = DefaultVerifyBytesPerSec
	case rate < 0:
		rate = 0
	}
	mode := cfg.OnCorruption
	if mode == "" {
		mode = OnCorruptionServe
	}
	tm := b.topics.Load()
	names := make([]string, 0, len(tm.byName))
	for name := range tm.byName {
		names = append(names, name)
	}
	sort.Strings(names)
	found := 0
	for _, name := range names {
		for _, p := range tm.byName[name].partitions() {
			damage, err := p.log.Verify(ctx, rate)
			if errors.Is(err, hlog.ErrClosed) {
				continue // deleted meanwhile
			}
			for _, d := range damage {
				attrs := append([]any{"topic", name, "partition", p.Index}, d.LogAttrs()...)
				b.logger.Log(ctx, slog.LevelError, "damaged log data found",
					append(attrs, "on_corruption", mode)...)
			}
			found += len(damage)
			if err != nil {
				return found, fmt.Errorf("verify %s-%d: %w", name, p.Index, err)
			}
		}
	}
	return found, nil
}
