package pubsub_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/pubsub"
	"github.com/heraldhq/herald/pubsub/pubsubtest"
)

type orderPlaced struct {
	ID    string `json:"id"`
	Total int    `json:"total"`
}

type orderCancelled struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

func jsonEvent(t *testing.T, typ, key string, v any) event.Event {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	e := event.New("/test", typ, data)
	e.Key, e.DataContentType = key, "application/json"
	return e
}

// TestOnDispatchesByType: one topic carries three event types; typed
// handlers get the two they are bound to, decoded, and the third is
// skipped (Outcome Skipped) under SkipUnknown, or dead-lettered with
// ErrNoHandler under DeadLetterUnknown.
func TestOnDispatchesByType(t *testing.T) {
	for _, policy := range []pubsub.UnknownType{pubsub.SkipUnknown, pubsub.DeadLetterUnknown} {
		t.Run(map[pubsub.UnknownType]string{pubsub.SkipUnknown: "skip", pubsub.DeadLetterUnknown: "dlq"}[policy], func(t *testing.T) {
			b := pubsubtest.New(t)
			topic := b.Topic("orders", 1)
			b.CreateTopic(topic+".dlq", 1)
			publish(t, pubsub.NewPublisher(b.Client()), topic,
				jsonEvent(t, "order.placed", "o1", orderPlaced{ID: "o1", Total: 42}),
				jsonEvent(t, "order.noted", "o1", map[string]string{"note": "fragile"}),
				jsonEvent(t, "order.cancelled", "o1", orderCancelled{ID: "o1", Reason: "changed mind"}))

			cfg := testConfig(b, pubsubtest.Group("orders"))
			cfg.UnknownType = policy
			r := newRouter(t, cfg)
			var mu sync.Mutex
			var got, outcomes []string
			r.Use(func(next pubsub.Handler) pubsub.Handler {
				return func(ctx context.Context, m *pubsub.Message) error {
					err := next(ctx, m)
					if err == nil {
						mu.Lock()
						outcomes = append(outcomes, m.Event.Type+":"+m.Outcome().String())
						mu.Unlock()
					}
					return err
				}
			})
			if err := pubsub.On(r, topic, "order.placed", func(_ context.Context, o orderPlaced) error {
				mu.Lock()
				defer mu.Unlock()
				got = append(got, fmt.Sprintf("placed %s %d", o.ID, o.Total))
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if err := pubsub.On(r, topic, "order.cancelled", func(_ context.Context, o orderCancelled) error {
				mu.Lock()
				defer mu.Unlock()
				got = append(got, "cancelled "+o.ID+" "+o.Reason)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			start(t, r)
			waitFor(t, 20*time.Second, "two typed events", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(got) == 2
			})
			if want := "placed o1 42|cancelled o1 changed mind"; strings.Join(got, "|") != want {
				t.Errorf("handled %q, want %q", strings.Join(got, "|"), want)
			}
			if policy == pubsub.DeadLetterUnknown {
				recs := readAll(t, b, topic+".dlq", 1)
				h := headerMap(recs[0])
				if h["ce_type"] != "order.noted" || !strings.Contains(h[pubsub.HeaderDLQError], "no handler") || h[pubsub.HeaderDLQAttempts] != "1" {
					t.Errorf("dead letter headers %v", h)
				}
				return
			}
			mu.Lock()
			defer mu.Unlock()
			want := "order.placed:handled|order.noted:skipped|order.cancelled:handled"
			if strings.Join(outcomes, "|") != want {
				t.Errorf("outcomes %q, want %q", strings.Join(outcomes, "|"), want)
			}
		})
	}
}

// TestOnRefusals: a type bound twice, a topic bound by Handle and On, and
// empty names are refused, and Run reports the refusals.
func TestOnRefusals(t *testing.T) {
	b := pubsubtest.New(t)
	r := newRouter(t, testConfig(b, "g"))
	h := func(context.Context, orderPlaced) error { return nil }
	if err := pubsub.On(r, "a", "t", h); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"same type":    pubsub.On(r, "a", "t", h),
		"handle after": r.Handle("a", func(context.Context, *pubsub.Message) error { return nil }),
		"empty type":   pubsub.On(r, "a", "", h),
		"nil handler":  pubsub.On[orderPlaced](r, "a", "u", nil),
	} {
		if err == nil {
			t.Errorf("%s: not refused", name)
		}
	}
	if err := r.Handle("b", func(context.Context, *pubsub.Message) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := pubsub.On(r, "b", "t", h); err == nil {
		t.Error("On for a Handle topic: not refused")
	}
	if err := r.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "the type has a handler") {
		t.Errorf("Run = %v, want the refusals", err)
	}
}
