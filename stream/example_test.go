package stream_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/heraldtest"
	"github.com/heraldhq/herald/stream"
)

// exampleRun starts a broker with topics of one partition, writes input
// to topic in, runs top until n records are on topic out, prints them
// with show, and stops.
func exampleRun(top *stream.Topology, in string, input []*kgo.Record, out string, n int, show func(*kgo.Record)) {
	b, err := heraldtest.Start(heraldtest.WithDurability("none"), heraldtest.WithTopics(1, in, out))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()
	state, _ := os.MkdirTemp("", "stream-example-")
	defer os.RemoveAll(state)
	cl, _ := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.DefaultProduceTopic(in), kgo.ConsumeTopics(out))
	defer cl.Close()
	if err := cl.ProduceSync(context.Background(), input...).FirstErr(); err != nil {
		fmt.Println(err)
		return
	}
	app, err := stream.New(top, stream.Config{AppID: "example", Brokers: []string{b.Addr()}, StateDir: state,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	for seen := 0; seen < n && ctx.Err() == nil; {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { show(r); seen++ })
	}
	cancel()
	if err := <-done; err != nil {
		fmt.Println(err)
	}
}

// at is a record of key and JSON value at minute m (plus s seconds) of a
// fixed day.
func at(key string, v any, m, s int) *kgo.Record {
	b, _ := stream.JSON[any]().Encode(v)
	return &kgo.Record{Key: []byte(key), Value: b, Timestamp: time.Date(2026, 3, 1, 12, m, s, 0, time.UTC)}
}

// Reading is a building's sensor reading.
type Reading struct {
	Sensor  string  `json:"sensor"`
	Smoke   bool    `json:"smoke"`
	Celsius float64 `json:"celsius"`
}

// FireAlert is raised when smoke and a temperature spike are seen in one
// building within 2 minutes.
type FireAlert struct {
	Building string    `json:"building"`
	Smoke    string    `json:"smokeSensor"`
	Celsius  float64   `json:"celsius"`
	At       time.Time `json:"at"`
}

// The fire example: per building (the record key), smoke followed by a
// temperature spike within 2 minutes is a fire.
func Example_fireAlert() {
	top := stream.NewTopology()
	readings := stream.Source(top, "readings", stream.String(), stream.JSON[Reading]())
	fire := stream.Begin("smoke", func(r Reading, _ stream.Match[Reading]) bool { return r.Smoke }).
		FollowedBy("spike", func(r Reading, _ stream.Match[Reading]) bool { return r.Celsius > 60 }).
		Within(2 * time.Minute).
		AfterMatch(stream.SkipPastLastEvent)
	matches := stream.Detect(stream.GroupByKey(readings, stream.String(), stream.JSON[Reading]()), fire, "fire")
	stream.MapValues(matches, func(building string, m stream.Match[Reading]) FireAlert {
		smoke, _ := m.First("smoke")
		spike, _ := m.First("spike")
		return FireAlert{Building: building, Smoke: smoke.Sensor, Celsius: spike.Celsius, At: m.End}
	}).To("alerts", stream.String(), stream.JSON[FireAlert]())

	input := []*kgo.Record{
		at("hall-a", Reading{Sensor: "a-smoke-1", Smoke: true}, 0, 0),
		at("hall-b", Reading{Sensor: "b-smoke-1", Smoke: true}, 0, 10),
		at("hall-a", Reading{Sensor: "a-temp-1", Celsius: 21}, 0, 30),
		at("hall-a", Reading{Sensor: "a-temp-2", Celsius: 74}, 1, 30), // 90s after smoke: fire
		at("hall-c", Reading{Sensor: "c-temp-1", Celsius: 80}, 2, 0),  // a spike without smoke
		at("hall-b", Reading{Sensor: "b-temp-1", Celsius: 90}, 3, 0),  // 170s after smoke: too late
		at("hall-d", Reading{Sensor: "d-smoke-1", Smoke: true}, 4, 0),
		at("hall-d", Reading{Sensor: "d-temp-1", Celsius: 65}, 5, 0),
	}
	exampleRun(top, "readings", input, "alerts", 2, func(r *kgo.Record) {
		a, _ := stream.JSON[FireAlert]().Decode(r.Value)
		fmt.Printf("fire in %s: smoke from %s, %.0f°C at %s\n", a.Building, a.Smoke, a.Celsius, a.At.UTC().Format("15:04:05"))
	})
	// Output:
	// fire in hall-a: smoke from a-smoke-1, 74°C at 12:01:30
	// fire in hall-d: smoke from d-smoke-1, 65°C at 12:05:00
}

// OrderEvent is an order's lifecycle event.
type OrderEvent struct {
	Type   string `json:"type"` // placed, paid
	Amount int    `json:"amount"`
}

// Orders placed and not paid within 15 minutes (by event time): a
// negation that matches when its time passes.
func Example_orderWithoutPayment() {
	top := stream.NewTopology()
	events := stream.Source(top, "orders", stream.String(), stream.JSON[OrderEvent]())
	unpaid := stream.Begin("placed", func(e OrderEvent, _ stream.Match[OrderEvent]) bool { return e.Type == "placed" }).
		NotFollowedBy("paid", func(e OrderEvent, _ stream.Match[OrderEvent]) bool { return e.Type == "paid" }).
		Within(15 * time.Minute)
	stream.MapValues(stream.Detect(stream.GroupByKey(events, stream.String(), stream.JSON[OrderEvent]()), unpaid, "unpaid"),
		func(_ string, m stream.Match[OrderEvent]) string {
			placed, _ := m.First("placed")
			return fmt.Sprintf("%d unpaid since %s (deadline %s)", placed.Amount, m.Start.UTC().Format("15:04"), m.End.UTC().Format("15:04"))
		}).To("unpaid", stream.String(), stream.String())

	input := []*kgo.Record{
		at("o-1", OrderEvent{Type: "placed", Amount: 30}, 0, 0),
		at("o-2", OrderEvent{Type: "placed", Amount: 45}, 1, 0),
		at("o-3", OrderEvent{Type: "placed", Amount: 12}, 2, 0),
		at("o-1", OrderEvent{Type: "paid"}, 5, 0),  // in time
		at("o-3", OrderEvent{Type: "paid"}, 20, 0), // 18 minutes: too late
		at("o-4", OrderEvent{Type: "placed", Amount: 99}, 40, 0),
	}
	exampleRun(top, "orders", input, "unpaid", 2, func(r *kgo.Record) {
		fmt.Printf("%s: %s\n", r.Key, r.Value)
	})
	// Output:
	// o-2: 45 unpaid since 12:01 (deadline 12:16)
	// o-3: 12 unpaid since 12:02 (deadline 12:17)
}
