package metadata

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/heraldhq/herald/internal/vfs"
)

// TestBrokerConfigsReplay: set_broker_configs and set_group_configs
// records survive a reopen (a record replaces its scope or group, an
// empty one removes it), the snapshot holds them, and the rewrite of a
// long log keeps them.
func TestBrokerConfigsReplay(t *testing.T) {
	dir := t.TempDir()
	ml, _, err := Open(vfs.Default, dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	set := func(scope string, kv ...string) Record {
		c := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			c[kv[i]] = kv[i+1]
		}
		return Record{Type: SetBrokerConfigs, BrokerConfigs: &BrokerConfigs{Scope: scope, Configs: c}}
	}
	for _, r := range []Record{
		set("", "num.partitions", "3", "auto.create.topics.enable", "false"),
		set("1", "num.partitions", "5"),
		set("2", "num.partitions", "7"),
		set("", "num.partitions", "4"),
		set("2"),
		{Type: SetGroupConfigs, GroupConfigs: &GroupConfigs{Group: "g", Configs: map[string]string{"consumer.session.timeout.ms": "50000"}}},
		{Type: SetGroupConfigs, GroupConfigs: &GroupConfigs{Group: "gone", Configs: map[string]string{"consumer.session.timeout.ms": "50000"}}},
		{Type: SetGroupConfigs, GroupConfigs: &GroupConfigs{Group: "gone"}},
	} {
		if err := ml.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]map[string]string{"": {"num.partitions": "4"}, "1": {"num.partitions": "5"}}
	wantGroups := map[string]map[string]string{"g": {"consumer.session.timeout.ms": "50000"}}
	check := func(what string, got map[string]map[string]string, groups ...map[string]map[string]string) {
		t.Helper()
		if !equalBrokerConfigs(got, want) {
			t.Fatalf("%s broker configs %v, want %v", what, got, want)
		}
		for _, g := range groups {
			if !equalBrokerConfigs(g, wantGroups) {
				t.Fatalf("%s group configs %v, want %v", what, g, wantGroups)
			}
		}
	}
	check("live", ml.BrokerConfigs(), ml.GroupConfigs())
	ml.Close()
	ml, st, err := Open(vfs.Default, dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	check("replayed", st.BrokerConfigs, st.GroupConfigs)
	for i := 0; i < compactSlack+2; i++ {
		if err := ml.Append(set("9", "num.partitions", "1")); err != nil {
			t.Fatal(err)
		}
		if err := ml.Append(set("9")); err != nil {
			t.Fatal(err)
		}
	}
	ml.Close()
	before, _ := os.Stat(filepath.Join(dir, FileName))
	ml, st, err = Open(vfs.Default, dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(filepath.Join(dir, FileName))
	if after.Size() >= before.Size() {
		t.Fatalf("log was not rewritten: %d bytes before, %d after", before.Size(), after.Size())
	}
	check("after the rewrite", st.BrokerConfigs, st.GroupConfigs)
	snap, err := os.ReadFile(filepath.Join(dir, SnapshotName))
	if err != nil {
		t.Fatal(err)
	}
	s, err := decodeSnapshot(snap)
	if err != nil {
		t.Fatal(err)
	}
	check("snapshot", s.state().BrokerConfigs, s.state().GroupConfigs)
	// The rewritten log alone rebuilds them.
	ml.Close()
	if err := os.Remove(filepath.Join(dir, SnapshotName)); err != nil {
		t.Fatal(err)
	}
	ml, st, err = Open(vfs.Default, dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer ml.Close()
	check("replayed from the rewritten log", st.BrokerConfigs, st.GroupConfigs)
}
