package outbox_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/pubsub/pubsubtest"
)

func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.Metric[0]
			return m.GetGauge().GetValue() + m.GetCounter().GetValue() + float64(m.GetHistogram().GetSampleCount())
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestRelayMetrics: five rows, relayed two per round: after the first
// round three are pending and the oldest has an age; at the end none is
// pending, the age is 0, five were published in three timed rounds.
func TestRelayMetrics(t *testing.T) {
	for name, mk := range backends(time.Minute) {
		t.Run(name, func(t *testing.T) {
			be := mk(t)
			b := pubsubtest.New(t)
			topic := b.Topic("relaymetrics", 1)
			write(t, be, topic, 5, 1)
			reg := prometheus.NewRegistry()
			mt, err := outbox.NewMetrics(reg)
			if err != nil {
				t.Fatal(err)
			}
			r, err := outbox.NewRelay(be.store, b.Client(), outbox.RelayConfig{BatchSize: 2, Metrics: mt})
			if err != nil {
				t.Fatal(err)
			}
			if n, err := r.RunOnce(context.Background()); err != nil || n != 2 {
				t.Fatalf("first round: %d, %v", n, err)
			}
			if p, age := gauge(t, reg, "herald_outbox_pending_rows"), gauge(t, reg, "herald_outbox_oldest_row_age_seconds"); p != 3 || age <= 0 || age > 60 {
				t.Errorf("after one round: pending %v, oldest age %v; want 3 and a few ms", p, age)
			}
			runUntilEmpty(t, r)
			for name, want := range map[string]float64{
				"herald_outbox_pending_rows":           0,
				"herald_outbox_oldest_row_age_seconds": 0,
				"herald_outbox_published_total":        5,
				"herald_outbox_publish_seconds":        3,
				"herald_outbox_publish_failed_total":   0,
			} {
				if got := gauge(t, reg, name); got != want {
					t.Errorf("%s = %v, want %v", name, got, want)
				}
			}
		})
	}
}
