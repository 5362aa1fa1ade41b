// Package broker owns Herald's topics: their partitions (each a
// internal/log.Log in <data-dir>/<topic>-<partition>/), their configs, and
// the metadata log that makes both survive restarts.
//
//	b, err := broker.Open(broker.Config{DataDir: dir, AutoCreateTopics: true})
//	if err != nil { ... }
//	defer b.Close()
//	t, err := b.CreateTopic("orders", 3, map[string]string{"retention.ms": "-1"}, false)
//	res, _, err := t.Partition(0).Append(batch, time.Now()) // then Log.WaitDurable(res) for acks=-1
//
// Lookups (Topic, TopicByID, Topics) read an immutable snapshot and take no
// lock, so the produce and fetch paths never wait for an admin change.
// Changes (create, delete, configs, partitions) are serialized by adminMu:
// each is written to the metadata log and fsynced before the new snapshot is
// published.
//
// Topic configs that take effect: retention.ms, retention.bytes,
// segment.bytes, segment.ms, cleanup.policy, delete.retention.ms,
// index.interval.bytes and herald.durability (handed to the log), and
// max.message.bytes and message.timestamp.type (applied on append). Other
// standard Kafka topic configs are validated and stored but have no effect;
// unknown names are INVALID_CONFIG, as in Kafka.
//
// StartVerify checks every partition's log in the background after start,
// one partition at a time and paced (Log.Verify), and logs each damaged
// range at ERROR with topic, partition, offsets, file and byte range. The
// operator's choice (VerifyConfig.OnCorruption, `herald serve
// --on-corruption`) is "serve": fetches of the damaged offsets answer
// CORRUPT_MESSAGE and everything else serves, or "stop": the broker shuts
// down with the report.
//
// Errors for clients are *Error values carrying a kerr code and a message;
// Code maps any error to the code and message a response needs.
package broker
