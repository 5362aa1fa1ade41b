package serde

import (
	"bytes"
	"encoding/json"
	"fmt"

	havro "github.com/hamba/avro/v2"
	js "github.com/santhosh-tekuri/jsonschema/v6"
	"google.golang.org/protobuf/proto"

	"github.com/heraldhq/herald/registry/avro"
	"github.com/heraldhq/herald/registry/compat"
	"github.com/heraldhq/herald/registry/jsonschema"
	"github.com/heraldhq/herald/registry/protobuf"
)

type avroCodec struct{ s havro.Schema }

func newAvroCodec(text string, refs []compat.Ref) (codec, error) {
	p, err := avro.Parse(text, refs)
	if err != nil {
		return nil, err
	}
	return avroCodec{p.Avro}, nil
}

func (c avroCodec) appendEncode(b []byte, v any) ([]byte, error) {
	p, err := havro.Marshal(c.s, v)
	if err != nil {
		return nil, fmt.Errorf("serde: avro encode: %w", err)
	}
	return append(b, p...), nil
}

func (c avroCodec) decode(b []byte, v any) error {
	if err := havro.Unmarshal(c.s, b, v); err != nil {
		return fmt.Errorf("serde: avro decode: %w", err)
	}
	return nil
}

type jsonCodec struct {
	s        *jsonschema.Schema
	validate bool          // on decode
	defaults *jsonDefaults // the reader's, filled in on decode; nil for none
}

func newJSONCodec(text string, refs []compat.Ref, validateOnDecode bool) (codec, error) {
	p, err := jsonschema.Parse(text, refs)
	if err != nil {
		return nil, err
	}
	return jsonCodec{s: p, validate: validateOnDecode}, nil
}

func (c jsonCodec) check(doc []byte) error {
	inst, err := js.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return err
	}
	return c.s.Validate(inst)
}

func (c jsonCodec) appendEncode(b []byte, v any) ([]byte, error) {
	doc, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("serde: json encode: %w", err)
	}
	if err := c.check(doc); err != nil {
		return nil, fmt.Errorf("serde: json value does not match its schema: %w", err)
	}
	return append(b, doc...), nil
}

func (c jsonCodec) decode(b []byte, v any) error {
	if c.validate {
		if err := c.check(b); err != nil {
			return fmt.Errorf("serde: json value does not match its schema: %w", err)
		}
	}
	if c.defaults != nil {
		filled, err := c.defaults.apply(b)
		if err != nil {
			return fmt.Errorf("serde: json decode: %w", err)
		}
		b = filled
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("serde: json decode: %w", err)
	}
	return nil
}

type protoCodec struct{ s *protobuf.Schema }

func newProtoCodec(text string, refs []compat.Ref) (codec, error) {
	p, err := protobuf.Parse(text, refs)
	if err != nil {
		return nil, err
	}
	return protoCodec{p}, nil
}

func (c protoCodec) appendEncode(b []byte, v any) ([]byte, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("%w: %T is not a proto.Message", ErrWrongType, v)
	}
	name := m.ProtoReflect().Descriptor().FullName()
	md := findMessage(c.s, string(name))
	if md == nil {
		return nil, fmt.Errorf("%w: message %s is not in the schema", ErrWrongType, name)
	}
	b = protobuf.AppendIndexes(b, protobuf.Indexes(md))
	return proto.MarshalOptions{}.MarshalAppend(b, m)
}

func (c protoCodec) decode(b []byte, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("%w: %T is not a proto.Message", ErrWrongType, v)
	}
	idx, n, err := protobuf.ReadIndexes(b)
	if err != nil {
		return err
	}
	md, err := protobuf.MessageAt(c.s.File, idx)
	if err != nil {
		return err
	}
	if got := m.ProtoReflect().Descriptor().FullName(); got != md.FullName() {
		return fmt.Errorf("%w: payload is a %s, decoding into a %s", ErrWrongType, md.FullName(), got)
	}
	return proto.Unmarshal(b[n:], m)
}
