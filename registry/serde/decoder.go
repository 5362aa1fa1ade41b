package serde

import (
	"context"
	"fmt"
	"sync"

	havro "github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/heraldhq/herald/registry/avro"
	"github.com/heraldhq/herald/registry/protobuf"
)

// Decoder decodes values written with any registered schema into the
// shape of one reader's schema: the schema the decoding program was
// built for. Safe for concurrent use.
//
// What "the shape of the reader's schema" means per format:
//
//   - Avro: schema resolution. The writer's schema (looked up by the id
//     the value carries) is resolved against the reader's: a field the
//     writer lacks takes the reader's default, a field the reader lacks is
//     skipped, promotions (int to long, ...) apply. A writer schema the
//     reader cannot read is an error, not a zero value.
//   - JSON Schema: the document is validated against the writer's schema
//     (with ValidateOnDecode), then every property the reader's schema
//     gives a "default" and the document lacks is filled in (nested
//     objects and local "$ref"s included), then encoding/json decodes it;
//     properties the reader does not know are ignored by encoding/json.
//   - Protobuf: the reader's schema is the message type decoded into.
//     A field the writer lacks is its zero value (proto3 has no defaults),
//     a field the reader lacks is kept in the message's unknown fields, so
//     re-encoding the message does not lose it.
type Decoder struct {
	s      *Serde
	typ    sr.SchemaType
	avro   havro.Schema // reader's, for Avro
	jsonDf *jsonDefaults

	mu   sync.Mutex
	byID map[int]codec // writer id -> codec reading it as the reader
}

// Decoder returns a Decoder for the reader's schema. Its references are
// fetched from the registry.
func (s *Serde) Decoder(ctx context.Context, reader sr.Schema) (*Decoder, error) {
	d := &Decoder{s: s, typ: reader.Type, byID: map[int]codec{}}
	refs, err := s.resolveRefs(ctx, reader.References)
	if err != nil {
		return nil, fmt.Errorf("serde: reader schema: %w", err)
	}
	switch reader.Type {
	case sr.TypeAvro:
		p, err := avro.Parse(reader.Schema, refs)
		if err != nil {
			return nil, fmt.Errorf("serde: reader schema: %w", err)
		}
		d.avro = p.Avro
	case sr.TypeJSON:
		if d.jsonDf, err = parseJSONDefaults(reader.Schema, refs); err != nil {
			return nil, fmt.Errorf("serde: reader schema: %w", err)
		}
	case sr.TypeProtobuf:
		// The message type decoded into is the reader's schema; the
		// text is only checked.
		if _, err := protobuf.Parse(reader.Schema, refs); err != nil {
			return nil, fmt.Errorf("serde: reader schema: %w", err)
		}
	default:
		return nil, fmt.Errorf("serde: reader schema: unknown schema type %v", reader.Type)
	}
	return d, nil
}

// Decode decodes b into v (a pointer for Avro and JSON, a proto.Message
// for Protobuf): written with the schema b's id names, read as the
// Decoder's reader schema.
func (d *Decoder) Decode(ctx context.Context, b []byte, v any) error {
	id, rest, err := Header(b)
	if err != nil {
		return err
	}
	c, err := d.codecByID(ctx, id)
	if err != nil {
		return err
	}
	return c.decode(rest, v)
}

func (d *Decoder) codecByID(ctx context.Context, id int) (codec, error) {
	d.mu.Lock()
	c, ok := d.byID[id]
	d.mu.Unlock()
	if ok {
		return c, nil
	}
	w, err := d.s.codecByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if c, err = d.resolve(w); err != nil {
		return nil, fmt.Errorf("serde: schema %d: %w", id, err)
	}
	d.mu.Lock()
	d.byID[id] = c
	d.mu.Unlock()
	return c, nil
}

// resolve returns a codec that reads what w's schema wrote as the reader.
func (d *Decoder) resolve(w codec) (codec, error) {
	switch w := w.(type) {
	case avroCodec:
		if d.typ != sr.TypeAvro {
			break
		}
		r, err := havro.NewSchemaCompatibility().Resolve(d.avro, w.s)
		if err != nil {
			return nil, fmt.Errorf("%w: the reader's Avro schema cannot read the writer's: %w", ErrIncompatible, err)
		}
		return avroCodec{r}, nil
	case jsonCodec:
		if d.typ != sr.TypeJSON {
			break
		}
		w.defaults = d.jsonDf
		return w, nil
	case protoCodec:
		if d.typ == sr.TypeProtobuf {
			return w, nil
		}
	}
	return nil, fmt.Errorf("%w: written with a %s schema, the reader's is %v", ErrIncompatible, typeName(w), d.typ)
}

func typeName(c codec) string {
	switch c.(type) {
	case avroCodec:
		return "AVRO"
	case jsonCodec:
		return "JSON"
	case protoCodec:
		return "PROTOBUF"
	}
	return fmt.Sprintf("%T", c)
}
