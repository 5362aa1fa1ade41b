package eventstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/heraldhq/herald/event"
)

// Aggregate is an event-sourced aggregate: a state S folded from a
// stream's events, and commands C decided against it. Its methods load
// the state, decide, and append with the version they loaded as the
// expectation, retrying on a conflict.
type Aggregate[S, C any] struct {
	// Initial returns the state of a stream with no events; nil means S's
	// zero value.
	Initial func() S
	// Evolve folds one event into the state. An event it cannot read
	// (an unknown type, bad data) is an error: loading stops with it.
	Evolve func(S, Recorded) (S, error)
	// Decide returns the events a command produces against the state, or
	// the error that rejects it. No events means nothing to append.
	Decide func(S, C) ([]event.Event, error)
	// MaxRetries bounds the retries after a conflict; default 5.
	MaxRetries int

	// Snapshots, optional: every SnapshotEvery events Handle stores the
	// state encoded by Encode, tagged with SchemaVersion; Load starts from
	// the latest snapshot whose SchemaVersion matches (one of another
	// version is ignored, never decoded) and folds the events after it.
	SnapshotEvery int
	SchemaVersion int
	Encode        func(S) ([]byte, error)
	Decode        func([]byte) (S, error)
}

// Load returns the stream's current state and version (NoVersion if the
// stream has no events).
func (a *Aggregate[S, C]) Load(ctx context.Context, s Store, stream string) (S, int64, error) {
	st, v, _, err := a.load(ctx, s, stream, ReadOptions{}, true)
	return st, v, err
}

// LoadAt returns the state as of a version or a time: opts.Until and
// opts.Before bound the events folded (From, Direction and Max are
// ignored). Snapshots are not used.
func (a *Aggregate[S, C]) LoadAt(ctx context.Context, s Store, stream string, opts ReadOptions) (S, int64, error) {
	st, v, _, err := a.load(ctx, s, stream, opts, false)
	return st, v, err
}

const loadPage = 1000

// load folds the stream into a state; it also returns the version of
// the snapshot it started from (NoVersion if none).
func (a *Aggregate[S, C]) load(ctx context.Context, s Store, stream string, opts ReadOptions, snap bool) (S, int64, int64, error) {
	state, version, snapV, err := a.start(ctx, s, stream, snap)
	if err != nil {
		return state, version, snapV, err
	}
	for {
		o := ReadOptions{From: version + 1, Max: loadPage, Until: opts.Until, Before: opts.Before}
		recs, err := s.ReadStream(ctx, stream, o)
		if err != nil {
			return state, version, snapV, fmt.Errorf("eventstore: load %q: %w", stream, err)
		}
		for _, r := range recs {
			if state, err = a.Evolve(state, r); err != nil {
				return state, version, snapV, fmt.Errorf("eventstore: load %q: event %d (%s): %w", stream, r.Version, r.Type, err)
			}
			version = r.Version
		}
		if len(recs) < loadPage {
			return state, version, snapV, nil
		}
	}
}

func (a *Aggregate[S, C]) start(ctx context.Context, s Store, stream string, snap bool) (S, int64, int64, error) {
	var state S
	if a.Initial != nil {
		state = a.Initial()
	}
	if !snap || a.Decode == nil {
		return state, NoVersion, NoVersion, nil
	}
	sn, ok, err := s.LoadSnapshot(ctx, stream)
	if err != nil || !ok || sn.SchemaVersion != a.SchemaVersion {
		return state, NoVersion, NoVersion, err
	}
	st, err := a.Decode(sn.Data)
	if err != nil {
		return state, NoVersion, NoVersion, fmt.Errorf("eventstore: snapshot of %q at %d: %w", stream, sn.Version, err)
	}
	return st, sn.Version, sn.Version, nil
}

// Handle loads the stream, decides cmd and appends the events with the
// loaded version as the expectation. On a conflict it loads again and
// decides again, up to MaxRetries times. It returns the append's result
// (zero if Decide returned no events) and the new state.
func (a *Aggregate[S, C]) Handle(ctx context.Context, s Store, stream string, cmd C) (AppendResult, S, error) {
	retries := a.MaxRetries
	if retries <= 0 {
		retries = 5
	}
	for attempt := 0; ; attempt++ {
		res, st, err := a.try(ctx, s, stream, cmd)
		var conflict *ConflictError
		if errors.As(err, &conflict) && attempt < retries {
			continue
		}
		return res, st, err
	}
}

func (a *Aggregate[S, C]) try(ctx context.Context, s Store, stream string, cmd C) (AppendResult, S, error) {
	state, version, snapV, err := a.load(ctx, s, stream, ReadOptions{}, true)
	if err != nil {
		return AppendResult{}, state, err
	}
	evs, err := a.Decide(state, cmd)
	if err != nil || len(evs) == 0 {
		return AppendResult{}, state, err
	}
	expected := Exact(version)
	if version == NoVersion {
		expected = NoStream
	}
	res, err := s.Append(ctx, stream, expected, evs...)
	if err != nil {
		return res, state, err
	}
	for i, e := range evs {
		r := Recorded{Event: e, Stream: stream, Version: res.FirstVersion + int64(i), Position: res.FirstPosition + int64(i)}
		if state, err = a.Evolve(state, r); err != nil {
			return res, state, fmt.Errorf("eventstore: %q: evolve appended event %d: %w", stream, r.Version, err)
		}
	}
	return res, state, a.maybeSnapshot(ctx, s, stream, state, snapV, res.LastVersion)
}

// maybeSnapshot stores a snapshot once SnapshotEvery events have passed
// since the last one. A failure is returned but the append stands.
func (a *Aggregate[S, C]) maybeSnapshot(ctx context.Context, s Store, stream string, state S, snapV, version int64) error {
	if a.SnapshotEvery <= 0 || a.Encode == nil || version-snapV < int64(a.SnapshotEvery) {
		return nil
	}
	data, err := a.Encode(state)
	if err != nil {
		return fmt.Errorf("eventstore: snapshot of %q: encode: %w", stream, err)
	}
	return s.SaveSnapshot(ctx, Snapshot{Stream: stream, Version: version, SchemaVersion: a.SchemaVersion, Data: data})
}
