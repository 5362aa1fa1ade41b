package broker

import (
	"errors"
	"io/fs"
	"sync/atomic"
	"syscall"

	"github.com/twmb/franz-go/pkg/kerr"

	hlog "github.com/heraldhq/herald/internal/log"
)

// storageHealth is a partition's record of failed writes, kept so that a
// full disk is logged once per partition (not per request) and so that
// it can be exported as a metric.
type storageHealth struct {
	// failing is set by the first failed write and cleared by the next
	// write that succeeds; each transition is logged once.
	failing atomic.Bool
	// failures counts writes that failed with a storage error.
	failures atomic.Int64
}

// StorageHealth reports whether the partition's last write failed with a
// storage error (a full disk, an I/O error) and how many writes have
// failed so since the broker started.
func (p *Partition) StorageHealth() (failing bool, failures int64) {
	return p.storage.failing.Load(), p.storage.failures.Load()
}

// IsStorageError reports whether err is the disk's doing: an OS error
// from a file operation (ENOSPC, EIO, ...) or a log that failed after one.
func IsStorageError(err error) bool {
	var errno syscall.Errno
	var pe *fs.PathError
	return errors.Is(err, hlog.ErrFailed) || errors.As(err, &errno) || errors.As(err, &pe)
}

// storageErr is the error a client gets for a storage error:
// KAFKA_STORAGE_ERROR (retriable, as Kafka's) with the cause but never the
// server's file paths, which the underlying error carries.
func storageErr(err error) error {
	return &Error{Kafka: kerr.KafkaStorageError, Message: storageCause(err), cause: err}
}

func storageCause(err error) string {
	var errno syscall.Errno
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return "no space left on the broker's disk"
	case errors.Is(err, hlog.ErrFailed):
		return "the partition's log failed after an I/O error and refuses writes until the broker restarts"
	case errors.As(err, &errno):
		return "I/O error on the broker's disk: " + errno.Error()
	}
	return "I/O error on the broker's disk"
}

// storageFailed records that a write to the partition failed with err, a
// storage error, and returns the error for the client (KAFKA_STORAGE_ERROR).
// The first failure after a success is logged at ERROR with the free
// space of the partition's filesystem; the ones after it are only counted.
func (p *Partition) storageFailed(err error) error {
	p.storage.failures.Add(1)
	if p.storage.failing.CompareAndSwap(false, true) {
		p.logger.Error("partition storage error: writes answer KAFKA_STORAGE_ERROR until one succeeds",
			"topic", p.Topic.Name, "partition", p.Index, "free_bytes", freeBytes(p.log.Dir()), "err", err)
	}
	return storageErr(err)
}

// storageOK records a successful write: a partition whose writes were
// failing logs its recovery once, at INFO. It costs an atomic load.
func (p *Partition) storageOK() {
	if p.storage.failing.Load() && p.storage.failing.CompareAndSwap(true, false) {
		p.logger.Info("partition storage recovered: writes succeed again",
			"topic", p.Topic.Name, "partition", p.Index, "free_bytes", freeBytes(p.log.Dir()))
	}
}
