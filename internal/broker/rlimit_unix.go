//go:build unix

package broker

import (
	"log/slog"
	"math"

	"golang.org/x/sys/unix"
)

// RaiseFileLimit raises the process's soft RLIMIT_NOFILE to its hard limit
// and logs both, before and after. Every segment file, connection and
// internal file is a descriptor; the common soft default of 1,024 is far
// below what the hard limit usually allows. A failure is logged, not
// returned: the broker runs within the limit it has (see
// Config.MaxOpenFiles).
func RaiseFileLimit(logger *slog.Logger) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		logger.Warn("reading the open file limit (RLIMIT_NOFILE)", "err", err)
		return
	}
	soft := lim.Cur
	if lim.Cur < lim.Max {
		raised := lim
		raised.Cur = lim.Max
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &raised); err != nil {
			logger.Warn("raising the open file limit (RLIMIT_NOFILE) to its hard limit",
				"soft", limitAttr(lim.Cur), "hard", limitAttr(lim.Max), "err", err)
			return
		}
		lim = raised
	}
	logger.Info("open file limit (RLIMIT_NOFILE)", "soft_before", limitAttr(soft),
		"soft", limitAttr(lim.Cur), "hard", limitAttr(lim.Max))
}

// fileLimit is the soft RLIMIT_NOFILE, or 0 when unknown.
func fileLimit() uint64 {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	return uint64(lim.Cur) //nolint:unconvert // int64 on some platforms
}

func limitAttr(v uint64) any {
	if v == unix.RLIM_INFINITY || v > math.MaxInt64 {
		return "unlimited"
	}
	return v
}
