package shop

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/sr"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/event/srcodec"
	"github.com/heraldhq/herald/registry/protobuf"
	"github.com/heraldhq/herald/registry/serde"
)

// A Schema is the registered schema of one event type on one topic.
type Schema struct {
	Topic, Type string
	Schema      sr.Schema
}

// Subject is the registry subject of the schema: "<topic>-<type>".
func (s Schema) Subject() string { return Subject(s.Topic, s.Type) }

// Subject is TopicRecordNameStrategy: "<topic>-<type>".
func Subject(topic, typ string) string { return topic + "-" + typ }

// jsonObject is a JSON Schema (draft 7) of an object with the given
// properties ("name": {schema}), all required, no others.
func jsonObject(title string, props ...string) sr.Schema {
	names := make([]string, len(props))
	for i, p := range props {
		names[i] = p[:strings.IndexByte(p[1:], '"')+2]
	}
	s := fmt.Sprintf(`{"$schema":"http://json-schema.org/draft-07/schema#","title":%q,"type":"object",`+
		`"properties":{%s},"required":[%s],"additionalProperties":false}`,
		title, strings.Join(props, ","), strings.Join(names, ","))
	return sr.Schema{Type: sr.TypeJSON, Schema: s}
}

const (
	str     = `{"type":"string"}`
	count   = `{"type":"integer","minimum":1}`
	cents   = `{"type":"integer","minimum":0}`
	itemsJS = `{"type":"array","minItems":1,"items":{"type":"object","properties":{"sku":` + str +
		`,"qty":` + count + `,"price":` + cents + `},"required":["sku","qty","price"],"additionalProperties":false}}`
)

func prop(name, schema string) string { return fmt.Sprintf("%q:%s", name, schema) }

var (
	orderPlacedJS = jsonObject("OrderPlaced", prop("order_id", str), prop("customer", str),
		prop("card", str), prop("items", itemsJS), prop("total", cents))
	orderEndedJS = func(t string) sr.Schema { return jsonObject(t, prop("order_id", str), prop("reason", str)) }
	paymentAvro  = sr.Schema{Type: sr.TypeAvro, Schema: `{"type":"record","name":"Payment","namespace":"shop","fields":[` +
		`{"name":"order_id","type":"string"},{"name":"amount","type":"long"},` +
		`{"name":"charge_id","type":"string","default":""},{"name":"status","type":"string","default":""},{"name":"reason","type":"string","default":""}]}`}
)

// shipmentProto is shipment.shipped's schema: Protobuf.
var shipmentProto = sr.Schema{Type: sr.TypeProtobuf, Schema: `syntax = "proto3";
package shop;

// ShipmentShipped is shipment.shipped: an order left the warehouse.
message ShipmentShipped {
  string order_id = 1;
  string tracking = 2;
}
`}

// OrderPlacedV2Schema is version 2 of order.placed: v1 and an optional
// "channel" with a default, a backward-compatible change (a v2 reader
// reads v1 events: their channel is the default), registered as the
// subject's second version when the orders service switches to it.
var OrderPlacedV2Schema = sr.Schema{Type: sr.TypeJSON, Schema: strings.Replace(orderPlacedJS.Schema, `"properties":{`,
	`"properties":{"channel":{"type":"string","default":"`+DefaultChannel+`"},`, 1)}

// Schemas lists every event type's schema (version 1).
var Schemas = []Schema{
	{TopicOrders, OrderPlacedType, orderPlacedJS},
	{TopicOrders, OrderPaidType, jsonObject("OrderPaid", prop("order_id", str), prop("amount", cents), prop("charge_id", str))},
	{TopicOrders, OrderShippedType, jsonObject("OrderShipped", prop("order_id", str), prop("tracking", str))},
	{TopicOrders, OrderCancelledType, orderEndedJS("OrderCancelled")},
	{TopicOrders, OrderRejectedType, orderEndedJS("OrderRejected")},
	{TopicInventory, StockReservedType, jsonObject("StockReserved", prop("order", orderPlacedJS.Schema))},
	{TopicInventory, StockUnavailableType, jsonObject("StockUnavailable", prop("order_id", str), prop("sku", str), prop("reason", str))},
	{TopicInventory, StockReleasedType, jsonObject("StockReleased", prop("order_id", str))},
	{TopicPayments, PaymentChargedType, paymentAvro},
	{TopicPayments, PaymentDeclinedType, paymentAvro},
	{TopicPayments, PaymentRefundedType, paymentAvro},
	{TopicShipping, ShipmentShippedType, shipmentProto},
	{TopicCatalog, ProductListedType, jsonObject("Product", prop("sku", str), prop("name", str), prop("price", cents), prop("stock", cents))},
	{TopicStatus, OrderStatusType, sr.Schema{Type: sr.TypeJSON, Schema: `{"$schema":"http://json-schema.org/draft-07/schema#",` +
		`"title":"OrderStatus","type":"object","properties":{"order_id":` + str + `,"status":` + str + `,"reason":` + str +
		`},"required":["order_id","status"],"additionalProperties":false}`}},
}

// Codec is an event.Codec that encodes each event type with its own
// registered schema (Schemas) and decodes each by its type. It is safe
// for concurrent use.
//
// The Go types of the events are plain structs, whatever the format: for
// a Protobuf event type the codec converts between the struct and a
// dynamic message of the schema's first message type through their
// JSON forms (the struct's JSON names are the message's field names), so
// that no code is generated.
type Codec struct {
	cl       *sr.Client
	byType   map[string]*srcodec.Codec
	protos   map[string]protoreflect.MessageDescriptor // by type, for the Protobuf ones
	placedV2 *srcodec.Codec                            // order.placed v2, for OrderPlacedV2 values
}

var _ event.Codec = (*Codec)(nil)

// NewCodec returns the codec over the registry cl (at registryURL, which
// dataschema attributes name).
func NewCodec(cl *sr.Client, registryURL string) *Codec {
	s := serde.New(cl) // one schema cache for every type
	c := &Codec{cl: cl, byType: map[string]*srcodec.Codec{}, protos: map[string]protoreflect.MessageDescriptor{}}
	subject := srcodec.Subject(Subject)
	for _, sc := range Schemas {
		c.byType[sc.Type] = srcodec.AutoRegister(cl, sc.Schema, subject, srcodec.RegistryURL(registryURL), srcodec.WithSerde(s))
		if sc.Schema.Type == sr.TypeProtobuf {
			p, err := protobuf.Parse(sc.Schema.Schema, nil)
			if err != nil {
				panic(fmt.Sprintf("shop: the schema of %s: %v", sc.Type, err)) // a broken invariant: the schemas are constants
			}
			c.protos[sc.Type] = p.File.Messages().Get(0)
		}
	}
	c.placedV2 = srcodec.AutoRegister(cl, OrderPlacedV2Schema, subject, srcodec.RegistryURL(registryURL), srcodec.WithSerde(s))
	return c
}

// OrderPlacedV2Reader returns a codec that reads order.placed (v1 or v2)
// with the v2 reader schema: v1 events get the channel's default.
func OrderPlacedV2Reader(cl *sr.Client) *srcodec.Codec {
	return srcodec.UseLatest(cl, sr.TypeJSON, srcodec.Subject(Subject), srcodec.ReaderSchema(OrderPlacedV2Schema))
}

// Register registers every schema now, so that the registry lists them
// all before the first event of a type is published.
func (c *Codec) Register(ctx context.Context) error {
	for _, sc := range Schemas {
		if _, err := c.cl.CreateSchema(ctx, sc.Subject(), sc.Schema); err != nil {
			return fmt.Errorf("register %s: %w", sc.Subject(), err)
		}
	}
	return nil
}

// ContentType is JSON's; Encode returns each type's own.
func (c *Codec) ContentType() string { return srcodec.ContentTypeJSON }

// Encode encodes v with the schema of typ; an OrderPlacedV2 with v2 of
// order.placed, registered on first use.
func (c *Codec) Encode(ctx context.Context, topic, typ string, v any) (event.Encoded, error) {
	if _, ok := v.(OrderPlacedV2); ok && typ == OrderPlacedType {
		return c.placedV2.Encode(ctx, topic, typ, v)
	}
	cc, ok := c.byType[typ]
	if !ok {
		return event.Encoded{}, fmt.Errorf("shop: no schema for event type %q", typ)
	}
	if md, ok := c.protos[typ]; ok {
		m, err := toProto(md, v)
		if err != nil {
			return event.Encoded{}, fmt.Errorf("shop: encode %s: %w", typ, err)
		}
		v = m
	}
	return cc.Encode(ctx, topic, typ, v)
}

// toProto converts v to a message of type md through their JSON forms.
func toProto(md protoreflect.MessageDescriptor, v any) (*dynamicpb.Message, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	m := dynamicpb.NewMessage(md)
	return m, protojson.Unmarshal(b, m)
}

// fromProto decodes message m into v through their JSON forms.
func fromProto(m *dynamicpb.Message, v any) error {
	b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// Decode decodes e's data with the schema of its type.
func (c *Codec) Decode(ctx context.Context, e event.Event, v any) error {
	cc, ok := c.byType[e.Type]
	if !ok {
		return fmt.Errorf("shop: no schema for event type %q", e.Type)
	}
	if md, ok := c.protos[e.Type]; ok {
		m := dynamicpb.NewMessage(md)
		if err := cc.Decode(ctx, e, m); err != nil {
			return err
		}
		if err := fromProto(m, v); err != nil {
			return fmt.Errorf("shop: decode %s: %w", e.Type, err)
		}
		return nil
	}
	return cc.Decode(ctx, e, v)
}

// New encodes v as a new event of type typ for topic, keyed by key, from
// source.
func (c *Codec) New(ctx context.Context, topic, source, typ, key string, v any) (event.Event, error) {
	e, err := event.Encode(ctx, c, topic, source, typ, v)
	e.Key = key
	return e, err
}
