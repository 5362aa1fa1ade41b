package metadata

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/heraldhq/herald/internal/vfs"
)

// TestQuotasReplay: set_quotas records survive a reopen (an entry
// replaces its entity's values, an empty one removes the entity), the
// snapshot holds them, and the rewrite of a long log keeps them.
func TestQuotasReplay(t *testing.T) {
	dir := t.TempDir()
	ml, _, err := Open(vfs.Default, dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	alice := Quota{Entity: map[string]string{"user": "alice", "client-id": ""}, Values: map[string]float64{"producer_byte_rate": 1024}}
	app := Quota{Entity: map[string]string{"client-id": "app"}, Values: map[string]float64{"consumer_byte_rate": 2048}}
	gone := Quota{Entity: map[string]string{"user": "gone"}, Values: map[string]float64{"request_percentage": 5}}
	alice2 := alice
	alice2.Values = map[string]float64{"producer_byte_rate": 4096, "request_percentage": 50}
	for _, r := range []Record{
		{Type: SetQuotas, Quotas: []Quota{alice, app, gone}},
		{Type: SetQuotas, Quotas: []Quota{alice2, {Entity: gone.Entity}}},
	} {
		if err := ml.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	want := []Quota{alice2, app} // by QuotaKey: "client-id=,user=alice" < "client-id=app"
	if got := ml.Quotas(); !equalQuotas(got, want) {
		t.Fatalf("live quotas %+v, want %+v", got, want)
	}
	ml.Close()
	ml, st, err := Open(vfs.Default, dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if !equalQuotas(st.Quotas, want) {
		t.Fatalf("replayed quotas %+v, want %+v", st.Quotas, want)
	}
	for i := 0; i < compactSlack+2; i++ {
		if err := ml.Append(Record{Type: SetQuotas, Quotas: []Quota{gone, {Entity: gone.Entity}}}); err != nil {
			t.Fatal(err)
		}
	}
	ml.Close()
	before, _ := os.Stat(filepath.Join(dir, FileName))
	ml, st, err = Open(vfs.Default, dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { ml.Close() }()
	after, _ := os.Stat(filepath.Join(dir, FileName))
	if after.Size() >= before.Size() {
		t.Fatalf("log was not rewritten: %d bytes before, %d after", before.Size(), after.Size())
	}
	if !equalQuotas(st.Quotas, want) {
		t.Fatalf("quotas after the rewrite %+v, want %+v", st.Quotas, want)
	}
	snap, err := os.ReadFile(filepath.Join(dir, SnapshotName))
	if err != nil {
		t.Fatal(err)
	}
	s, err := decodeSnapshot(snap)
	if err != nil {
		t.Fatal(err)
	}
	if !equalQuotas(s.Quotas, want) {
		t.Fatalf("snapshot quotas %+v, want %+v", s.Quotas, want)
	}
	// The rewritten log alone rebuilds them.
	ml.Close()
	if err := os.Remove(filepath.Join(dir, SnapshotName)); err != nil {
		t.Fatal(err)
	}
	ml, st, err = Open(vfs.Default, dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if !equalQuotas(st.Quotas, want) {
		t.Fatalf("quotas replayed from the rewritten log %+v, want %+v", st.Quotas, want)
	}
}
