package event

import (
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/google/uuid"
)

// SpecVersion is the CloudEvents version Herald writes.
const SpecVersion = "1.0"

// Event is one CloudEvents 1.0 event plus Herald's extensions.
//
// The zero value is not valid; use New, or fill ID, Source and Type.
// An Event is a value: copying it copies the attributes, but Data and
// Extensions are shared until replaced, so treat them as read-only once an
// event is published or handed to a handler.
type Event struct {
	// Required CloudEvents attributes.
	ID          string // unique per source; New uses a UUIDv7
	Source      string // URI-reference of the producer, e.g. "/orders"
	Type        string // reverse-DNS type, e.g. "com.example.order.created"
	SpecVersion string // "1.0"; empty means SpecVersion

	// Optional CloudEvents attributes.
	Time            time.Time // when it happened; zero if unknown
	Subject         string
	DataContentType string // MIME type of Data, e.g. "application/json"
	DataSchema      string // URI of the schema Data follows

	// Herald's extensions.
	CorrelationID string // the id shared by every event of one flow
	CausationID   string // the id of the event that caused this one
	SchemaVersion string // version of the data's schema, if versioned

	// Extensions holds other CloudEvents extension attributes, keyed by
	// their lowercase alphanumeric names.
	Extensions map[string]string

	// Key is the Kafka record key: events with equal keys keep their order.
	// It is not a CloudEvents attribute.
	Key string

	// Data is the payload, encoded as DataContentType says.
	Data []byte
}

// New returns an event with a new UUIDv7 id, the current time (UTC, to the
// millisecond) and the given source, type and data.
func New(source, typ string, data []byte) Event {
	return Event{
		ID:          NewID(),
		Source:      source,
		Type:        typ,
		SpecVersion: SpecVersion,
		Time:        time.Now().UTC().Truncate(time.Millisecond),
		Data:        data,
	}
}

// NewID returns a new UUIDv7 string: unique, and ordered by creation time.
func NewID() string {
	id, err := uuid.NewV7()
	if err != nil {
		// NewV7 fails only when the system's random source fails.
		return uuid.NewString()
	}
	return id.String()
}

// Validate reports every missing required attribute and every malformed
// extension name, joined.
func (e Event) Validate() error {
	var errs []error
	if e.ID == "" {
		errs = append(errs, errors.New("event: id is empty"))
	}
	if e.Source == "" {
		errs = append(errs, errors.New("event: source is empty"))
	}
	if e.Type == "" {
		errs = append(errs, errors.New("event: type is empty"))
	}
	if e.SpecVersion != "" && e.SpecVersion != SpecVersion {
		errs = append(errs, fmt.Errorf("event: unsupported specversion %q", e.SpecVersion))
	}
	for name := range e.Extensions {
		if !validExtName(name) {
			errs = append(errs, fmt.Errorf("event: extension name %q is not lowercase alphanumeric", name))
		}
		if isReserved(name) {
			errs = append(errs, fmt.Errorf("event: extension name %q is reserved", name))
		}
	}
	return errors.Join(errs...)
}

// Caused returns e with its correlation and causation ids set from parent:
// the correlation id carries over (or is the parent's id if the parent has
// none), and the causation id is the parent's id. Ids already set on e are
// kept.
func (e Event) Caused(parent Event) Event {
	if e.CorrelationID == "" {
		e.CorrelationID = parent.CorrelationID
		if e.CorrelationID == "" {
			e.CorrelationID = parent.ID
		}
	}
	if e.CausationID == "" {
		e.CausationID = parent.ID
	}
	return e
}

// WithExtension returns e with extension name set to value. The map is
// copied, so the original event is not changed.
func (e Event) WithExtension(name, value string) Event {
	ext := make(map[string]string, len(e.Extensions)+1)
	maps.Copy(ext, e.Extensions)
	ext[name] = value
	e.Extensions = ext
	return e
}

func validExtName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
