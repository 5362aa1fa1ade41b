package event

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Header names of the CloudEvents Kafka protocol binding, binary mode.
// Part of the wire format; do not change.
const (
	HeaderPrefix        = "ce_"
	HeaderSpecVersion   = "ce_specversion"
	HeaderID            = "ce_id"
	HeaderSource        = "ce_source"
	HeaderType          = "ce_type"
	HeaderTime          = "ce_time"
	HeaderSubject       = "ce_subject"
	HeaderDataSchema    = "ce_dataschema"
	HeaderContentType   = "content-type"
	HeaderCorrelationID = "ce_correlationid"
	HeaderCausationID   = "ce_causationid"
	HeaderSchemaVersion = "ce_schemaversion"
)

// Extension names of Herald's own attributes. Part of the wire format.
const (
	ExtCorrelationID = "correlationid"
	ExtCausationID   = "causationid"
	ExtSchemaVersion = "schemaversion"
)

// StructuredContentType is the content-type of a structured-mode event.
const StructuredContentType = "application/cloudevents+json"

// ErrNotEvent means a record carries no CloudEvents attributes in either
// binary or structured mode.
var ErrNotEvent = errors.New("event: record is not a CloudEvent")

// DecodeError is returned when a record claims to be an event but an
// attribute cannot be read.
type DecodeError struct {
	Attribute string
	Err       error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("event: decode %s: %v", e.Attribute, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// Headers returns the event's attributes as Kafka headers in the
// CloudEvents binary binding:
//
//	ce_specversion: 1.0
//	ce_id:          0190f0c2-...        (UUIDv7)
//	ce_source:      /orders
//	ce_type:        com.example.order.created
//	ce_time:        2024-07-01T12:00:00.123Z   (RFC 3339)
//	ce_subject, ce_dataschema                 (when set)
//	content-type:   application/json           (datacontenttype)
//	ce_correlationid, ce_causationid, ce_schemaversion, ce_<ext>
//
// Empty optional attributes are left out.
func (e Event) Headers() []kgo.RecordHeader {
	hs := make([]kgo.RecordHeader, 0, 8+len(e.Extensions))
	for k, v := range e.Attributes {
		hs = append(hs, kgo.RecordHeader{Key: k, Value: []byte(v)})
	}
	return hs
}

// Attributes yields e's attributes as the headers of binary mode do,
// key and value, in Headers' order, without allocating (but for the
// time's text): the attributes that are set, with SpecVersion defaulted.
func (e Event) Attributes(yield func(key, value string) bool) {
	spec := e.SpecVersion
	if spec == "" {
		spec = SpecVersion
	}
	for _, kv := range [...]struct{ k, v string }{{HeaderSpecVersion, spec}, {HeaderID, e.ID}, {HeaderSource, e.Source}, {HeaderType, e.Type}} {
		if kv.v != "" && !yield(kv.k, kv.v) {
			return
		}
	}
	if !e.Time.IsZero() && !yield(HeaderTime, e.Time.Format(time.RFC3339Nano)) {
		return
	}
	for _, kv := range [...]struct{ k, v string }{{HeaderSubject, e.Subject}, {HeaderDataSchema, e.DataSchema},
		{HeaderContentType, e.DataContentType}, {HeaderCorrelationID, e.CorrelationID}, {HeaderCausationID, e.CausationID},
		{HeaderSchemaVersion, e.SchemaVersion}} {
		if kv.v != "" && !yield(kv.k, kv.v) {
			return
		}
	}
	for k, v := range e.Extensions {
		if v != "" && !yield(HeaderPrefix+k, v) {
			return
		}
	}
}

// Record returns a Kafka record for topic carrying e in binary mode: the
// key is e.Key, the value e.Data, the attributes headers.
func (e Event) Record(topic string) *kgo.Record {
	r := &kgo.Record{Topic: topic, Value: e.Data, Headers: e.Headers()}
	if e.Key != "" {
		r.Key = []byte(e.Key)
	}
	return r
}

// FromRecord reads the event a record carries, in binary mode (ce_*
// headers) or structured mode (content-type application/cloudevents+json).
// It returns ErrNotEvent for a record with neither. Headers that are not
// CloudEvents attributes are ignored; Key is the record key.
func FromRecord(r *kgo.Record) (Event, error) {
	// The attributes are strings: copy the values that are attributes,
	// and the key, into one string and slice it, one allocation instead
	// of one per attribute.
	n := len(r.Key)
	for _, h := range r.Headers {
		if isAttrHeader(h.Key) {
			n += len(h.Value)
		}
	}
	var b strings.Builder
	b.Grow(n)
	b.Write(r.Key)
	for _, h := range r.Headers {
		if isAttrHeader(h.Key) {
			b.Write(h.Value)
		}
	}
	all := b.String()
	var small [16]Header
	hs := small[:0]
	key, off := all[:len(r.Key)], len(r.Key)
	for _, h := range r.Headers {
		if isAttrHeader(h.Key) {
			hs = append(hs, Header{Key: h.Key, Value: all[off : off+len(h.Value)]})
			off += len(h.Value)
		}
	}
	return FromHeaders(key, hs, r.Value)
}

// Header is one header of the binary binding as text, the form a store
// that keeps an event's attributes as strings reads them back in.
type Header struct {
	Key, Value string
}

// FromHeaders reads the event that binary-mode headers hs carry, with
// the record's key and value given apart: FromRecord for headers held as
// strings. The event's attributes share the strings of hs (no copy), so a
// caller that slices hs out of one stored string allocates nothing per
// attribute. hs itself is not retained. Headers that are not CloudEvents
// attributes are ignored; a structured-mode content-type reads the event
// from data.
func FromHeaders(key string, hs []Header, data []byte) (Event, error) {
	if ct := headerValue(hs, HeaderContentType); isStructured(ct) {
		e, err := UnmarshalStructured(data)
		e.Key = key
		return e, err
	}
	if headerValue(hs, HeaderSpecVersion) == "" && headerValue(hs, HeaderID) == "" {
		return Event{}, ErrNotEvent
	}
	e := Event{Key: key, Data: data}
	for _, h := range hs {
		if err := e.setHeader(h.Key, h.Value); err != nil {
			return e, err
		}
	}
	return e, nil
}

// isAttrHeader reports whether FromHeaders reads header k.
func isAttrHeader(k string) bool {
	return k == HeaderContentType || strings.HasPrefix(k, HeaderPrefix)
}

func (e *Event) setHeader(k, v string) error {
	switch k {
	case HeaderContentType:
		e.DataContentType = v
		return nil
	case HeaderTime:
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return &DecodeError{Attribute: "time", Err: err}
		}
		e.Time = t
		return nil
	}
	name, ok := strings.CutPrefix(k, HeaderPrefix)
	if !ok {
		return nil
	}
	e.setAttr(name, v)
	return nil
}

// setAttr sets a context attribute other than time by its CloudEvents name.
func (e *Event) setAttr(name, v string) {
	switch name {
	case "specversion":
		e.SpecVersion = v
	case "id":
		e.ID = v
	case "source":
		e.Source = v
	case "type":
		e.Type = v
	case "subject":
		e.Subject = v
	case "dataschema":
		e.DataSchema = v
	case "datacontenttype":
		e.DataContentType = v
	case ExtCorrelationID:
		e.CorrelationID = v
	case ExtCausationID:
		e.CausationID = v
	case ExtSchemaVersion:
		e.SchemaVersion = v
	default:
		if e.Extensions == nil {
			e.Extensions = make(map[string]string)
		}
		e.Extensions[name] = v
	}
}

func isReserved(name string) bool {
	switch name {
	case "specversion", "id", "source", "type", "subject", "dataschema",
		"datacontenttype", "time", "data", "data_base64",
		ExtCorrelationID, ExtCausationID, ExtSchemaVersion:
		return true
	}
	return false
}

func isStructured(ct string) bool {
	if ct == "" || !maybeStructured(ct) {
		return false
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == StructuredContentType
}

// maybeStructured is false for a content type that cannot be the
// structured one, without parsing it (mime.ParseMediaType allocates its
// parameter map on every call, and binary-mode events are the common
// case): an ASCII value whose media type does not start with
// application/cloudevents+json in any case. Other values get the full
// parse.
func maybeStructured(ct string) bool {
	for i := 0; i < len(ct); i++ {
		if ct[i] >= 0x80 {
			return true
		}
	}
	ct = strings.TrimSpace(ct)
	return len(ct) >= len(StructuredContentType) && strings.EqualFold(ct[:len(StructuredContentType)], StructuredContentType)
}

func headerValue(hs []Header, k string) string {
	for _, h := range hs {
		if h.Key == k {
			return h.Value
		}
	}
	return ""
}

// MarshalStructured encodes e in the CloudEvents JSON format (structured
// mode). JSON data is embedded as is; other data goes in data_base64.
func MarshalStructured(e Event) ([]byte, error) {
	m := map[string]any{}
	for k, v := range e.Extensions {
		m[k] = v
	}
	spec := e.SpecVersion
	if spec == "" {
		spec = SpecVersion
	}
	set := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	set("specversion", spec)
	set("id", e.ID)
	set("source", e.Source)
	set("type", e.Type)
	set("subject", e.Subject)
	set("dataschema", e.DataSchema)
	set("datacontenttype", e.DataContentType)
	set(ExtCorrelationID, e.CorrelationID)
	set(ExtCausationID, e.CausationID)
	set(ExtSchemaVersion, e.SchemaVersion)
	if !e.Time.IsZero() {
		m["time"] = e.Time.Format(time.RFC3339Nano)
	}
	if e.Data != nil {
		if isJSON(e.DataContentType) && json.Valid(e.Data) {
			m["data"] = json.RawMessage(e.Data)
		} else {
			m["data_base64"] = base64.StdEncoding.EncodeToString(e.Data)
		}
	}
	return json.Marshal(m)
}

// UnmarshalStructured decodes an event in the CloudEvents JSON format.
func UnmarshalStructured(b []byte) (Event, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return Event{}, &DecodeError{Attribute: "structured event", Err: err}
	}
	var e Event
	for k, raw := range m {
		if err := e.setStructured(k, raw); err != nil {
			return e, err
		}
	}
	if e.ID == "" && e.SpecVersion == "" {
		return e, ErrNotEvent
	}
	return e, nil
}

func (e *Event) setStructured(k string, raw json.RawMessage) error {
	switch k {
	case "data":
		if string(raw) != "null" {
			e.Data = []byte(raw)
		}
		return nil
	case "data_base64":
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return &DecodeError{Attribute: k, Err: err}
		}
		d, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return &DecodeError{Attribute: k, Err: err}
		}
		e.Data = d
		return nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		// Extensions may be numbers or booleans; keep their JSON text.
		s = string(raw)
	}
	if k == "time" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return &DecodeError{Attribute: "time", Err: err}
		}
		e.Time = t
		return nil
	}
	e.setAttr(k, s)
	return nil
}

func isJSON(ct string) bool {
	if ct == "" {
		return true // CloudEvents: absent datacontenttype means JSON
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json") || mt == "text/json"
}
