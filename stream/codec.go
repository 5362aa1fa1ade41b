package stream

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/heraldhq/herald/registry/serde"
)

// Codec turns values of type T into record bytes and back: a record's key
// or value on a topic, or a state store's key or value.
//
// Implementations must be safe for concurrent use: every task of an App
// shares its codecs. Decode may keep b: the App hands it a record's own
// bytes, never reused.
// A key codec must be deterministic (equal keys give equal bytes): state
// stores and partitioning compare keys by their bytes.
type Codec[T any] interface {
	Encode(v T) ([]byte, error)
	Decode(b []byte) (T, error)
}

// JSON is a Codec of encoding/json. Its encoding of maps is deterministic
// (sorted keys), so it may encode keys too.
func JSON[T any]() Codec[T] { return jsonCodec[T]{} }

type jsonCodec[T any] struct{}

func (jsonCodec[T]) Encode(v T) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("json encode %T: %w", v, err)
	}
	return b, nil
}

func (jsonCodec[T]) Decode(b []byte) (T, error) {
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("json decode %T: %w", v, err)
	}
	return v, nil
}

// String is the Codec of strings as their UTF-8 bytes.
func String() Codec[string] { return stringCodec{} }

type stringCodec struct{}

func (stringCodec) Encode(v string) ([]byte, error) { return []byte(v), nil }
func (stringCodec) Decode(b []byte) (string, error) { return string(b), nil }

// Bytes is the Codec of byte slices as they are (no copy either way).
func Bytes() Codec[[]byte] { return bytesCodec{} }

type bytesCodec struct{}

func (bytesCodec) Encode(v []byte) ([]byte, error) { return v, nil }
func (bytesCodec) Decode(b []byte) ([]byte, error) { return b, nil }

// Int64 is the Codec of int64 as 8 big-endian bytes, Kafka's LongSerde
// format.
func Int64() Codec[int64] { return int64Codec{} }

type int64Codec struct{}

func (int64Codec) Encode(v int64) ([]byte, error) {
	return binary.BigEndian.AppendUint64(nil, uint64(v)), nil
}

func (int64Codec) Decode(b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("int64 decode: %d bytes, want 8", len(b))
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

// registryTimeout bounds a schema registry lookup made by Decode, which
// has no context of its own (a lookup happens once per schema id; later
// decodes of that id are served from the decoder's cache).
const registryTimeout = 10 * time.Second

// Registry is a Codec over a schema registry: values in the Confluent
// wire format (see registry/serde), written with enc's schema and read
// into the shape of dec's reader schema (Avro resolution, JSON Schema
// defaults, Protobuf unknown fields). T must be a type the schema's
// format decodes into (a struct for Avro and JSON Schema, a
// proto.Message for Protobuf).
//
//	s := serde.New(srClient)
//	enc, _ := s.Encoder(ctx, "orders-value", sr.Schema{Schema: orderAvro})
//	dec, _ := s.Decoder(ctx, sr.Schema{Schema: orderAvro})
//	orders := stream.Source(b, "orders", stream.String(), stream.Registry[Order](enc, dec))
func Registry[T any](enc *serde.Encoder, dec *serde.Decoder) Codec[T] {
	return registryCodec[T]{enc: enc, dec: dec}
}

type registryCodec[T any] struct {
	enc *serde.Encoder
	dec *serde.Decoder
}

func (c registryCodec[T]) Encode(v T) ([]byte, error) {
	if c.enc == nil {
		return nil, fmt.Errorf("registry codec: no encoder")
	}
	b, err := c.enc.Encode(v)
	if err != nil {
		return nil, fmt.Errorf("registry encode %T: %w", v, err)
	}
	return b, nil
}

func (c registryCodec[T]) Decode(b []byte) (T, error) {
	var v T
	if c.dec == nil {
		return v, fmt.Errorf("registry codec: no decoder")
	}
	ctx, cancel := context.WithTimeout(context.Background(), registryTimeout)
	defer cancel()
	if err := c.dec.Decode(ctx, b, &v); err != nil {
		return v, fmt.Errorf("registry decode %T: %w", v, err)
	}
	return v, nil
}
