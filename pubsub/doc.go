// Package pubsub publishes events and runs handlers for them over Kafka
// consumer groups. It speaks only the Kafka protocol (franz-go's kgo), so
// it runs on the embedded Herald broker and unchanged on any Kafka or
// Redpanda cluster.
//
// # Publishing
//
//	cl, _ := kgo.NewClient(kgo.SeedBrokers("localhost:9092")) // idempotent by default
//	pub := pubsub.NewPublisher(cl, pubsub.WithSource("/orders"))
//	e, err := pub.PublishValue(ctx, "orders", "order.placed", order.ID, order)
//
// Events go out in the CloudEvents Kafka binary binding (see package
// event), keyed by Event.Key so that one key's events stay in order.
//
// # Handling
//
//	metrics, _ := pubsub.NewMetrics(promRegistry)
//	r, err := pubsub.NewRouter(pubsub.RouterConfig{Brokers: seeds, Group: "billing", Metrics: metrics})
//	r.Use(pubsub.Logging(logger), pubsub.Tracing(tp, prop), dedup.Middleware(store))
//	r.Handle("orders", pubsub.Typed(event.JSON, func(ctx context.Context, m *pubsub.Message, o Order) error {
//		_, err := pub.PublishValue(ctx, "payments", "payment.requested", o.ID, Payment{...})
//		return err // correlation id carried over, causation id = the order event's id
//	}))
//	err = r.Run(ctx) // until ctx is cancelled; then a graceful shutdown
//
// Per partition, one key's records are handled one at a time in offset
// order, and different keys concurrently: a lead goroutine takes the
// partition's records in offset order and runs them itself while the
// handler is fast (a few microseconds a record: the cheapest way, one
// goroutine reading the records in the order they lie in memory), and
// hands them to Workers workers, keys spread over them by hash, while it
// is slow or when a call blocks (see lead.go); at most MaxPending records
// per partition are fetched ahead (then its fetching pauses). The committed offset is the lowest
// record not yet handled, so a crash redelivers and never skips.
//
// A failed attempt is retried after an exponential backoff with jitter;
// only the failing key waits, other keys flow. A Transient error (a
// dependency is down: network, 5xx, a schema registry that cannot be
// reached, an open circuit breaker) is retried the same way but does not
// count as an attempt, so an outage never dead-letters good messages.
// After MaxAttempts failed attempts (or at once for a Permanent error:
// bad data, bad schema) the record goes to the dead-letter topic
// (topic + ".dlq" by default) with these headers added:
//
//	dlq_error      the error text        dlq_partition  origin partition
//	dlq_attempts   attempts made         dlq_offset     origin offset
//	dlq_topic      origin topic          dlq_group      consumer group
//	dlq_time       RFC 3339              dlq_redrives   times re-driven before
//
// Middleware for failing dependencies and pacing, each a Middleware for
// Router.Use (the whole router) or Handle (one handler):
//
//	pubsub.Timeout(5*time.Second)             // deadline per attempt; late = failed attempt
//	pubsub.Throttle(100, 10)                  // token bucket: 100 attempts/s, bursts of 10
//	pubsub.CircuitBreaker(5, 30*time.Second)  // open after 5 failures in a row, trial after 30s
//	pubsub.Delay(time.Minute)                 // not before the record's timestamp + 1m
//
// An open circuit and an early message (Delay) fail the attempt
// transiently, so the key waits, parked, and nothing is dead-lettered for
// them; put Delay first in Use so that Logging and Metrics do not count
// its waits as failures.
//
// Redrive publishes dead letters back to their origin topics. A handler
// panic is recovered and counts as a failed attempt.
//
// # Dispatch by event type
//
// A topic that carries several event types is dispatched by CloudEvents
// type to typed handlers, the data decoded with RouterConfig.Codec:
//
//	pubsub.On(r, "orders", "order.placed", func(ctx context.Context, o OrderPlaced) error { ... })
//	pubsub.On(r, "orders", "order.cancelled", func(ctx context.Context, o OrderCancelled) error { ... })
//
// An event of a type with no handler is skipped (SkipUnknown, the default;
// counted in herald_pubsub_skipped_total) or dead-lettered at once
// (DeadLetterUnknown), as RouterConfig.UnknownType says. Data that does
// not decode is a permanent failure, dead-lettered at once: with an
// event/crypt codec that includes an event whose key the router's
// keyring lacks, was shredded, or whose ciphertext was tampered with
// (the dlq_error header says which); errors marked transient (a schema
// registry or KMS out of reach) are retried.
//
// # Commands and request/reply
//
// A CommandBus sends commands (events that ask for something) to the
// topic of their type; HandleRequest handles them and replies; a
// Requester sends them and waits for the reply, matched by command id,
// on a reply topic that several instances may share:
//
//	bus := pubsub.NewCommandBus(pub, nil) // topic = command type
//	pubsub.HandleRequest(r, pub, "billing.charge", "billing.charge", func(ctx context.Context, c Charge) (Receipt, error) { ... })
//	q, _ := pubsub.NewRequester(ctx, bus, pubsub.RequesterConfig{Brokers: seeds, ReplyTopic: "shop.replies"})
//	receipt, err := pubsub.Request[Receipt](ctx, q, "billing.charge", order.ID, Charge{...}) // ErrRequestTimeout, *RemoteError
//
// # Metrics and tracing
//
// RouterConfig.Metrics records handled, failed, retried, skipped,
// deduplicated, dead-lettered and in-flight messages, handler latency and
// a lag gauge per partition (see Metrics). Tracing starts a consumer span
// per attempt, the child of the producer span whose context the record
// carries (a Publisher WithTracerProvider, or the outbox relay, makes
// them), so one trace runs from the request that wrote the outbox row to
// every consumer, retries included.
//
// # Attempts across restarts
//
// Attempt counts survive restarts and rebalances: they are kept in the
// metadata string of each partition's committed offset (format in
// attempts.go), so they move with the offset to whichever member gets the
// partition, on any Kafka cluster, with no store of their own. Retry
// topics (Spring Kafka, Uber) were the other choice; they give up the
// per-key order this router keeps, and still lose count of a message that
// crashes the process, since a crash reports no failure.
//
//   - A failed attempt's count is committed with the next commit (every
//     CommitInterval, and at revoke and shutdown), so a stopped or
//     rebalanced router's successor goes on from it (Message.Attempt).
//   - Before it hands a record past its dispatch mark to a handler, the
//     router commits a new mark (PollRecords ahead). It commits the next
//     one in the background when half of that is used, so that the poll
//     loop does not wait for it; a batch that outruns the commit is held
//     until the mark covers it (other partitions and fetching go on). A
//     clean stop clears the mark.
//   - A successor that finds a mark (its predecessor crashed, was killed,
//     or lost the partition with a handler running) treats the records up
//     to it as suspects: until they are handled, the partition's lead
//     runs its records itself, one at a time, and the count of each attempt on a
//     suspect is committed before the attempt begins. A suspect with no
//     count is taken to have had one attempt (the predecessor may have
//     been in it), but always gets at least one attempt here.
//   - A record whose counted attempts reach MaxAttempts without the last
//     one ever ending is dead-lettered with the error "the last attempts
//     did not finish".
//
// So a message that crashes the process (or keeps its handler past
// Timeout; the attempt fails) reaches the dead-letter topic after
// MaxAttempts attempts (MaxAttempts 1: 2, as the first crash is not told
// from an innocent record). Costs: one commit round trip per PollRecords
// records of a partition, and, after an unclean stop only, one commit per
// attempt on a suspect record.
//
// Shutdown (ctx cancelled or Close): fetching stops, in-flight handler
// calls finish (ShutdownTimeout, then their contexts are cancelled),
// offsets are committed, and the router leaves the group.
//
// # Work-queue mode
//
// With RouterConfig.WorkQueue the router joins a share group (KIP-932;
// Herald, or Kafka 4.1+) instead of a consumer group, so that any number
// of routers share one partition and the broker hands each record to one
// of them at a time:
//
//	r, err := pubsub.NewRouter(pubsub.RouterConfig{Brokers: seeds, Group: "resizers", WorkQueue: true, Workers: 32})
//
// Each message is acknowledged on its own: ACCEPT when the handler
// succeeds; RELEASE when it fails, and the broker delivers it again (to
// any router) with its delivery count raised; after MaxAttempts
// deliveries, or at once for a Permanent error, it goes to the
// dead-letter topic and is REJECTed (the broker archives it).
// Message.Attempt is the broker's delivery count, so attempts are counted
// across routers and restarts, and a message that crashes its router is
// counted too. Order per key is NOT kept: records of one key may be
// handled at the same time by different routers. Retries are not delayed
// by Backoff (the broker redelivers at once) and a Transient failure
// counts as a delivery. Keep MaxAttempts at most the group's
// share.delivery.count.limit (5, as MaxAttempts by default). A new group
// starts at the log start: the router sets share.auto.offset.reset to
// earliest unless the group has it set.
package pubsub
