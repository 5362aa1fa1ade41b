package broker

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/heraldhq/herald/internal/records"
)

// TestRegistryTopicRecords: a batch for _schemas is taken only if every
// record is a schema registry record; a refused batch appends nothing.
func TestRegistryTopicRecords(t *testing.T) {
	const schemaKey = `{"keytype":"SCHEMA","subject":"s","version":1,"magic":1}`
	for _, tc := range []struct {
		name       string
		key, value string // value "-" is null
		ok         bool
	}{
		{"schema", schemaKey, `{"subject":"s","version":1,"id":1,"schema":"\"int\""}`, true},
		{"schema tombstone", schemaKey, "-", true},
		{"config", `{"keytype":"CONFIG","subject":null,"magic":0}`, `{"compatibilityLevel":"NONE"}`, true},
		{"mode", `{"keytype":"MODE","subject":"s","magic":0}`, `{"mode":"READONLY"}`, true},
		{"delete subject", `{"keytype":"DELETE_SUBJECT","subject":"s","magic":0}`, `{"subject":"s","version":1}`, true},
		{"noop", `{"keytype":"NOOP","magic":0}`, "-", true},
		{"id high water", `{"keytype":"ID_HIGH_WATER","magic":0}`, `{"maxId":3}`, true},
		{"key not JSON", "k", "-", false},
		{"unknown keytype", `{"keytype":"OFFSET","magic":0}`, "-", false},
		{"value not an object", `{"keytype":"CONFIG","magic":0}`, `"NONE"`, false},
		{"schema for another subject", schemaKey, `{"subject":"x","version":1,"id":1,"schema":"\"int\""}`, false},
		{"schema for another version", schemaKey, `{"subject":"s","version":2,"id":1,"schema":"\"int\""}`, false},
		{"schema without id", schemaKey, `{"subject":"s","version":1,"schema":"\"int\""}`, false},
		{"schema without schema", schemaKey, `{"subject":"s","version":1,"id":1}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := openTestBroker(t, Config{})
			top, err := b.CreateTopic(RegistryTopic, 1, map[string]string{"cleanup.policy": "compact"}, false)
			if err != nil {
				t.Fatal(err)
			}
			r := records.Record{Key: []byte(tc.key)}
			if tc.value != "-" {
				r.Value = []byte(tc.value)
			}
			// A good record first: one bad record refuses the whole batch.
			good := records.Record{Key: []byte(`{"keytype":"NOOP","magic":0}`)}
			batch := records.BuildBatch(records.BatchSpec{BaseTimestamp: 1, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, good, r)
			p := top.Partition(0)
			_, err = p.Append(batch, time.Now(), AckAll)
			if tc.ok != (err == nil) {
				t.Fatalf("Append = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, kerr.InvalidRecord) {
				t.Fatalf("Append = %v, want INVALID_RECORD", err)
			}
			if !tc.ok && p.log.LogEndOffset() != 0 {
				t.Fatalf("refused batch appended: log end offset %d", p.log.LogEndOffset())
			}
		})
	}
}

func TestRefuseProtected(t *testing.T) {
	for _, name := range []string{"__consumer_offsets", "__transaction_state", "__share_group_state", "_schemas"} {
		if err := RefuseProtected(name, "delete"); !errors.Is(err, kerr.InvalidTopicException) {
			t.Errorf("RefuseProtected(%s) = %v, want INVALID_TOPIC_EXCEPTION", name, err)
		}
	}
	if err := RefuseProtected("orders", "delete"); err != nil {
		t.Errorf("RefuseProtected(orders) = %v", err)
	}
	if err := RefuseProduce("_schemas"); err != nil {
		t.Errorf("RefuseProduce(_schemas) = %v: the registry produces to it", err)
	}
	for _, name := range []string{"__consumer_offsets", "__share_group_state"} {
		if err := RefuseProduce(name); !errors.Is(err, kerr.InvalidTopicException) {
			t.Errorf("RefuseProduce(%s) = %v, want INVALID_TOPIC_EXCEPTION", name, err)
		}
	}
}
