package srcodec_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/event/srcodec"
	"github.com/heraldhq/herald/heraldtest"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/registry"
	"github.com/heraldhq/herald/registry/protobuf"
)

// newRegistry starts a registry on HERALD_TEST_BROKERS, an in-memory
// kfake cluster (HERALD_TEST_KFAKE=N) or Herald's broker (the default),
// and returns an sr client for it and its URL.
func newRegistry(t *testing.T) (*sr.Client, string) {
	t.Helper()
	brokers := testenv.Brokers(t).Seeds
	if brokers == nil {
		brokers = []string{heraldtest.NewBroker(t, heraldtest.WithDurability("none")).Addr()}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic := "_schemas_srcodec_" + strings.ReplaceAll(t.Name(), "/", "_") + time.Now().Format("150405.000000")
	srv, err := registry.New(ctx, registry.Config{Brokers: brokers, Topic: topic})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); srv.Close() })
	cl, err := sr.NewClient(sr.URLs(hs.URL))
	if err != nil {
		t.Fatal(err)
	}
	return cl, hs.URL
}

type order struct {
	ID  string `avro:"id" json:"id"`
	Qty int64  `avro:"qty" json:"qty"`
}

const orderAvro = `{"type":"record","name":"Order","fields":[{"name":"id","type":"string"},{"name":"qty","type":"long"}]}`

// orderAvro2 adds a field with a default: backward compatible.
const orderAvro2 = `{"type":"record","name":"Order","fields":[{"name":"id","type":"string"},{"name":"qty","type":"long"},{"name":"note","type":"string","default":""}]}`

const orderJSON = `{"type":"object","properties":{"id":{"type":"string"},"qty":{"type":"integer","minimum":1}},"required":["id"]}`

// roundTrip encodes in as an event, sends it through a Kafka record, and
// decodes it with a codec that has seen no schema.
func roundTrip(t *testing.T, enc, dec event.Codec, topic string, in any, out any) event.Event {
	t.Helper()
	ctx := context.Background()
	e, err := event.Encode(ctx, enc, topic, "/shop", "order.placed", in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := event.FromRecord(e.Record(topic))
	if err != nil {
		t.Fatal(err)
	}
	if err := dec.Decode(ctx, got, out); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestAvroAndJSONSchema(t *testing.T) {
	cl, _ := newRegistry(t)
	tests := []struct {
		name, topic string
		schema      sr.Schema
		contentType string
	}{
		{"avro", "orders-avro", sr.Schema{Type: sr.TypeAvro, Schema: orderAvro}, "application/avro"},
		{"json", "orders-json", sr.Schema{Type: sr.TypeJSON, Schema: orderJSON}, "application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			codec := srcodec.AutoRegister(cl, tt.schema)
			in, out := order{ID: "o-1", Qty: 3}, order{}
			e := roundTrip(t, codec, srcodec.UseLatest(cl, tt.schema.Type), tt.topic, in, &out)
			if out != in {
				t.Fatalf("decoded %+v, want %+v", out, in)
			}
			subject := tt.topic + "-value"
			if want := "/subjects/" + subject + "/versions/1"; e.DataSchema != want {
				t.Errorf("dataschema %q, want %q", e.DataSchema, want)
			}
			if e.DataContentType != tt.contentType || e.SchemaVersion != "1" {
				t.Errorf("datacontenttype %q, schemaversion %q", e.DataContentType, e.SchemaVersion)
			}
			// Registered under the topic's value subject.
			ss, err := cl.SchemaByVersion(context.Background(), subject, 1)
			if err != nil || ss.Type != tt.schema.Type {
				t.Fatalf("subject %s: %+v, %v", subject, ss, err)
			}
			// UseLatest encodes with the registered schema: same bytes.
			e2, err := event.Encode(context.Background(), srcodec.UseLatest(cl, tt.schema.Type), tt.topic, "/shop", "order.placed", in)
			if err != nil || string(e2.Data) != string(e.Data) || e2.DataSchema != e.DataSchema {
				t.Fatalf("use latest: %q %v", e2.DataSchema, err)
			}
		})
	}
}

func TestJSONSchemaRejects(t *testing.T) {
	cl, _ := newRegistry(t)
	codec := srcodec.AutoRegister(cl, sr.Schema{Type: sr.TypeJSON, Schema: orderJSON})
	if _, err := event.Encode(context.Background(), codec, "o", "/shop", "order.placed", order{ID: "x"}); err == nil {
		t.Fatal("qty 0 encoded against minimum 1")
	}
}

// TestUseLatestVersion: with two versions registered, UseLatest encodes
// with the second and says so; data of either version decodes.
func TestUseLatestVersion(t *testing.T) {
	cl, url := newRegistry(t)
	ctx := context.Background()
	v1 := srcodec.AutoRegister(cl, sr.Schema{Type: sr.TypeAvro, Schema: orderAvro})
	old, err := event.Encode(ctx, v1, "o", "/shop", "order.placed", order{ID: "a", Qty: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CreateSchema(ctx, "o-value", sr.Schema{Type: sr.TypeAvro, Schema: orderAvro2}); err != nil {
		t.Fatal(err)
	}
	type order2 struct {
		ID   string `avro:"id"`
		Qty  int64  `avro:"qty"`
		Note string `avro:"note"`
	}
	latest := srcodec.UseLatest(cl, sr.TypeAvro, srcodec.RegistryURL(url))
	var out order2
	e := roundTrip(t, latest, srcodec.UseLatest(cl, sr.TypeAvro), "o", order2{ID: "b", Qty: 2, Note: "n"}, &out)
	if out.Note != "n" || e.SchemaVersion != "2" || e.DataSchema != url+"/subjects/o-value/versions/2" {
		t.Fatalf("decoded %+v; schemaversion %q dataschema %q", out, e.SchemaVersion, e.DataSchema)
	}
	var o1 order
	if err := latest.Decode(ctx, old, &o1); err != nil || o1.ID != "a" {
		t.Fatalf("decode version 1 data: %+v %v", o1, err)
	}
	if _, err := srcodec.UseLatest(cl, sr.TypeJSON).Encode(ctx, "o", "t", order{}); err == nil {
		t.Fatal("UseLatest(JSON) encoded with an Avro subject")
	}
}

func TestProtobuf(t *testing.T) {
	cl, _ := newRegistry(t)
	const orderProto = "syntax = \"proto3\";\npackage shop;\nmessage Order {\n  string id = 1;\n  int64 qty = 2;\n}\n"
	p, err := protobuf.Parse(orderProto, nil)
	if err != nil {
		t.Fatal(err)
	}
	md := p.File.Messages().Get(0)
	in := dynamicpb.NewMessage(md)
	in.Set(md.Fields().ByName("id"), protoreflect.ValueOfString("o-1"))
	in.Set(md.Fields().ByName("qty"), protoreflect.ValueOfInt64(2))
	codec := srcodec.AutoRegister(cl, sr.Schema{Type: sr.TypeProtobuf, Schema: orderProto})
	out := dynamicpb.NewMessage(md)
	e := roundTrip(t, codec, srcodec.UseLatest(cl, sr.TypeProtobuf), "po", in, out)
	if !proto.Equal(in, out) {
		t.Fatalf("round trip: %v != %v", in, out)
	}
	if e.DataContentType != "application/protobuf" || e.DataSchema != "/subjects/po-value/versions/1" {
		t.Fatalf("attributes: %q %q", e.DataContentType, e.DataSchema)
	}
}
