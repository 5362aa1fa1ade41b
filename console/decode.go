package console

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/sr"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/heraldhq/herald/registry/protobuf"
	"github.com/heraldhq/herald/registry/serde"
)

// Formats a value is shown in (Value.Format).
const (
	FormatNull     = "null" // no value (a tombstone) or no key
	FormatJSON     = "json" // valid JSON text
	FormatText     = "text" // UTF-8 text that is not JSON
	FormatHex      = "hex"  // bytes that are not UTF-8
	FormatAvro     = "avro" // registry wire format, Avro, shown as JSON
	FormatJSONSR   = "jsonschema"
	FormatProtobuf = "protobuf"
)

// Value is a record's key or value as the console shows it: Data is JSON
// (decoded through the registry, or the bytes themselves when they are
// JSON), text, or hex. A shown value longer than the console's limit is cut
// and Truncated says so; Size is always the whole length in bytes.
type Value struct {
	Format    string `json:"format"`
	Data      string `json:"data"`
	Size      int    `json:"size"`
	SchemaID  int    `json:"schema_id,omitempty"`
	Truncated bool   `json:"truncated,omitempty"`
	// Error says why a registry-encoded value was not decoded; Data is
	// then hex.
	Error string `json:"error,omitempty"`
}

// decoder turns record bytes into Values, through the registry when the
// bytes are in its wire format. Safe for concurrent use.
type decoder struct {
	src *sr.Client   // nil without a registry
	sd  *serde.Serde // nil without a registry
	max int          // longest Data shown

	mu     sync.Mutex
	protos map[int]*protobuf.Schema // parsed Protobuf schemas by id
	types  map[int]sr.SchemaType
}

func newDecoder(src *sr.Client, sd *serde.Serde, maxShown int) *decoder {
	return &decoder{src: src, sd: sd, max: maxShown, protos: map[int]*protobuf.Schema{}, types: map[int]sr.SchemaType{}}
}

// decode shows b. full skips truncation (the API's raw mode).
func (d *decoder) decode(ctx context.Context, b []byte, isNil, full bool) Value {
	if isNil {
		return Value{Format: FormatNull}
	}
	v := Value{Size: len(b)}
	if d.sd != nil {
		if id, _, err := serde.Header(b); err == nil {
			v.SchemaID = id
			if err := d.decodeRegistry(ctx, id, b, &v); err == nil {
				return d.cut(v, full)
			} else {
				v.Error = err.Error()
			}
		}
	}
	switch {
	case v.Error == "" && json.Valid(b) && len(bytes.TrimSpace(b)) > 0:
		v.Format, v.Data = FormatJSON, string(b)
	case v.Error == "" && printable(b):
		v.Format, v.Data = FormatText, string(b)
	default:
		v.Format, v.Data = FormatHex, hex.EncodeToString(b)
	}
	return d.cut(v, full)
}

// cut truncates v.Data to the limit, on a rune boundary.
func (d *decoder) cut(v Value, full bool) Value {
	if full || d.max <= 0 || len(v.Data) <= d.max {
		return v
	}
	n := d.max
	for n > 0 && !utf8.RuneStart(v.Data[n]) {
		n--
	}
	v.Data, v.Truncated = v.Data[:n], true
	return v
}

// decodeRegistry decodes b (wire format, schema id) into v as JSON.
func (d *decoder) decodeRegistry(ctx context.Context, id int, b []byte, v *Value) error {
	typ, err := d.schemaType(ctx, id)
	if err != nil {
		return err
	}
	var out []byte
	switch typ {
	case sr.TypeProtobuf:
		v.Format = FormatProtobuf
		out, err = d.decodeProto(ctx, id, b)
	case sr.TypeJSON:
		v.Format = FormatJSONSR
		out, err = d.decodeAny(ctx, b)
	default:
		v.Format = FormatAvro
		out, err = d.decodeAny(ctx, b)
	}
	if err != nil {
		return err
	}
	v.Data = string(out)
	return nil
}

func (d *decoder) schemaType(ctx context.Context, id int) (sr.SchemaType, error) {
	d.mu.Lock()
	t, ok := d.types[id]
	d.mu.Unlock()
	if ok {
		return t, nil
	}
	s, err := d.src.SchemaByID(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("schema %d: %w", id, err)
	}
	d.mu.Lock()
	d.types[id] = s.Type
	d.mu.Unlock()
	return s.Type, nil
}

// decodeAny decodes an Avro or JSON Schema value generically.
func (d *decoder) decodeAny(ctx context.Context, b []byte) ([]byte, error) {
	var x any
	if err := d.sd.Decode(ctx, b, &x); err != nil {
		return nil, err
	}
	out, err := json.Marshal(x)
	if err != nil {
		return nil, fmt.Errorf("show as JSON: %w", err)
	}
	return out, nil
}

// decodeProto decodes a Protobuf value into a dynamic message of the type
// its message indexes name, and shows it as protojson.
func (d *decoder) decodeProto(ctx context.Context, id int, b []byte) ([]byte, error) {
	ps, err := d.protoSchema(ctx, id)
	if err != nil {
		return nil, err
	}
	_, rest, _ := serde.Header(b) // the caller checked the header
	idx, _, err := protobuf.ReadIndexes(rest)
	if err != nil {
		return nil, fmt.Errorf("protobuf message indexes: %w", err)
	}
	var md protoreflect.MessageDescriptor
	if md, err = protobuf.MessageAt(ps.File, idx); err != nil {
		return nil, err
	}
	m := dynamicpb.NewMessage(md)
	if err := d.sd.Decode(ctx, b, proto.Message(m)); err != nil {
		return nil, err
	}
	out, err := protojson.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("show as JSON: %w", err)
	}
	// protojson varies its spacing on purpose; a page and a filter want
	// one form.
	var buf bytes.Buffer
	if err := json.Compact(&buf, out); err != nil {
		return nil, fmt.Errorf("show as JSON: %w", err)
	}
	return buf.Bytes(), nil
}

func (d *decoder) protoSchema(ctx context.Context, id int) (*protobuf.Schema, error) {
	d.mu.Lock()
	ps, ok := d.protos[id]
	d.mu.Unlock()
	if ok {
		return ps, nil
	}
	s, err := d.src.SchemaByID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("schema %d: %w", id, err)
	}
	if len(s.References) > 0 {
		return nil, fmt.Errorf("schema %d: Protobuf schemas with references are shown as bytes", id)
	}
	if ps, err = protobuf.Parse(s.Schema, nil); err != nil {
		return nil, fmt.Errorf("schema %d: %w", id, err)
	}
	d.mu.Lock()
	d.protos[id] = ps
	d.mu.Unlock()
	return ps, nil
}

// printable reports whether b is UTF-8 text without control characters
// other than tab, newline and carriage return.
func printable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0x7f {
			return false
		}
	}
	return true
}
