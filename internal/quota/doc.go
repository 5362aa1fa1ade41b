// Package quota is Herald's client quotas (KIP-13, KIP-55, KIP-124,
// KIP-546): byte rates and request time per user and client id, durable
// in the metadata log, described and altered with DescribeClientQuotas
// and AlterClientQuotas (and `herald quota describe|alter`), and enforced
// by the Kafka listener, which throttles a client over its quota.
//
// # Entities and keys
//
// An Entity names a user, a client id, both, or an ip, each by name or
// as the type's default (""; null on the wire). Keys:
//
//	producer_byte_rate        bytes/s of produce requests        enforced
//	consumer_byte_rate        bytes/s of fetch responses         enforced
//	request_percentage        % of one handler thread's time     enforced
//	controller_mutation_rate  partition mutations/s              stored only
//	connection_creation_rate  connections/s (ip entities only)   enforced
//
// A client (user, client id) gets, for each key on its own, the value of
// the first entity in KIP-55's order that sets it:
//
//	(1) user=U, client-id=C            (5) user=<default>, client-id=<default>
//	(2) user=U, client-id=<default>    (6) user=<default>
//	(3) user=U                         (7) client-id=C
//	(4) user=<default>, client-id=C    (8) client-id=<default>
//
// An ip's connection_creation_rate is its own entity's, else the default
// ip entity's (KIP-612); a connection over it waits before it is served.
//
// Its sensor is per the parts Kafka tags the quota metric with: a quota
// from entity 3 or 6 is shared by all of U's client ids, one from 7 or 8
// by all users of C, the others are per (U, C).
//
// # Measuring and throttling
//
// A sensor sums what a client did over Config.WindowNum samples of
// Config.WindowSize (Kafka's quota.window.num 11 and
// quota.window.size.seconds 1). When a request takes it over its limit,
// the throttle time is how long the client must stay idle for the
// average since the oldest sample to come back to the limit (Kafka's
// (rate-limit)/limit × window), capped at the ring's span. Unlike Kafka,
// a young sensor's elapsed time is not padded to num-1 windows, so a new
// client cannot burst ten seconds' worth of quota at once. (Connection
// counts are padded to one window, so a first connection never waits.)
//
// # Use
//
//	m := quota.New(quota.Config{Store: b}) // b: *broker.Broker, the metadata log
//	err := m.Alter([]quota.Alteration{{
//		Entity: quota.Entity{quota.ClientID: "ingest"},
//		Ops:    []quota.Op{{Key: quota.ProducerByteRate, Value: 1 << 20}},
//	}}, false)
//	if m.Active() { // one atomic load: false while no enforced quota is set
//		qc := m.Client(user, clientID) // resolved; keep it while qc.Current(user, clientID)
//		if d := qc.Record(quota.Produce, float64(n), time.Now()); d > 0 {
//			// answer with throttle_time_ms = d, then do not read the
//			// connection for d (KIP-219)
//		}
//	}
//
// # Records
//
// A change is one set_quotas record in the metadata log (see
// metadata.Quota): each entry carries an entity's whole value set, an
// empty set removes the entity. A Manager starts from Store.Quotas.
//
// # Concurrency
//
// All methods are safe for concurrent use. Record and Client read an
// immutable table through one atomic load; Alter holds Manager.mu across
// the store's fsync and then swaps the table, so a change applies to the
// next request. Sensors live in 32 shards by key, each with its own
// mutex; a sensor's own mutex guards its samples. No lock is held across
// another except Manager.mu over the store's append.
package quota
