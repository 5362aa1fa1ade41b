package serde_test

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/heraldhq/herald/heraldtest"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/registry"
	"github.com/heraldhq/herald/registry/protobuf"
	"github.com/heraldhq/herald/registry/serde"
)

// newRegistry starts a registry on HERALD_TEST_BROKERS, an in-memory
// kfake cluster (HERALD_TEST_KFAKE=N) or Herald's broker, and returns an
// sr client for it.
func newRegistry(t *testing.T) *sr.Client {
	t.Helper()
	brokers := testenv.Brokers(t).Seeds
	if brokers == nil {
		brokers = []string{heraldtest.NewBroker(t, heraldtest.WithDurability("none")).Addr()}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := registry.New(ctx, registry.Config{Brokers: brokers, Topic: "_schemas_serde_" + strings.ReplaceAll(t.Name(), "/", "_") + time.Now().Format("150405.000000")})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); srv.Close() })
	cl, err := sr.NewClient(sr.URLs(hs.URL))
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

type order struct {
	ID  string `avro:"id" json:"id"`
	Qty int64  `avro:"qty" json:"qty"`
}

const orderAvro = `{"type":"record","name":"Order","fields":[{"name":"id","type":"string"},{"name":"qty","type":"long"}]}`

const orderJSON = `{"type":"object","properties":{"id":{"type":"string"},"qty":{"type":"integer","minimum":1}},"required":["id"]}`

const orderProto = `syntax = "proto3";
package shop;
message Money { int64 cents = 1; }
message Order {
  string id = 1;
  int64 qty = 2;
  message Line { string sku = 1; }
}
`

func TestAvroAndJSON(t *testing.T) {
	cl := newRegistry(t)
	ctx := context.Background()
	tests := []struct {
		name    string
		subject string
		schema  sr.Schema
	}{
		{"avro", "orders-avro-value", sr.Schema{Schema: orderAvro}},
		{"json", "orders-json-value", sr.Schema{Schema: orderJSON, Type: sr.TypeJSON}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := serde.New(cl)
			enc, err := s.Encoder(ctx, tt.subject, tt.schema)
			if err != nil {
				t.Fatal(err)
			}
			in := order{ID: "o-1", Qty: 3}
			b, err := enc.Encode(in)
			if err != nil {
				t.Fatal(err)
			}
			id, _, err := serde.Header(b)
			if err != nil || id != enc.ID() {
				t.Fatalf("header: %d %v", id, err)
			}
			// A fresh Serde decodes by id from the registry.
			var out order
			if err := serde.New(cl).Decode(ctx, b, &out); err != nil || out != in {
				t.Fatalf("decode: %+v %v", out, err)
			}
			// UseLatest finds the same schema.
			latest, err := serde.New(cl).Encoder(ctx, tt.subject, sr.Schema{}, serde.UseLatest())
			if err != nil || latest.ID() != enc.ID() {
				t.Fatalf("use latest: %v", err)
			}
			b2, _ := latest.Encode(in)
			if !bytes.Equal(b, b2) {
				t.Fatalf("use-latest encoding differs")
			}
		})
	}
}

func TestJSONValidation(t *testing.T) {
	cl := newRegistry(t)
	s := serde.New(cl, serde.ValidateOnDecode())
	enc, err := s.Encoder(context.Background(), "o-value", sr.Schema{Schema: orderJSON, Type: sr.TypeJSON})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := enc.Encode(order{ID: "x", Qty: 0}); err == nil {
		t.Fatal("expected qty 0 to fail minimum 1")
	}
	bad := serde.AppendHeader(nil, enc.ID())
	bad = append(bad, `{"qty":2}`...)
	var out order
	if err := s.Decode(context.Background(), bad, &out); err == nil {
		t.Fatal("expected a document without id to fail on decode")
	}
}

func TestProtobuf(t *testing.T) {
	cl := newRegistry(t)
	ctx := context.Background()
	s := serde.New(cl)
	enc, err := s.Encoder(ctx, "orders-proto-value", sr.Schema{Schema: orderProto, Type: sr.TypeProtobuf})
	if err != nil {
		t.Fatal(err)
	}
	p, err := protobuf.Parse(orderProto, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		md      protoreflect.MessageDescriptor
		set     func(m *dynamicpb.Message)
		indexes []byte
	}{
		{"first message: [0] shortcut", p.File.Messages().Get(0), func(m *dynamicpb.Message) {
			m.Set(m.Descriptor().Fields().ByName("cents"), protoreflect.ValueOfInt64(250))
		}, []byte{0}},
		{"second message", p.File.Messages().Get(1), func(m *dynamicpb.Message) {
			m.Set(m.Descriptor().Fields().ByName("id"), protoreflect.ValueOfString("o-1"))
		}, []byte{2, 2}},
		{"nested message", p.File.Messages().Get(1).Messages().Get(0), func(m *dynamicpb.Message) {
			m.Set(m.Descriptor().Fields().ByName("sku"), protoreflect.ValueOfString("s"))
		}, []byte{4, 2, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := dynamicpb.NewMessage(tt.md)
			tt.set(in)
			b, err := enc.Encode(in)
			if err != nil {
				t.Fatal(err)
			}
			_, rest, _ := serde.Header(b)
			if !bytes.HasPrefix(rest, tt.indexes) {
				t.Fatalf("indexes: got % x, want % x", rest, tt.indexes)
			}
			out := dynamicpb.NewMessage(tt.md)
			if err := serde.New(cl).Decode(ctx, b, out); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(in, out) {
				t.Fatalf("round trip: %v != %v", in, out)
			}
			wrong := dynamicpb.NewMessage(p.File.Messages().Get(1).Messages().Get(0))
			if tt.md != wrong.Descriptor() {
				if err := s.Decode(ctx, b, wrong); !errors.Is(err, serde.ErrWrongType) {
					t.Fatalf("decode into the wrong type: %v", err)
				}
			}
		})
	}
	if _, err := enc.Encode("not a message"); !errors.Is(err, serde.ErrWrongType) {
		t.Fatalf("encode a string: %v", err)
	}
}

func TestNotWireFormat(t *testing.T) {
	s := serde.New(nil)
	for _, b := range [][]byte{nil, {0, 0, 0}, {1, 0, 0, 0, 1, 'x'}} {
		if err := s.Decode(context.Background(), b, new(order)); !errors.Is(err, serde.ErrNotWireFormat) {
			t.Errorf("% x: %v", b, err)
		}
	}
}
