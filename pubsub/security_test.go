package pubsub_test

import (
	"context"
	"strings"
	"testing"

	"github.com/heraldhq/herald/kafkasec"
	"github.com/heraldhq/herald/pubsub"
)

// TestSecuritySettingsChecked: bad security settings fail at
// construction, naming the field, instead of as connection errors later.
func TestSecuritySettingsChecked(t *testing.T) {
	bad := kafkasec.Config{SASL: kafkasec.SASL{Mechanism: "GSSAPI"}}
	if _, err := pubsub.NewRouter(pubsub.RouterConfig{Brokers: []string{"b:9092"}, Group: "g", Security: bad}); err == nil ||
		!strings.Contains(err.Error(), "RouterConfig.Security") || !strings.Contains(err.Error(), "GSSAPI") {
		t.Fatalf("NewRouter with a bad mechanism: %v", err)
	}
	missing := kafkasec.Config{TLS: kafkasec.TLS{CAFile: t.TempDir() + "/ca.pem"}}
	if _, err := pubsub.NewRouter(pubsub.RouterConfig{Brokers: []string{"b:9092"}, Group: "g", Security: missing}); err == nil ||
		!strings.Contains(err.Error(), "ca.pem") {
		t.Fatalf("NewRouter with a missing CA file: %v", err)
	}
	bus := pubsub.NewCommandBus(pubsub.NewPublisher(nil), nil)
	if _, err := pubsub.NewRequester(context.Background(), bus, pubsub.RequesterConfig{Brokers: []string{"b:9092"}, ReplyTopic: "r", Security: missing}); err == nil ||
		!strings.Contains(err.Error(), "RequesterConfig.Security") {
		t.Fatalf("NewRequester with a missing CA file: %v", err)
	}
}
