package eventstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/heraldhq/herald/event"
)

// ExpectedVersion is what Append expects of a stream before it writes:
// Any, NoStream, StreamExists, or an exact version (0 or more: the version
// of the stream's last event).
type ExpectedVersion int64

// The expectations that are not an exact version.
const (
	// Any appends whatever the stream's state.
	Any ExpectedVersion = -1
	// NoStream appends only to a stream with no events.
	NoStream ExpectedVersion = -2
	// StreamExists appends only to a stream with at least one event.
	StreamExists ExpectedVersion = -3
)

// Exact returns the expectation that the stream's last event has version v.
func Exact(v int64) ExpectedVersion { return ExpectedVersion(v) }

func (e ExpectedVersion) String() string {
	switch e {
	case Any:
		return "any"
	case NoStream:
		return "no stream"
	case StreamExists:
		return "stream exists"
	}
	return fmt.Sprintf("version %d", int64(e))
}

// Check reports whether a stream whose last version is actual (-1 for a
// stream with no events) meets e.
func (e ExpectedVersion) Check(actual int64) bool {
	switch {
	case e == Any:
		return true
	case e == NoStream:
		return actual < 0
	case e == StreamExists:
		return actual >= 0
	case e < 0:
		return false
	}
	return int64(e) == actual
}

// NoVersion is the version of a stream that has no events.
const NoVersion int64 = -1

// Recorded is an event as the store holds it.
type Recorded struct {
	event.Event
	Stream   string    // the stream it belongs to
	Version  int64     // its place in the stream, from 0
	Position int64     // its place in $all, from 1, in commit order
	Recorded time.Time // when the store committed it
}

// AppendResult says where an append put its events.
type AppendResult struct {
	Stream string
	// FirstVersion and LastVersion are the versions of the appended
	// events; NextExpected is LastVersion.
	FirstVersion, LastVersion int64
	// FirstPosition and LastPosition are their positions in $all.
	FirstPosition, LastPosition int64
	// Duplicate is true when every event id was already in the stream:
	// nothing was written and the result is the original append's.
	Duplicate bool
}

// StreamAppend is one stream's part of a multi-stream append.
type StreamAppend struct {
	Stream   string
	Expected ExpectedVersion
	Events   []event.Event
}

// Direction is the order of a stream read.
type Direction int

// The directions of a stream read.
const (
	Forward Direction = iota
	Backward
)

// ReadOptions select the events of a stream read.
type ReadOptions struct {
	// From is the first version read: forward reads go up from it,
	// backward reads go down from it (a negative From: from the end).
	From      int64
	Direction Direction
	// Max bounds the number of events returned; 0 means no bound.
	Max int
	// Until, when above 0, drops versions from Until on: the stream as it
	// was at version Until-1.
	Until int64
	// Before, when not zero, drops events recorded at or after it: the
	// stream as it was at that time (a temporal query).
	Before time.Time
}

// StreamInfo is a stream's state.
type StreamInfo struct {
	Stream  string
	Version int64 // the last event's version; NoVersion if it has none
	Deleted bool  // soft-deleted: reads see nothing, an append starts it again
	Meta    StreamMeta
}

// StreamMeta bounds what reads of a stream return. Events outside the
// bounds are hidden from reads, not removed, and versions never change.
type StreamMeta struct {
	MaxCount       int64         // keep the last MaxCount events; 0 means all
	MaxAge         time.Duration // keep events recorded within MaxAge; 0 means all
	TruncateBefore int64         // hide versions below it; 0 means none
}

// Snapshot is a stream's folded state at a version.
type Snapshot struct {
	Stream string
	// Version is the last event version the state covers.
	Version int64
	// SchemaVersion is the version of the state's encoding; a loader that
	// expects another ignores the snapshot.
	SchemaVersion int
	Data          []byte
}

// TxHook runs inside an append's SQL transaction, after the events are
// written and before the commit; its error rolls the append back. Inline
// projections and the outbox use it.
type TxHook func(ctx context.Context, tx *sql.Tx, recs []Recorded) error

// Store is an event store.
//
// Implementations are safe for concurrent use. Returned slices belong to
// the caller. Every method takes a context; when it is cancelled the call
// returns its error and an append has then either fully happened or not at
// all (a retry with the same event ids is safe: see Append).
type Store interface {
	// Append writes evs at the end of stream atomically if the stream
	// meets expected, else it returns a *ConflictError. Appending events
	// whose ids are all already in the stream writes nothing and returns
	// the original result with Duplicate set; a mix of old and new ids is
	// ErrPartialDuplicate.
	Append(ctx context.Context, stream string, expected ExpectedVersion, evs ...event.Event) (AppendResult, error)
	// AppendMulti appends to several streams in one transaction: all or
	// none. Results are in the order of appends.
	AppendMulti(ctx context.Context, appends ...StreamAppend) ([]AppendResult, error)
	// ReadStream reads a stream's events. A stream with no events, or
	// none left visible, reads as empty; a hard-deleted stream is
	// ErrStreamDeleted.
	ReadStream(ctx context.Context, stream string, opts ReadOptions) ([]Recorded, error)
	// ReadAll reads up to max events of all streams with positions after
	// after, in position order (commit order). A reader that keeps the
	// last position it saw never misses an event committed later. It
	// hides what the streams' bounds (StreamMeta, soft deletes) hide from
	// ReadStream, so positions may skip those; max counts visible events.
	ReadAll(ctx context.Context, after int64, max int) ([]Recorded, error)
	// Head returns the position of the last committed event (0 if none).
	Head(ctx context.Context) (int64, error)
	// Stream returns a stream's state; an unknown stream has Version
	// NoVersion.
	Stream(ctx context.Context, stream string) (StreamInfo, error)
	// SetMeta sets a stream's read bounds.
	SetMeta(ctx context.Context, stream string, meta StreamMeta) error
	// Delete soft-deletes a stream (hard=false): its events are hidden
	// and an append starts it again after the last version. A hard delete
	// removes its events and leaves a tombstone: reads and appends then
	// return ErrStreamDeleted.
	Delete(ctx context.Context, stream string, hard bool) error
	// SaveSnapshot stores s as the stream's latest snapshot.
	SaveSnapshot(ctx context.Context, s Snapshot) error
	// LoadSnapshot returns the stream's latest snapshot; ok is false if
	// there is none.
	LoadSnapshot(ctx context.Context, stream string) (s Snapshot, ok bool, err error)
}

// Errors of the event store.
var (
	// ErrStreamDeleted: the stream was hard-deleted.
	ErrStreamDeleted = errors.New("eventstore: stream is deleted")
	// ErrPartialDuplicate: some but not all of an append's event ids are
	// already in the stream.
	ErrPartialDuplicate = errors.New("eventstore: some event ids are already in the stream, some are not")
	// ErrTooLarge: an event's data is over the store's size limit.
	ErrTooLarge = errors.New("eventstore: event over the size limit")
	// ErrBadStream: a stream name is empty or too long.
	ErrBadStream = errors.New("eventstore: bad stream name")
)

// ConflictError is Append's answer when the stream does not meet the
// expected version. Actual is the stream's version (NoVersion if empty).
type ConflictError struct {
	Stream   string
	Expected ExpectedVersion
	Actual   int64
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("eventstore: stream %q: expected %s, actual version %d", e.Stream, e.Expected, e.Actual)
}

// MaxStreamName is the longest stream name, in bytes.
const MaxStreamName = 200

// CheckStream returns ErrBadStream, wrapped, for a name that is empty,
// too long, or "$all".
func CheckStream(name string) error {
	if name == "" || len(name) > MaxStreamName || name == "$all" {
		return fmt.Errorf("%w: %q", ErrBadStream, name)
	}
	return nil
}
