package broker

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/heraldhq/herald/internal/records"
)

// SchemaValidator checks one record value of a topic against the schema
// registry: the value must carry a schema id registered for the topic. The
// registry's Validator implements it. Check must be safe for concurrent
// use and should not allocate when its answer is cached.
type SchemaValidator interface {
	Check(topic string, value []byte) error
}

// SetSchemaValidator installs the validator used for topics with
// herald.schema.validation=true. Until one is set, such topics refuse
// every batch: a check that cannot run must not pass silently.
func (b *Broker) SetSchemaValidator(v SchemaValidator) {
	if v == nil {
		b.schemas.Store(nil)
		return
	}
	b.schemas.Store(&v)
}

// checkSchemas runs the schema validator on every record value of a
// produced batch; a failure rejects the batch with INVALID_RECORD. The
// batch is decompressed for this, so it costs what Kafka's broker-side
// validation costs.
func (t *Topic) checkSchemas(b []byte) error {
	vp := t.schemas.Load()
	if vp == nil {
		return kafkaErr(kerr.InvalidRecord, fmt.Sprintf(
			"topic %s has %s=true but no schema registry is running with this broker", t.Name, SchemaValidationConfig))
	}
	if records.Header(b).IsControl() {
		return nil
	}
	it, _, err := records.Decode(b, nil)
	if err != nil {
		return kafkaErr(kerr.InvalidRecord, err.Error())
	}
	for i := 0; it.Next(); i++ {
		if err := (*vp).Check(t.Name, it.Record().Value); err != nil {
			return kafkaErr(kerr.InvalidRecord, fmt.Sprintf("record %d: %v", i, err))
		}
	}
	if err := it.Err(); err != nil {
		return kafkaErr(kerr.InvalidRecord, err.Error())
	}
	return nil
}
