// Package heraldtest starts an in-process Herald broker, and optionally
// its schema registry, for tests: a random free port on 127.0.0.1 and a
// temporary data dir, closed when the test ends. It is the broker a
// module that uses Herald's SDK tests against; every option and method
// uses only public types.
//
//	func TestOrders(t *testing.T) {
//		b := heraldtest.NewBroker(t,
//			heraldtest.WithDurability("none"),  // no fsync: faster, not crash-safe
//			heraldtest.WithTopics(3, "orders"), // or rely on auto-create (on by default)
//			heraldtest.WithRegistry(),          // a schema registry too
//		)
//		cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
//		...
//		rcl, err := sr.NewClient(sr.URLs(b.RegistryURL()))
//		...
//		b.Restart() // same port, same data: acknowledged records survive
//	}
//
// Outside a test (an Example, a demo program) Start does the same and the
// caller closes the broker:
//
//	b, err := heraldtest.Start(heraldtest.WithTopics(1, "orders"))
//	if err != nil { ... }
//	defer b.Close()
//
// Options: WithDurability, WithPartitions (of auto-created topics),
// WithAutoCreate, WithTopics, WithRegistry, WithDataDir, WithLogger,
// WithNodeID, WithInitialRebalanceDelay (0 by default here, so groups form at their
// first join; herald serve waits Kafka's 3s).
// Every option and method uses public types only, so a module outside
// Herald can use all of heraldtest (testdata/usermod does). Herald's own
// tests reach the server config and the running server through
// internal/heraldtestutil.
package heraldtest
