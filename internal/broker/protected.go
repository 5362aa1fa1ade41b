package broker

import (
	"encoding/json"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/heraldhq/herald/internal/records"
)

// RegistryTopic is the schema registry's topic (registry.Config.Topic's
// default), which the broker protects like the internal topics.
const RegistryTopic = "_schemas"

// IsProtected reports whether clients may not delete name, delete its
// records or add partitions to it: the internal topics, which only the
// coordinators write (directly to the log, never through Produce), and
// RegistryTopic, whose loss would lose every schema. Kafka protects the
// internal topics the same way (DeleteRecords and Produce are refused by
// its broker, delete by its tools); the coordinators hash group and
// transactional ids over a fixed partition count, and the registry needs
// exactly one partition.
func IsProtected(name string) bool { return IsInternal(name) || name == RegistryTopic }

// RefuseProtected returns INVALID_TOPIC_EXCEPTION when name is protected,
// naming what was refused ("delete", "delete records of", ...); nil
// otherwise.
func RefuseProtected(name, what string) error {
	if !IsProtected(name) {
		return nil
	}
	return kafkaErr(kerr.InvalidTopicException, fmt.Sprintf("clients may not %s %s: it holds Herald's own state", what, name))
}

// RefuseProduce returns Kafka's answer to a Produce to an internal topic:
// INVALID_TOPIC_EXCEPTION ("Cannot append to internal topic"). Only the
// coordinators write there, so a forged offset commit or transaction
// marker cannot reach the log. RegistryTopic stays writable through
// Produce, checked record by record (see checkRegistryRecords).
func RefuseProduce(name string) error {
	if !IsInternal(name) {
		return nil
	}
	return kafkaErr(kerr.InvalidTopicException, "cannot append to internal topic "+name)
}

// registryKeyTypes are the keytypes of RegistryTopic records: Confluent's
// and Herald's ID_HIGH_WATER (registry/store.go has the format).
var registryKeyTypes = map[string]bool{
	"SCHEMA": true, "CONFIG": true, "MODE": true, "DELETE_SUBJECT": true,
	"CLEAR_SUBJECT": true, "NOOP": true, "ID_HIGH_WATER": true,
}

type registryKey struct {
	KeyType string  `json:"keytype"`
	Subject *string `json:"subject"`
	Version int     `json:"version"`
}

type registryValue struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
	ID      int    `json:"id"`
	Schema  string `json:"schema"`
}

// checkRegistryRecords accepts a batch for RegistryTopic only if every
// record is a registry record: a JSON key with a known keytype, and a null
// value or a JSON object (for SCHEMA, one whose subject and version match
// the key's, with an id and a schema).
//
// Why a check and not a refusal: the registry writes its topic through the
// Kafka protocol, embedded in herald serve as much as standalone
// (herald registry --brokers, which must also work against Kafka), and
// without authentication the broker cannot tell the registry from another
// client. So Produce stays open and the broker keeps out what is not a
// registry record: garbage the registry would skip on replay, or a value
// that contradicts its key. A well-formed forged record still gets in;
// closing that needs ACLs (the registry's principal alone may write).
func checkRegistryRecords(b []byte) error {
	if records.Header(b).IsControl() {
		return nil
	}
	it, _, err := records.Decode(b, nil)
	if err != nil {
		return kafkaErr(kerr.InvalidRecord, err.Error())
	}
	for i := 0; it.Next(); i++ {
		r := it.Record()
		if err := checkRegistryRecord(r.Key, r.Value); err != nil {
			return kafkaErr(kerr.InvalidRecord, fmt.Sprintf("record %d is not a schema registry record: %v", i, err))
		}
	}
	if err := it.Err(); err != nil {
		return kafkaErr(kerr.InvalidRecord, err.Error())
	}
	return nil
}

func checkRegistryRecord(key, value []byte) error {
	var k registryKey
	if err := json.Unmarshal(key, &k); err != nil {
		return fmt.Errorf("key is not a JSON object: %w", err)
	}
	if !registryKeyTypes[k.KeyType] {
		return fmt.Errorf("unknown keytype %q", k.KeyType)
	}
	if value == nil {
		return nil
	}
	var v registryValue
	if err := json.Unmarshal(value, &v); err != nil {
		return fmt.Errorf("value is not a JSON object: %w", err)
	}
	if k.KeyType != "SCHEMA" {
		return nil
	}
	switch {
	case k.Subject == nil || v.Subject != *k.Subject || v.Version != k.Version:
		return fmt.Errorf("SCHEMA value names %s version %d, its key another", v.Subject, v.Version)
	case v.ID <= 0:
		return fmt.Errorf("SCHEMA value has id %d", v.ID)
	case v.Schema == "":
		return fmt.Errorf("SCHEMA value has no schema")
	}
	return nil
}
