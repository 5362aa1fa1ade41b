//go:build !unix

package broker

import "log/slog"

// RaiseFileLimit does nothing where there is no RLIMIT_NOFILE.
func RaiseFileLimit(*slog.Logger) {}

func fileLimit() uint64 { return 0 }
