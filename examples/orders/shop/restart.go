package shop

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// RestartOnFailure runs run until ctx is cancelled, running it again
// after a failure, as a process supervisor (systemd's Restart=on-failure,
// a Kubernetes pod's restart policy) would restart a crashed service: the
// stream services stop on an error the broker causes (it restarts, a
// request finds it down), and start again from their stores and committed
// offsets. It waits a second between runs, and gives up, returning the
// error, after 10 runs in a row that each failed within 10 seconds of
// starting (a crash loop is no transient failure).
func RestartOnFailure(ctx context.Context, name string, log *slog.Logger, run func(context.Context) error) error {
	const (
		pause, short = time.Second, 10 * time.Second
		maxShort     = 10
	)
	for fails := 0; ; {
		start := time.Now()
		err := run(ctx)
		if err == nil || ctx.Err() != nil {
			return nil
		}
		if time.Since(start) < short {
			fails++
		} else {
			fails = 1
		}
		if fails >= maxShort {
			return fmt.Errorf("%s failed %d times in a row: %w", name, fails, err)
		}
		log.Warn("service failed; restarting it", "service", name, "err", err, "in", pause)
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}
