// Package serde encodes and decodes record values in the Confluent wire
// format, with schemas kept in a schema registry (Herald's, Confluent's or
// any other speaking its REST API), for Avro, JSON Schema and Protobuf.
//
// The wire format (part of it; do not change):
//
//	+-------+----------------+---------------------------+---------+
//	| magic | schema id      | Protobuf message indexes  | payload |
//	| 0x00  | uint32, big    | (Protobuf only; see       |         |
//	|       | endian         | registry/protobuf)        |         |
//	+-------+----------------+---------------------------+---------+
//
// Usage:
//
//	cl, _ := sr.NewClient(sr.URLs("http://localhost:8081"))
//	// a secured registry: HTTPS and basic auth with kafkasec's settings
//	// opts, err := kafkasec.RegistryClient{TLS: kafkasec.TLS{CAFile: "ca.pem"}, Username: u, Password: pw}.SROpts()
//	// cl, _ := sr.NewClient(append(opts, sr.URLs("https://registry:8081"))...)
//	s := serde.New(cl)
//	enc, err := s.Encoder(ctx, "orders-value", sr.Schema{Schema: orderAvro}) // registers if needed
//	b, err := enc.Encode(Order{ID: "o-1", Qty: 2})                          // 0x00 id... avro
//	...
//	var o Order
//	err = s.Decode(ctx, b, &o) // looks the writer schema up by id, cached
//
// Decode reads a value exactly as its writer's schema wrote it. A program
// built for one version of a schema reads every version through a Decoder
// for that version (the reader's schema): Avro schema resolution, JSON
// Schema defaults, Protobuf's unknown fields (see Decoder):
//
//	dec, err := s.Decoder(ctx, sr.Schema{Schema: orderAvroV2}) // the reader's schema
//	var o OrderV2
//	err = dec.Decode(ctx, v1Bytes, &o) // fields v1 lacks take v2's defaults
//
// With UseLatest the encoder takes the subject's latest schema from the
// registry instead of registering one:
//
//	enc, err := s.Encoder(ctx, "orders-value", sr.Schema{}, serde.UseLatest())
//
// Protobuf values are proto.Message; the encoder writes the indexes of the
// message's type in the registered .proto file. JSON values are anything
// encoding/json handles, validated against the schema on encode (and, with
// ValidateOnDecode, on decode).
package serde

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/heraldhq/herald/registry/compat"
)

// magic is the first byte of every encoded value. Part of the wire format.
const magic = 0

// headerLen is magic plus the 4-byte id.
const headerLen = 5

var (
	// ErrNotWireFormat: the bytes do not start with magic 0 and an id.
	ErrNotWireFormat = errors.New("serde: not in the schema registry wire format")
	// ErrWrongType: the value does not suit the schema type (e.g. not a
	// proto.Message for a Protobuf schema).
	ErrWrongType = errors.New("serde: value type does not suit the schema type")
	// ErrIncompatible: a Decoder's reader schema cannot read what the
	// writer's schema wrote (another format, or an Avro schema that does
	// not resolve).
	ErrIncompatible = errors.New("serde: the reader's schema cannot read the writer's")
)

// Serde encodes and decodes with one registry. Safe for concurrent use.
type Serde struct {
	cl               *sr.Client
	validateOnDecode bool

	mu   sync.Mutex
	byID map[int]codec // decode cache; an id's schema never changes
}

// Option configures a Serde.
type Option func(*Serde)

// ValidateOnDecode validates decoded JSON documents against their schema.
func ValidateOnDecode() Option { return func(s *Serde) { s.validateOnDecode = true } }

// New returns a Serde over the registry cl talks to.
func New(cl *sr.Client, opts ...Option) *Serde {
	s := &Serde{cl: cl, byID: map[int]codec{}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// codec encodes and decodes payloads (no header) for one schema.
type codec interface {
	// appendEncode appends the message indexes (Protobuf) and payload.
	appendEncode(b []byte, v any) ([]byte, error)
	// decode decodes what follows the header into v.
	decode(b []byte, v any) error
}

// Header splits an encoded value into schema id and the rest.
func Header(b []byte) (id int, rest []byte, err error) {
	if len(b) < headerLen || b[0] != magic {
		return 0, nil, ErrNotWireFormat
	}
	return int(binary.BigEndian.Uint32(b[1:headerLen])), b[headerLen:], nil
}

// AppendHeader appends magic 0 and id to b.
func AppendHeader(b []byte, id int) []byte {
	return binary.BigEndian.AppendUint32(append(b, magic), uint32(id))
}

// Decode decodes b into v (a pointer for Avro and JSON, a proto.Message
// for Protobuf) with the schema b's id names.
func (s *Serde) Decode(ctx context.Context, b []byte, v any) error {
	id, rest, err := Header(b)
	if err != nil {
		return err
	}
	c, err := s.codecByID(ctx, id)
	if err != nil {
		return err
	}
	return c.decode(rest, v)
}

func (s *Serde) codecByID(ctx context.Context, id int) (codec, error) {
	s.mu.Lock()
	c, ok := s.byID[id]
	s.mu.Unlock()
	if ok {
		return c, nil
	}
	sch, err := s.cl.SchemaByID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("serde: schema %d: %w", id, err)
	}
	if c, err = s.newCodec(ctx, sch); err != nil {
		return nil, fmt.Errorf("serde: schema %d: %w", id, err)
	}
	s.mu.Lock()
	s.byID[id] = c
	s.mu.Unlock()
	return c, nil
}

// resolveRefs fetches sch's references, transitively, dependencies first.
func (s *Serde) resolveRefs(ctx context.Context, refs []sr.SchemaReference) ([]compat.Ref, error) {
	var out []compat.Ref
	seen := map[string]bool{}
	var walk func(refs []sr.SchemaReference, depth int) error
	walk = func(refs []sr.SchemaReference, depth int) error {
		if depth > 32 {
			return errors.New("references nest deeper than 32")
		}
		for _, r := range refs {
			if seen[r.Name] {
				continue
			}
			seen[r.Name] = true
			ss, err := s.cl.SchemaByVersion(ctx, r.Subject, r.Version)
			if err != nil {
				return fmt.Errorf("reference %q: %w", r.Name, err)
			}
			if err := walk(ss.References, depth+1); err != nil {
				return err
			}
			out = append(out, compat.Ref{Name: r.Name, Schema: ss.Schema.Schema})
		}
		return nil
	}
	return out, walk(refs, 0)
}

func (s *Serde) newCodec(ctx context.Context, sch sr.Schema) (codec, error) {
	refs, err := s.resolveRefs(ctx, sch.References)
	if err != nil {
		return nil, err
	}
	switch sch.Type {
	case sr.TypeAvro:
		return newAvroCodec(sch.Schema, refs)
	case sr.TypeJSON:
		return newJSONCodec(sch.Schema, refs, s.validateOnDecode)
	case sr.TypeProtobuf:
		return newProtoCodec(sch.Schema, refs)
	}
	return nil, fmt.Errorf("unknown schema type %v", sch.Type)
}
