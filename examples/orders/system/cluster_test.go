package system_test

import (
	"os"
	"testing"
	"time"

	"github.com/heraldhq/herald/examples/orders/system"
	"github.com/heraldhq/herald/heraldtest"
	"github.com/heraldhq/herald/internal/testenv"
)

// TestEndToEndOnCluster runs a short end-to-end test (HERALD_ORDERS_E2E_N,
// default 100 orders here) with the services on the cluster the
// environment names (the --brokers path of the main program), in the
// choreographed style:
// HERALD_TEST_KFAKE=3 (franz-go's in-memory kfake, three brokers) or
// HERALD_TEST_BROKERS. kfake has no schema registry, so the registry is
// a Herald broker's, started beside it; the system's topics, groups,
// transactions and records are all on the named cluster. Without either
// variable there is no other cluster to run on: TestEndToEnd covers the
// embedded broker.
func TestEndToEndOnCluster(t *testing.T) {
	cluster := testenv.Brokers(t)
	if cluster.Kind == "" {
		t.Skip("no cluster named: set HERALD_TEST_KFAKE=3 or HERALD_TEST_BROKERS")
	}
	reg, err := heraldtest.Start(heraldtest.WithRegistry(), heraldtest.WithDataDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	n := 100
	if os.Getenv("HERALD_ORDERS_E2E_N") != "" {
		n = e2eOrders(t)
	}
	// One saga style: the topics and groups stay on the cluster after a
	// run, and a second run on them would see the first one's records.
	cfg := system.Config{Brokers: cluster.Seeds, RegistryURL: reg.RegistryURL(), PaymentLatency: time.Millisecond,
		PaymentFailureRate: 0.05, Seed: 7, DataDir: t.TempDir(), UnpaidTimeout: unpaidTimeout, ManualFraudClock: true,
		OrderPlacedV2After: n / 2}
	runEndToEnd(t, cfg, n)
}
