package pubsub_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/pubsub"
	"github.com/heraldhq/herald/pubsub/dedup"
	"github.com/heraldhq/herald/pubsub/pubsubtest"
)

// metricValue sums the samples of a metric whose labels include want.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.Metric {
			for k, v := range want {
				if !hasLabel(m, k, v) {
					continue next
				}
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

func hasLabel(m *dto.Metric, k, v string) bool {
	for _, l := range m.Label {
		if l.GetName() == k && l.GetValue() == v {
			return true
		}
	}
	return false
}

// brokerLag is the group's lag on partition 0 of topic as the broker
// tells it: end offset minus committed offset.
func brokerLag(ctx context.Context, adm *kadm.Client, group, topic string) (int64, error) {
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return 0, err
	}
	end, _ := ends.Lookup(topic, 0)
	offs, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return 0, err
	}
	committed := int64(0)
	if o, ok := offs.Lookup(topic, 0); ok && o.At > 0 {
		committed = o.At
	}
	return end.Offset - committed, nil
}

// TestMetrics: 100 events, ten of them duplicates and one poison; the
// handler blocks at offset 50 for a while. Throughout, the lag gauge
// equals the lag the broker computes from the committed offset (50 while
// blocked, 0 at the end), and in_flight is 1 while blocked; at the end,
// duplicates count as deduplicated (not handled), the poison event as
// dead-lettered after a retry.
func TestMetrics(t *testing.T) {
	b := pubsubtest.New(t)
	topic := b.Topic("metrics", 1)
	b.CreateTopic(topic+".dlq", 1)
	var evs []event.Event
	for i := range 90 {
		e := seqEvent("k", i)
		if i == 70 {
			e.Data = []byte("poison")
		}
		evs = append(evs, e)
	}
	for i := range 10 {
		evs = append(evs, evs[i]) // redelivered duplicates
	}
	publish(t, pubsub.NewPublisher(b.Client()), topic, evs...)

	reg := prometheus.NewRegistry()
	mt, err := pubsub.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(b, pubsubtest.Group("metrics"))
	cfg.Metrics, cfg.MaxAttempts = mt, 2
	r := newRouter(t, cfg)
	r.Use(dedup.Middleware(dedup.NewMemory(time.Hour)))
	release := make(chan struct{})
	r.Handle(topic, func(ctx context.Context, m *pubsub.Message) error {
		if m.Record.Offset == 50 {
			<-release
		}
		if string(m.Event.Data) == "poison" {
			return errors.New("poison")
		}
		return nil
	})
	start(t, r)

	adm := kadm.NewClient(b.Client())
	ctx := context.Background()
	lagIs := func(want int64) func() error {
		return func() error {
			got, err := brokerLag(ctx, adm, cfg.Group, topic)
			if err != nil {
				return err
			}
			gauge := metricValue(t, reg, "herald_pubsub_lag", map[string]string{"topic": topic, "partition": "0"})
			if got != want || gauge != float64(got) {
				return fmt.Errorf("broker lag %d, gauge %v; want both %d", got, gauge, want)
			}
			return nil
		}
	}
	testenv.CheckFor(t, 20*time.Second, lagIs(50))
	if n := metricValue(t, reg, "herald_pubsub_in_flight", nil); n != 1 {
		t.Errorf("in_flight %v while a handler blocks, want 1", n)
	}
	close(release)
	testenv.CheckFor(t, 20*time.Second, lagIs(0))
	testenv.CheckFor(t, 5*time.Second, func() error {
		if n := metricValue(t, reg, "herald_pubsub_deduplicated_total", nil); n != 10 {
			return fmt.Errorf("deduplicated %v, want 10", n)
		}
		return nil
	})
	for name, want := range map[string]float64{
		"herald_pubsub_handled_total":       89,
		"herald_pubsub_dead_lettered_total": 1,
		"herald_pubsub_failed_total":        2,
		"herald_pubsub_retried_total":       1,
		"herald_pubsub_in_flight":           0,
		"herald_pubsub_skipped_total":       0,
	} {
		if got := metricValue(t, reg, name, nil); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}
