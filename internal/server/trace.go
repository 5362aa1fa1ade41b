package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/heraldhq/herald/console"
	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/corrindex"
)

// openIndex opens the correlation index in the data dir. The index is
// derived data: one that does not open (damaged) is removed and built
// again from the logs; if even that fails the server runs without it
// (the console's trace page says so).
func (s *Server) openIndex() *corrindex.Index {
	if !s.cfg.CorrelationIndex {
		return nil
	}
	cfg := corrindex.Config{Dir: filepath.Join(s.cfg.DataDir, broker.CorrelationIndexDir), Broker: s.b, Logger: s.logger}
	x, err := corrindex.Open(cfg)
	if err == nil {
		return x
	}
	s.logger.Warn("correlation index does not open; rebuilding it from the logs", "dir", cfg.Dir, "err", err)
	if rerr := os.RemoveAll(cfg.Dir); rerr != nil {
		s.logger.Error("correlation index: cannot remove it; flow traces are off", "err", rerr)
		return nil
	}
	if x, err = corrindex.Open(cfg); err != nil {
		s.logger.Error("correlation index: cannot rebuild it; flow traces are off", "err", err)
		return nil
	}
	return x
}

// ErrNoIndex means the server runs without its correlation index.
var ErrNoIndex = errors.New("the correlation index is off (server.Config.CorrelationIndex)")

// Trace returns the events of the flow id names (a correlation id or any
// of its events' ids) from the correlation index; corrindex.ErrNotFound
// when there are none.
func (s *Server) Trace(ctx context.Context, id string) ([]corrindex.Event, error) {
	s.mu.Lock()
	x := s.index
	s.mu.Unlock()
	if x == nil {
		return nil, ErrNoIndex
	}
	return x.Trace(ctx, id)
}

// Tracer is the correlation index as the console's flow trace source.
func (s *Server) Tracer() console.Tracer { return tracer{s} }

type tracer struct{ s *Server }

func (t tracer) Trace(ctx context.Context, id string) ([]console.TraceEvent, error) {
	evs, err := t.s.Trace(ctx, id)
	if errors.Is(err, corrindex.ErrNotFound) {
		return nil, fmt.Errorf("%w: %q", console.ErrFlowNotFound, id)
	}
	if err != nil {
		return nil, err
	}
	out := make([]console.TraceEvent, len(evs))
	for i, e := range evs {
		out[i] = console.TraceEvent{Topic: e.Topic, Partition: e.Partition, Offset: e.Offset, ID: e.ID, Type: e.Type,
			Source: e.Source, CorrelationID: e.CorrelationID, CausationID: e.CausationID, Time: e.Time}
	}
	return out, nil
}
