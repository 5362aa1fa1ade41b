package cli

import (
	"encoding/json"
	"testing"
)

func TestTopicCommands(t *testing.T) {
	addr := newHerald(t)
	golden(t, "topic_create", ok(t, addr, "", "topic", "create", "orders", "payments", "-p", "3", "-c", "retention.ms=3600000").out)
	golden(t, "topic_list", ok(t, addr, "", "topic", "list").out)

	var list []topicSummary
	if err := json.Unmarshal([]byte(ok(t, addr, "", "topic", "list", "-o", "json").out), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "orders" || list[0].Partitions != 3 {
		t.Fatalf("topic list json: %+v", list)
	}
	ok(t, addr, "a\nb\nc\n", "produce", "orders", "-p", "1")
	golden(t, "topic_alter_config", ok(t, addr, "", "topic", "alter-config", "orders", "--set", "retention.ms=7200000").out)
	golden(t, "topic_add_partitions", ok(t, addr, "", "topic", "add-partitions", "payments", "--num", "2").out)
	golden(t, "topic_describe", normalize(ok(t, addr, "", "topic", "describe", "orders").out, addr))

	var desc []topicDescription
	if err := json.Unmarshal([]byte(ok(t, addr, "", "topic", "describe", "orders", "-o", "json").out), &desc); err != nil {
		t.Fatal(err)
	}
	if p := desc[0].Partitions[1]; p.HighWatermark != 3 || p.LogStart != 0 {
		t.Fatalf("partition 1: %+v, want high watermark 3", p)
	}
	yml := ok(t, addr, "", "topic", "list", "-o", "yaml").out
	if yml != "- name: orders\n  partitions: 3\n  replicas: 1\n- name: payments\n  partitions: 5\n  replicas: 1\n" {
		t.Fatalf("topic list yaml:\n%s", yml)
	}
	golden(t, "topic_delete", ok(t, addr, "", "topic", "delete", "payments").out)
}

func TestTopicErrors(t *testing.T) {
	addr := newHerald(t)
	ok(t, addr, "", "topic", "create", "orders")
	for _, tc := range []struct {
		name string
		args []string
		exp  string
	}{
		{"describe unknown", []string{"topic", "describe", "nope"}, `unknown topic "nope"`},
		{"create exists", []string{"topic", "create", "orders"}, "1 of 1 failed"},
		{"delete unknown", []string{"topic", "delete", "nope"}, "1 of 1 failed"},
		{"bad config", []string{"topic", "create", "x", "-c", "novalue"}, `invalid --config "novalue"`},
		{"alter nothing", []string{"topic", "alter-config", "orders"}, "nothing to change"},
		{"add zero", []string{"topic", "add-partitions", "orders"}, "invalid --num 0"},
		{"bad format", []string{"topic", "list", "-o", "xml"}, `unknown --format "xml"`},
	} {
		t.Run(tc.name, func(t *testing.T) { fails(t, addr, "", tc.exp, tc.args...) })
	}
}

func TestNoBroker(t *testing.T) {
	stderr := fails(t, "127.0.0.1:1", "", "connection refused: is a broker running at 127.0.0.1:1? start one with `herald serve`", "topic", "list")
	golden(t, "no_broker", stderr)
	t.Setenv(brokersEnv, "127.0.0.1:2")
	fails(t, "", "", "is a broker running at 127.0.0.1:2?", "topic", "list")
}
