package event

import (
	"context"
	"encoding/json"
	"fmt"
)

// Codec turns Go values into event data and back.
//
// Implementations must be safe for concurrent use. Encode may talk to a
// schema registry (to register or look up a schema), so it takes a context;
// it returns the data and the attributes that describe it.
type Codec interface {
	// ContentType is the datacontenttype of the data Encode returns.
	ContentType() string
	// Encode encodes v for an event of type typ published to topic.
	Encode(ctx context.Context, topic, typ string, v any) (Encoded, error)
	// Decode decodes e.Data into v, which must be a pointer.
	Decode(ctx context.Context, e Event, v any) error
}

// Encoded is data produced by a Codec with the attributes that describe it.
type Encoded struct {
	Data          []byte
	ContentType   string // datacontenttype
	DataSchema    string // dataschema URI, if the codec knows one
	SchemaVersion string // schema version, if the codec knows one
}

// JSON is the JSON codec: encoding/json, content type application/json.
var JSON Codec = jsonCodec{}

type jsonCodec struct{}

func (jsonCodec) ContentType() string { return "application/json" }

func (jsonCodec) Encode(_ context.Context, _, _ string, v any) (Encoded, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return Encoded{}, fmt.Errorf("event: json encode: %w", err)
	}
	return Encoded{Data: b, ContentType: "application/json"}, nil
}

func (jsonCodec) Decode(_ context.Context, e Event, v any) error {
	if err := json.Unmarshal(e.Data, v); err != nil {
		return fmt.Errorf("event: json decode %s: %w", e.Type, err)
	}
	return nil
}

// EventCodec is a Codec whose encoding depends on the event the data goes
// into, not only on the value: an encrypting codec (package event/crypt)
// binds the ciphertext to the event's id, type and subject and picks its
// key by the event's subject or key. EncodeEvent returns e with Data,
// DataContentType, DataSchema and SchemaVersion set, and may set
// extension attributes of its own; it must not change the other
// attributes, and the caller must not change id, source, type or subject
// afterwards (Key, correlation and causation ids and other extensions may
// still change). Its Encode, without an event, may fail.
type EventCodec interface {
	Codec
	EncodeEvent(ctx context.Context, topic string, e Event, v any) (Event, error)
}

// Encode builds a new event of type typ from a Go value with codec c: a
// new id and time, source, and the data and data attributes the codec
// returns. An EventCodec sees the event without key or subject; set
// those first with EncodeEvent if the codec uses them.
func Encode[T any](ctx context.Context, c Codec, topic, source, typ string, v T) (Event, error) {
	e, err := EncodeEvent(ctx, c, topic, New(source, typ, nil), v)
	if err != nil {
		return Event{}, err
	}
	return e, nil
}

// EncodeEvent sets the data of e, an event with its attributes already
// set (id, source, type, and key and subject where used), to v encoded
// with codec c, and the data attributes to those c returns. An
// EventCodec encodes with the event (EventCodec.EncodeEvent); any other
// codec with Codec.Encode.
func EncodeEvent(ctx context.Context, c Codec, topic string, e Event, v any) (Event, error) {
	if ec, ok := c.(EventCodec); ok {
		return ec.EncodeEvent(ctx, topic, e, v)
	}
	enc, err := c.Encode(ctx, topic, e.Type, v)
	if err != nil {
		return e, err
	}
	e.Data = enc.Data
	e.DataContentType = enc.ContentType
	e.DataSchema = enc.DataSchema
	e.SchemaVersion = enc.SchemaVersion
	return e, nil
}

// Decode decodes the data of e into a new T with codec c.
func Decode[T any](ctx context.Context, c Codec, e Event) (T, error) {
	var v T
	err := c.Decode(ctx, e, &v)
	return v, err
}
