package srcodec

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/registry/serde"
)

// Content types of the formats. Part of the wire format; do not change.
const (
	ContentTypeAvro     = "application/avro"
	ContentTypeJSON     = "application/json"
	ContentTypeProtobuf = "application/protobuf"
)

// Codec encodes and decodes event data with a schema registry. Safe for
// concurrent use.
type Codec struct {
	cl        *sr.Client
	s         *serde.Serde
	typ       sr.SchemaType
	schema    sr.Schema // registered by Encode; unused with UseLatest
	useLatest bool
	subject   func(topic, eventType string) string
	baseURL   string
	reader    *sr.Schema // the schema Decode reads as; nil: the writer's

	mu   sync.Mutex
	encs map[string]*encoder // by subject
	dec  *serde.Decoder      // for reader, made on the first Decode
}

type encoder struct {
	enc     *serde.Encoder
	version int
	subject string
}

// Option configures a Codec.
type Option func(*Codec)

// Subject sets the subject an event's schema is registered under, from
// the topic and the event type. The default is topic + "-value".
func Subject(f func(topic, eventType string) string) Option {
	return func(c *Codec) { c.subject = f }
}

// RegistryURL makes dataschema an absolute URL under base (the registry's
// address) instead of a path.
func RegistryURL(base string) Option { return func(c *Codec) { c.baseURL = base } }

// ReaderSchema makes Decode read every event's data as schema (the
// schema the program was built for) rather than as the schema it was
// written with: see serde.Decoder for what that means per format. The
// default is AutoRegister's schema; UseLatest codecs have no reader schema
// unless this option gives one.
func ReaderSchema(schema sr.Schema) Option { return func(c *Codec) { c.reader = &schema } }

// WithSerde shares a Serde (and its schema cache) with other users.
func WithSerde(s *serde.Serde) Option { return func(c *Codec) { c.s = s } }

// AutoRegister returns a codec that registers schema under each subject
// it encodes for (or finds it registered already) and encodes with it.
func AutoRegister(cl *sr.Client, schema sr.Schema, opts ...Option) *Codec {
	c := newCodec(cl, schema.Type, append([]Option{ReaderSchema(schema)}, opts...))
	c.schema = schema
	return c
}

// UseLatest returns a codec that encodes with each subject's latest
// schema, of type typ, without registering any. The latest schema is
// looked up once per subject, at its first Encode; make a new Codec to
// pick up a newer one.
func UseLatest(cl *sr.Client, typ sr.SchemaType, opts ...Option) *Codec {
	c := newCodec(cl, typ, opts)
	c.useLatest = true
	return c
}

func newCodec(cl *sr.Client, typ sr.SchemaType, opts []Option) *Codec {
	c := &Codec{cl: cl, typ: typ, encs: make(map[string]*encoder)}
	c.subject = func(topic, _ string) string { return topic + "-value" }
	for _, o := range opts {
		o(c)
	}
	if c.s == nil {
		c.s = serde.New(cl)
	}
	return c
}

// ContentType is the datacontenttype of the codec's format.
func (c *Codec) ContentType() string {
	switch c.typ {
	case sr.TypeJSON:
		return ContentTypeJSON
	case sr.TypeProtobuf:
		return ContentTypeProtobuf
	}
	return ContentTypeAvro
}

// Encode encodes v (a proto.Message for Protobuf) with the schema of the
// subject for topic and typ, registering it or looking it up on the first
// use of the subject.
func (c *Codec) Encode(ctx context.Context, topic, typ string, v any) (event.Encoded, error) {
	enc, err := c.encoder(ctx, c.subject(topic, typ))
	if err != nil {
		return event.Encoded{}, err
	}
	b, err := enc.enc.Encode(v)
	if err != nil {
		return event.Encoded{}, fmt.Errorf("srcodec: encode %s: %w", typ, err)
	}
	return event.Encoded{
		Data:          b,
		ContentType:   c.ContentType(),
		DataSchema:    c.dataSchema(enc.subject, enc.version),
		SchemaVersion: strconv.Itoa(enc.version),
	}, nil
}

// Decode decodes e.Data into v (a pointer for Avro and JSON, a
// proto.Message for Protobuf): written with the schema whose id the data
// carries, read as the codec's reader schema if it has one (see
// ReaderSchema), so fields the writer lacked take the reader's defaults.
// Its errors are *DecodeError, which say whether the failure is transient.
func (c *Codec) Decode(ctx context.Context, e event.Event, v any) error {
	if err := c.decode(ctx, e.Data, v); err != nil {
		return &DecodeError{Type: e.Type, Err: err, transient: isTransient(err)}
	}
	return nil
}

func (c *Codec) decode(ctx context.Context, b []byte, v any) error {
	if c.reader == nil {
		return c.s.Decode(ctx, b, v)
	}
	c.mu.Lock()
	dec := c.dec
	c.mu.Unlock()
	if dec == nil {
		// Two first Decodes may both make one; either is correct.
		var err error
		if dec, err = c.s.Decoder(ctx, *c.reader); err != nil {
			return err
		}
		c.mu.Lock()
		c.dec = dec
		c.mu.Unlock()
	}
	return dec.Decode(ctx, b, v)
}

// DecodeError is a failure of Decode. It is transient when the registry
// could not be asked, not when the data is bad: see Transient.
type DecodeError struct {
	Type      string // the event's type
	Err       error
	transient bool
}

func (e *DecodeError) Error() string { return fmt.Sprintf("srcodec: decode %s: %v", e.Type, e.Err) }
func (e *DecodeError) Unwrap() error { return e.Err }

// Transient reports whether retrying may succeed: the schema could not be
// fetched because of the transport (a network error, a timeout, the
// context) or the registry (5xx, 408, 429, or 401/403, which are the
// consumer's configuration, not the data's). Bytes not in the wire format,
// a schema id the registry says does not exist (404, 40403), a schema that
// does not parse, and data that does not decode with its schema are
// permanent. pubsub.Typed retries a transient error without counting it as
// an attempt, and dead-letters a permanent one at once.
func (e *DecodeError) Transient() bool { return e.transient }

func isTransient(err error) bool {
	var re *sr.ResponseError
	if errors.As(err, &re) {
		switch c := re.StatusCode; {
		case c >= 500, c == http.StatusRequestTimeout, c == http.StatusTooManyRequests,
			c == http.StatusUnauthorized, c == http.StatusForbidden:
			return true
		}
		return false
	}
	var ne net.Error
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne)
}

func (c *Codec) dataSchema(subject string, version int) string {
	return c.baseURL + "/subjects/" + url.PathEscape(subject) + "/versions/" + strconv.Itoa(version)
}

// encoder returns the subject's encoder, making it on first use. Two
// first uses may race to make it; both get a correct one.
func (c *Codec) encoder(ctx context.Context, subject string) (*encoder, error) {
	c.mu.Lock()
	enc := c.encs[subject]
	c.mu.Unlock()
	if enc != nil {
		return enc, nil
	}
	var err error
	if c.useLatest {
		enc, err = c.latest(ctx, subject)
	} else {
		enc, err = c.register(ctx, subject)
	}
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.encs[subject] = enc
	c.mu.Unlock()
	return enc, nil
}

func (c *Codec) register(ctx context.Context, subject string) (*encoder, error) {
	enc, err := c.s.Encoder(ctx, subject, c.schema)
	if err != nil {
		return nil, fmt.Errorf("srcodec: %w", err)
	}
	ss, err := c.cl.LookupSchema(ctx, subject, c.schema)
	if err != nil {
		return nil, fmt.Errorf("srcodec: version of the schema in %s: %w", subject, err)
	}
	return &encoder{enc: enc, version: ss.Version, subject: subject}, nil
}

// latest pairs the latest schema's encoder with its version. The two come
// from two lookups, so it retries if a new version came in between.
func (c *Codec) latest(ctx context.Context, subject string) (*encoder, error) {
	for range 3 {
		enc, err := c.s.Encoder(ctx, subject, sr.Schema{}, serde.UseLatest())
		if err != nil {
			return nil, fmt.Errorf("srcodec: %w", err)
		}
		ss, err := c.cl.SchemaByVersion(ctx, subject, -1)
		if err != nil {
			return nil, fmt.Errorf("srcodec: latest schema of %s: %w", subject, err)
		}
		if ss.Type != c.typ {
			return nil, fmt.Errorf("srcodec: latest schema of %s is %v, not %v", subject, ss.Type, c.typ)
		}
		if ss.ID == enc.ID() {
			return &encoder{enc: enc, version: ss.Version, subject: subject}, nil
		}
	}
	return nil, fmt.Errorf("srcodec: latest schema of %s keeps changing", subject)
}

var _ event.Codec = (*Codec)(nil)
