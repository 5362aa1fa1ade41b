package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/testenv"
)

// clusterAddr is the cluster testenv picks (make test-cluster: a 3-broker
// kfake whose leaders move), or Herald in process.
func clusterAddr(t *testing.T) string {
	t.Helper()
	if c := testenv.Brokers(t); c.Kind != "" {
		return strings.Join(c.Seeds, ",")
	}
	return newHerald(t)
}

// TestCommandsOnAnyCluster runs the operator's path on whatever cluster
// testenv picks, checking what the commands promise rather than their
// exact output (the golden-file tests pin that on one Herald node):
// create a topic of 6 partitions, produce keyed records, read every one
// back exactly once with each key's order kept, consume as a group and
// see no lag left, and describe the topic's partitions.
func TestCommandsOnAnyCluster(t *testing.T) {
	addr := clusterAddr(t)
	ok(t, addr, "", "topic", "create", "orders", "-p", "6")
	const keys, per = 5, 12
	for k := range keys {
		var in strings.Builder
		for n := range per {
			fmt.Fprintf(&in, "k%d-%d\n", k, n)
		}
		ok(t, addr, in.String(), "produce", "orders", "--key", fmt.Sprintf("k%d", k))
	}

	out := ok(t, addr, "", "consume", "orders", "--from", "beginning", "--count", fmt.Sprint(keys*per), "--format", "json").out
	seen, next := map[string]bool{}, map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r struct{ Key, Value string }
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("consume line %q: %v", line, err)
		}
		if seen[r.Value] {
			t.Fatalf("%s read twice", r.Value)
		}
		seen[r.Value] = true
		if want := fmt.Sprintf("%s-%d", r.Key, next[r.Key]); r.Value != want {
			t.Fatalf("key %s: read %s, want %s (order per key)", r.Key, r.Value, want)
		}
		next[r.Key]++
	}
	if len(seen) != keys*per {
		t.Fatalf("read %d distinct records, want %d", len(seen), keys*per)
	}

	ok(t, addr, "", "consume", "orders", "--group", "billing", "--count", fmt.Sprint(keys*per))
	desc := ok(t, addr, "", "group", "describe", "billing", "-o", "json").out
	var groups []struct {
		TotalLag   int64 `json:"total_lag"`
		Partitions []struct {
			Topic     string `json:"topic"`
			Committed int64  `json:"committed_offset"`
		} `json:"partitions"`
	}
	if err := json.Unmarshal([]byte(desc), &groups); err != nil || len(groups) != 1 {
		t.Fatalf("group describe: %v\n%s", err, desc)
	}
	var committed int64
	for _, p := range groups[0].Partitions {
		if p.Topic == "orders" && p.Committed > 0 {
			committed += p.Committed
		}
	}
	if groups[0].TotalLag != 0 || committed != keys*per {
		t.Fatalf("group billing: lag %d, committed %d of %d records:\n%s", groups[0].TotalLag, committed, keys*per, desc)
	}
	topic := ok(t, addr, "", "topic", "describe", "orders", "-o", "json").out
	if n := strings.Count(topic, `"leader"`); n != 6 {
		t.Fatalf("topic describe shows %d partition leaders, want 6:\n%s", n, topic)
	}
}
