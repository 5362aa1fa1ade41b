package serde

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/sr"
)

// EncoderOption configures an Encoder.
type EncoderOption func(*encoderConfig)

type encoderConfig struct {
	useLatest bool
}

// AutoRegister registers the schema under the subject (or finds it
// registered already) and encodes with it. The default.
func AutoRegister() EncoderOption { return func(c *encoderConfig) { c.useLatest = false } }

// UseLatest encodes with the subject's latest registered schema; the
// schema passed to Encoder is ignored.
func UseLatest() EncoderOption { return func(c *encoderConfig) { c.useLatest = true } }

// Encoder encodes values with one schema. Safe for concurrent use.
type Encoder struct {
	id int
	c  codec
}

// Encoder returns an Encoder for subject.
func (s *Serde) Encoder(ctx context.Context, subject string, schema sr.Schema, opts ...EncoderOption) (*Encoder, error) {
	var cfg encoderConfig
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.useLatest {
		ss, err := s.cl.SchemaByVersion(ctx, subject, -1)
		if err != nil {
			return nil, fmt.Errorf("serde: latest schema of %s: %w", subject, err)
		}
		return s.encoderFor(ctx, ss.ID, ss.Schema)
	}
	id, err := s.cl.RegisterSchema(ctx, subject, schema, -1, -1)
	if err != nil {
		return nil, fmt.Errorf("serde: register schema under %s: %w", subject, err)
	}
	return s.encoderFor(ctx, id, schema)
}

func (s *Serde) encoderFor(ctx context.Context, id int, schema sr.Schema) (*Encoder, error) {
	c, err := s.newCodec(ctx, schema)
	if err != nil {
		return nil, fmt.Errorf("serde: schema %d: %w", id, err)
	}
	s.mu.Lock()
	if _, ok := s.byID[id]; !ok {
		s.byID[id] = c
	}
	s.mu.Unlock()
	return &Encoder{id: id, c: c}, nil
}

// ID is the schema id the encoder writes.
func (e *Encoder) ID() int { return e.id }

// Encode encodes v: header, message indexes (Protobuf), payload.
func (e *Encoder) Encode(v any) ([]byte, error) { return e.AppendEncode(nil, v) }

// AppendEncode appends the encoding of v to b.
func (e *Encoder) AppendEncode(b []byte, v any) ([]byte, error) {
	return e.c.appendEncode(AppendHeader(b, e.id), v)
}
