package eventstore

import (
	"context"
	"fmt"

	"github.com/heraldhq/herald/event"
)

// Upcaster turns an event of an old type or schema version into the next
// one. It must change Type or SchemaVersion.
type Upcaster func(event.Event) (event.Event, error)

type upKey struct{ typ, schemaVersion string }

// Upcasters is a set of registered upcasters, applied on read by a store
// that WithUpcasters wraps; stored events are never rewritten. Register
// everything before use: the set is not safe for concurrent Register.
type Upcasters struct {
	m map[upKey]Upcaster
}

// maxUpcasts bounds the chain of upcasts applied to one event.
const maxUpcasts = 64

// Register adds f for events of type typ with schema version
// schemaVersion ("" for events without one).
func (u *Upcasters) Register(typ, schemaVersion string, f Upcaster) {
	if u.m == nil {
		u.m = map[upKey]Upcaster{}
	}
	u.m[upKey{typ, schemaVersion}] = f
}

// Upcast applies the registered upcasters to e until none matches.
func (u *Upcasters) Upcast(e event.Event) (event.Event, error) {
	for range maxUpcasts {
		k := upKey{e.Type, e.SchemaVersion}
		f, ok := u.m[k]
		if !ok {
			return e, nil
		}
		next, err := f(e)
		if err != nil {
			return e, fmt.Errorf("eventstore: upcast %s (schema %q) of %s: %w", e.Type, e.SchemaVersion, e.ID, err)
		}
		if next.Type == e.Type && next.SchemaVersion == e.SchemaVersion {
			return e, fmt.Errorf("eventstore: upcaster of %s (schema %q) changed neither type nor schema version", e.Type, e.SchemaVersion)
		}
		e = next
	}
	return e, fmt.Errorf("eventstore: more than %d upcasts of %s", maxUpcasts, e.ID)
}

// WithUpcasters returns s with u applied to every event it reads.
func WithUpcasters(s Store, u *Upcasters) Store { return &upcasting{Store: s, u: u} }

type upcasting struct {
	Store
	u *Upcasters
}

func (s *upcasting) ReadStream(ctx context.Context, stream string, o ReadOptions) ([]Recorded, error) {
	recs, err := s.Store.ReadStream(ctx, stream, o)
	if err != nil {
		return nil, err
	}
	return s.upcast(recs)
}

func (s *upcasting) ReadAll(ctx context.Context, after int64, max int) ([]Recorded, error) {
	recs, err := s.Store.ReadAll(ctx, after, max)
	if err != nil {
		return nil, err
	}
	return s.upcast(recs)
}

func (s *upcasting) upcast(recs []Recorded) ([]Recorded, error) {
	for i := range recs {
		e, err := s.u.Upcast(recs[i].Event)
		if err != nil {
			return nil, fmt.Errorf("%s at position %d: %w", recs[i].Stream, recs[i].Position, err)
		}
		recs[i].Event = e
	}
	return recs, nil
}

// Notify passes the wrapped store's Notifier through.
func (s *upcasting) Notify() <-chan struct{} {
	if n, ok := s.Store.(Notifier); ok {
		return n.Notify()
	}
	return nil
}
