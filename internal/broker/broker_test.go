package broker

import (
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestValidateTopicName(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		ok   bool
	}{
		{"simple", "orders", true},
		{"all legal chars", "a-Z_0.9", true},
		{"max length", strings.Repeat("x", 249), true},
		{"too long", strings.Repeat("x", 250), false},
		{"empty", "", false},
		{"dot", ".", false},
		{"dotdot", "..", false},
		{"three dots ok", "...", true},
		{"slash", "a/b", false},
		{"space", "a b", false},
		{"unicode", "ordérs", false},
		{"nul", "a\x00", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateTopicName(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("ValidateTopicName(%q) = %v, want ok=%v", tc.in, err, tc.ok)
			}
			if err != nil && !errors.Is(err, kerr.InvalidTopicException) {
				t.Fatalf("error %v is not INVALID_TOPIC_EXCEPTION", err)
			}
		})
	}
}

func TestValidateConfigs(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   map[string]string
		ok   bool
	}{
		{"none", nil, true},
		{"retention forever", map[string]string{"retention.ms": "-1"}, true},
		{"retention below -1", map[string]string{"retention.ms": "-2"}, false},
		{"retention not a number", map[string]string{"retention.ms": "1d"}, false},
		{"compact,delete", map[string]string{"cleanup.policy": "compact,delete"}, true},
		{"bad policy", map[string]string{"cleanup.policy": "compact,keep"}, false},
		{"empty policy", map[string]string{"cleanup.policy": ""}, false},
		{"log append time", map[string]string{"message.timestamp.type": "LogAppendTime"}, true},
		{"bad timestamp type", map[string]string{"message.timestamp.type": "Now"}, false},
		{"max message bytes", map[string]string{"max.message.bytes": "100"}, true},
		{"max message bytes overflow", map[string]string{"max.message.bytes": "4294967296"}, false},
		{"segment bytes tiny", map[string]string{"segment.bytes": "10"}, false},
		{"durability interval", map[string]string{DurabilityConfig: "interval=200ms"}, true},
		{"durability bad", map[string]string{DurabilityConfig: "sometimes"}, false},
		{"unknown", map[string]string{"retention.days": "1"}, false},
		{"accepted no-effect", map[string]string{"min.insync.replicas": "2", "compression.type": "zstd"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateConfigs(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("ValidateConfigs(%v) = %v, want ok=%v", tc.in, err, tc.ok)
			}
			if err != nil && !errors.Is(err, kerr.InvalidConfig) {
				t.Fatalf("error %v is not INVALID_CONFIG", err)
			}
		})
	}
}

func TestConfigTableSorted(t *testing.T) {
	for i := 1; i < len(topicConfigs); i++ {
		if topicConfigs[i-1].name >= topicConfigs[i].name {
			t.Fatalf("topicConfigs not sorted at %q", topicConfigs[i].name)
		}
	}
	for _, d := range topicConfigs {
		if d.name != DurabilityConfig {
			if err := d.check(d.def); err != nil {
				t.Errorf("default %q of %s is invalid: %v", d.def, d.name, err)
			}
		}
	}
}

func TestEditList(t *testing.T) {
	for _, tc := range []struct {
		cur, change string
		add         bool
		exp         string
	}{
		{"delete", "compact", true, "delete,compact"},
		{"delete,compact", "compact", true, "delete,compact"},
		{"delete,compact", "delete", false, "compact"},
		{"delete", "compact", false, "delete"},
	} {
		if got := editList(tc.cur, tc.change, tc.add); got != tc.exp {
			t.Errorf("editList(%q, %q, %v) = %q, want %q", tc.cur, tc.change, tc.add, got, tc.exp)
		}
	}
}

func openTest(t *testing.T, dir string) *Broker {
	t.Helper()
	b, err := Open(Config{DataDir: dir, Durability: "none", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMetadataSurvivesReopen changes topics in every way the metadata log
// records and checks a reopened broker sees the same.
func TestMetadataSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	b := openTest(t, dir)
	a, err := b.CreateTopic("a", 2, map[string]string{"retention.ms": "-1"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.CreateTopic("a", 1, nil, false); !errors.Is(err, kerr.TopicAlreadyExists) {
		t.Fatalf("second create: %v", err)
	}
	if _, err := b.CreateTopic("a.b", 1, nil, false); err != nil {
		t.Fatal(err)
	}
	if _, err := b.CreateTopic("a_b", 1, nil, false); !errors.Is(err, kerr.InvalidTopicException) {
		t.Fatalf("colliding create: %v", err)
	}
	gone, _ := b.CreateTopic("gone", 1, nil, false)
	if err := b.CreatePartitions(a, 5, false); err != nil {
		t.Fatal(err)
	}
	if err := b.CreatePartitions(a, 5, false); !errors.Is(err, kerr.InvalidPartitions) {
		t.Fatalf("same count: %v", err)
	}
	del := "delete"
	ops := []ConfigOp{{Name: "cleanup.policy", Op: kmsg.IncrementalAlterConfigOpAppend, Value: &del}}
	cp := "compact"
	ops = append(ops, ConfigOp{Name: "retention.ms", Op: kmsg.IncrementalAlterConfigOpDelete})
	if err := b.IncrementalAlterConfigs(a, ops, false); err != nil {
		t.Fatal(err)
	}
	if err := b.IncrementalAlterConfigs(a, []ConfigOp{{Name: "cleanup.policy", Op: kmsg.IncrementalAlterConfigOpAppend, Value: &cp}}, false); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteTopic(gone); err != nil {
		t.Fatal(err)
	}
	id, cluster := a.ID, b.ClusterID()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b = openTest(t, dir)
	defer b.Close()
	if b.ClusterID() != cluster {
		t.Fatalf("cluster id %q, want %q", b.ClusterID(), cluster)
	}
	a = b.Topic("a")
	if a == nil || a.ID != id || len(a.Partitions()) != 5 {
		t.Fatalf("topic a after reopen: %+v", a)
	}
	if got := a.Configs(); len(got) != 1 || got["cleanup.policy"] != "delete,compact" {
		t.Fatalf("configs after reopen: %v", got)
	}
	if b.Topic("gone") != nil || b.Topic("a.b") == nil || b.TopicByID(id) != a {
		t.Fatal("wrong topic set after reopen")
	}
	// A deleted topic's name can be reused, starting empty.
	if _, err := b.CreateTopic("gone", 1, nil, false); err != nil {
		t.Fatal(err)
	}
}
