package metadata

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/heraldhq/herald/internal/vfs"
)

// TestACLsReplay: ACL records survive a reopen, in order and without
// duplicates; a delete removes exactly its bindings; the snapshot holds
// them too, and the rewrite of a long log (compaction) keeps them.
func TestACLsReplay(t *testing.T) {
	dir := t.TempDir()
	ml, _, err := Open(vfs.Default, dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	alice := ACL{Principal: "User:alice", Host: "*", ResourceType: 2, Name: "orders", PatternType: 3, Operation: 4, Permission: 3}
	bob := ACL{Principal: "User:bob", Host: "10.0.0.1", ResourceType: 3, Name: "g-", PatternType: 4, Operation: 3, Permission: 2}
	carol := alice
	carol.Principal = "User:carol"
	for _, r := range []Record{
		{Type: CreateACLs, ACLs: []ACL{bob, alice}},
		{Type: CreateACLs, ACLs: []ACL{alice, carol}}, // alice again: a no-op
		{Type: DeleteACLs, ACLs: []ACL{carol}},
	} {
		if err := ml.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	want := []ACL{alice, bob} // CompareACL order: topic before group
	if got := ml.ACLs(); !slices.Equal(got, want) {
		t.Fatalf("live ACLs %+v, want %+v", got, want)
	}
	ml.Close()
	ml, st, err := Open(vfs.Default, dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(st.ACLs, want) {
		t.Fatalf("replayed ACLs %+v, want %+v", st.ACLs, want)
	}
	// Enough deletes and creates of carol to pass the compaction bound.
	for i := 0; i < compactSlack+2; i++ {
		typ := CreateACLs
		if i%2 == 1 {
			typ = DeleteACLs
		}
		if err := ml.Append(Record{Type: typ, ACLs: []ACL{carol}}); err != nil {
			t.Fatal(err)
		}
	}
	ml.Close()
	before, _ := os.Stat(filepath.Join(dir, FileName))
	ml, st, err = Open(vfs.Default, dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer ml.Close()
	after, _ := os.Stat(filepath.Join(dir, FileName))
	if after.Size() >= before.Size() {
		t.Fatalf("log was not rewritten: %d bytes before, %d after", before.Size(), after.Size())
	}
	if !slices.Equal(st.ACLs, want) {
		t.Fatalf("ACLs after the rewrite %+v, want %+v", st.ACLs, want)
	}
	snap, err := os.ReadFile(filepath.Join(dir, SnapshotName))
	if err != nil {
		t.Fatal(err)
	}
	s, err := decodeSnapshot(snap)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.ACLs, want) {
		t.Fatalf("snapshot ACLs %+v, want %+v", s.ACLs, want)
	}
}
