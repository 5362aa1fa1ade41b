package system_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/examples/orders/shop"
	"github.com/heraldhq/herald/examples/orders/system"
)

// checkSchemaEvolution: order.placed evolved during the run. The
// registry has the subject's two versions (v2 was registered as a
// compatible new version: the registry refuses an incompatible one); the
// orders topic has the first v1After orders in v1 and the rest in v2;
// the services built for v1 handled both (every order ended as planted,
// which checkInvariants checks; here: orders of both versions shipped);
// and a consumer with the v2 reader schema reads each v2 event's channel
// and the default for each v1 event.
func checkSchemaEvolution(t *testing.T, ctx context.Context, sys *system.System, placed []system.Placed, status map[string]string, v1After int) {
	t.Helper()
	rcl, err := sr.NewClient(sr.URLs(sys.RegistryURL))
	if err != nil {
		t.Fatal(err)
	}
	subject := shop.Subject(shop.TopicOrders, shop.OrderPlacedType)
	versions, err := rcl.SubjectVersions(ctx, subject)
	if err != nil || !slices.Equal(versions, []int{1, 2}) {
		t.Fatalf("subject %s has versions %v (%v), want [1 2]", subject, versions, err)
	}
	byID := map[string]system.Placed{}
	for _, p := range placed {
		byID[p.OrderID] = p
	}
	reader := shop.OrderPlacedV2Reader(rcl)
	count := map[string]int{}   // by schema version
	shipped := map[string]int{} // by schema version
	for _, e := range placedEvents(t, ctx, sys, len(placed)) {
		v2, err := event.Decode[shop.OrderPlacedV2](ctx, reader, e)
		if err != nil {
			t.Fatalf("v2 reader: %v", err)
		}
		p := byID[v2.OrderID]
		count[e.SchemaVersion]++
		if status[p.OrderID] == shop.StatusShipped {
			shipped[e.SchemaVersion]++
		}
		want := shop.DefaultChannel // v1 has no channel: a v2 reader sees the default
		if e.SchemaVersion == "2" {
			want = p.Channel
		}
		if v2.Channel != want || v2.Total != p.Total {
			t.Errorf("order %s (v%s): the v2 reader reads channel %q total %d, want %q and %d", p.OrderID, e.SchemaVersion, v2.Channel, v2.Total, want, p.Total)
		}
	}
	if count["1"] != v1After || count["2"] != len(placed)-v1After || shipped["1"] == 0 || shipped["2"] == 0 {
		t.Errorf("order.placed by schema version: %v (shipped %v), want %d in v1 and %d in v2, of both some shipped",
			count, shipped, v1After, len(placed)-v1After)
	}
}

// placedEvents reads the n order.placed events of the orders topic.
func placedEvents(t *testing.T, ctx context.Context, sys *system.System, n int) []event.Event {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(sys.Brokers...), kgo.ConsumeTopics(shop.TopicOrders),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []event.Event
	deadline := time.Now().Add(time.Minute)
	for len(out) < n {
		if time.Now().After(deadline) {
			t.Fatalf("read %d order.placed events of %d", len(out), n)
		}
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		if err := fs.Err0(); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if e, err := event.FromRecord(r); err == nil && e.Type == shop.OrderPlacedType {
				out = append(out, e)
			}
		})
	}
	return out
}

// TestProtobufInConsole: shipment.shipped is Protobuf, registered in the
// registry; the services encode and decode it, and the web console
// decodes it back to JSON through the registry.
func TestProtobufInConsole(t *testing.T) {
	ctx := context.Background()
	sys, err := system.Start(ctx, system.Config{Durability: "none", DataDir: t.TempDir(), ConsoleAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sys.Close() })
	rcl, err := sr.NewClient(sr.URLs(sys.RegistryURL))
	if err != nil {
		t.Fatal(err)
	}
	ss, err := rcl.SchemaByVersion(ctx, shop.Subject(shop.TopicShipping, shop.ShipmentShippedType), -1)
	if err != nil || ss.Type != sr.TypeProtobuf {
		t.Fatalf("shipment.shipped's schema: %+v %v, want Protobuf", ss, err)
	}
	code, m := call(t, "POST", sys.OrdersURL+"/orders", `{"customer":"c-9","card":"4242424242424242","items":[{"sku":"mug","qty":1}]}`)
	if code != http.StatusCreated {
		t.Fatalf("place: %d %v", code, m)
	}
	id := m["order_id"].(string)
	poll(t, time.Minute, func() error { // orders decoded the Protobuf shipment.shipped
		if v := viewOf(t, sys, id); v.Status != shop.StatusShipped {
			return fmt.Errorf("order is %s", v.Status)
		}
		return nil
	})
	var recs struct {
		Records []struct {
			Value struct {
				Format, Data string
				SchemaID     int `json:"schema_id"`
			}
		}
	}
	resp, err := http.Get(sys.ConsoleURL + "/topics/" + shop.TopicShipping + "/records?from=beginning")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&recs); err != nil || len(recs.Records) != 1 {
		t.Fatalf("console records: %+v %v, want the one shipment", recs, err)
	}
	v := recs.Records[0].Value
	var data map[string]string
	if err := json.Unmarshal([]byte(v.Data), &data); err != nil || v.Format != "protobuf" || v.SchemaID != ss.ID ||
		data["order_id"] != id && data["orderId"] != id {
		t.Errorf("console decodes the shipment as %+v (%v), want Protobuf JSON of order %s", v, err, id)
	}
}

// TestStreamAppsInConsole: the demo's console draws the topologies of the
// fraud and analytics stream apps, which serve them over HTTP.
func TestStreamAppsInConsole(t *testing.T) {
	sys, err := system.Start(context.Background(), system.Config{Durability: "none", DataDir: t.TempDir(), ConsoleAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sys.Close() })
	list := getBody(t, sys.ConsoleURL+"/streams")
	for _, app := range []string{"fraud", "analytics"} {
		if !strings.Contains(list, `href="/streams/`+app+`"`) {
			t.Fatalf("/streams does not link %s:\n%s", app, list)
		}
	}
	for app, store := range map[string]string{"fraud": "fraud-", "analytics": "analytics-"} {
		page := getBody(t, sys.ConsoleURL+"/streams/"+app)
		if !strings.Contains(page, "<svg") || !strings.Contains(page, `data-id="`+shop.TopicOrders+`"`) ||
			!strings.Contains(page, store) || strings.Contains(page, `id="stream-error"`) {
			t.Errorf("/streams/%s does not draw its topology:\n%s", app, page)
		}
	}
}
