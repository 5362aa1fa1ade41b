package registry

import (
	"fmt"
	"sync"

	"github.com/heraldhq/herald/registry/avro"
	"github.com/heraldhq/herald/registry/compat"
	"github.com/heraldhq/herald/registry/jsonschema"
	"github.com/heraldhq/herald/registry/protobuf"
)

// format is what the registry needs from a schema type.
type format interface {
	// parse validates text with its resolved references.
	parse(text string, refs []compat.Ref) (any, error)
	// check reports why reader cannot read data written with writer.
	check(reader, writer any) []compat.Issue
	// canonical is the text with insignificant differences removed.
	canonical(text string) string
}

type avroFormat struct{}

func (avroFormat) parse(text string, refs []compat.Ref) (any, error) { return avro.Parse(text, refs) }
func (avroFormat) check(r, w any) []compat.Issue {
	return avro.Check(r.(*avro.Schema), w.(*avro.Schema))
}
func (avroFormat) canonical(text string) string { return avro.Canonical(text) }

type jsonFormat struct{ lenient bool }

func (jsonFormat) parse(text string, refs []compat.Ref) (any, error) {
	return jsonschema.Parse(text, refs)
}

func (f jsonFormat) check(r, w any) []compat.Issue {
	return jsonschema.Check(r.(*jsonschema.Schema), w.(*jsonschema.Schema), jsonschema.Options{Lenient: f.lenient})
}

func (jsonFormat) canonical(text string) string { return jsonschema.Canonical(text) }

type protoFormat struct{}

func (protoFormat) parse(text string, refs []compat.Ref) (any, error) {
	return protobuf.Parse(text, refs)
}

func (protoFormat) check(r, w any) []compat.Issue {
	return protobuf.Check(r.(*protobuf.Schema), w.(*protobuf.Schema))
}

func (protoFormat) canonical(text string) string { return protobuf.Canonical(text) }

func (s *Server) format(typ string) (format, error) {
	f, ok := s.formats[typ]
	if !ok {
		return nil, fmt.Errorf("unknown schema type %q", typ)
	}
	return f, nil
}

func (s *Server) canonical(typ, text string) string {
	f, err := s.format(typ)
	if err != nil {
		return text
	}
	return f.canonical(text)
}

func (s *Server) canonicalOf(c *content) string { return s.canonical(c.typ, c.text) }

// parsedCache keeps parsed schemas by id; an id's content never changes.
type parsedCache struct {
	mu sync.Mutex
	m  map[int]any
}

func (c *parsedCache) get(id int) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.m[id]
	return p, ok
}

func (c *parsedCache) put(id int, p any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[int]any{}
	}
	c.m[id] = p
}
