package server

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/metrics"
)

// Metrics returns a Prometheus registry of its own with the broker's
// metrics (internal/metrics) and extra collectors (the schema
// registry's). Call it after Start: the request and connection metrics
// come from the listener.
func (s *Server) Metrics(extra ...prometheus.Collector) (*prometheus.Registry, error) {
	s.mu.Lock()
	k := s.k
	s.mu.Unlock()
	if k == nil {
		return nil, errors.New("server: Metrics before Start")
	}
	return metrics.NewRegistry(metrics.Sources{Broker: s.b, Kafka: k, Groups: s.g}, extra...)
}
