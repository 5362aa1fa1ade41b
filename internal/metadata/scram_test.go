package metadata

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/heraldhq/herald/internal/vfs"
)

// TestScramReplay: SCRAM credentials are replayed at Open, a delete
// removes one mechanism only, and they survive the log's compaction and a
// rebuild from the snapshot alone.
func TestScramReplay(t *testing.T) {
	dir := t.TempDir()
	ml, _, err := Open(vfs.Default, dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	alice := Scram{User: "alice", Mechanism: "SCRAM-SHA-256", Salt: []byte("salt"), Iterations: 4096, StoredKey: []byte{1}, ServerKey: []byte{2}}
	alice512 := alice
	alice512.Mechanism, alice512.StoredKey = "SCRAM-SHA-512", []byte{3}
	bob := Scram{User: "bob", Mechanism: "SCRAM-SHA-256", Salt: []byte("s2"), Iterations: 8192, StoredKey: []byte{4}, ServerKey: []byte{5}}
	for _, r := range []Record{
		{Type: SetScram, Scram: &alice},
		{Type: SetScram, Scram: &alice512},
		{Type: SetScram, Scram: &bob},
		{Type: DeleteScram, Scram: &Scram{User: "alice", Mechanism: "SCRAM-SHA-256"}},
	} {
		if err := ml.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	// Enough churn to make Open compact the log.
	for range compactSlack {
		if err := ml.Append(Record{Type: SetScram, Scram: &bob}); err != nil {
			t.Fatal(err)
		}
	}
	ml.Close()
	check := func(st *State) {
		t.Helper()
		if len(st.Scram) != 2 {
			t.Fatalf("credentials %+v, want alice/512 and bob/256", st.Scram)
		}
		got := st.Scram[ScramKey{"alice", "SCRAM-SHA-512"}]
		if !bytes.Equal(got.StoredKey, []byte{3}) || got.Iterations != 4096 || string(got.Salt) != "salt" {
			t.Fatalf("alice: %+v", got)
		}
		if _, ok := st.Scram[ScramKey{"alice", "SCRAM-SHA-256"}]; ok {
			t.Fatal("deleted credential came back")
		}
	}
	ml, st, err := Open(vfs.Default, dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	check(st)
	ml.Close()
	if _, st, err = Open(vfs.Default, dir, quiet); err != nil { // after compaction
		t.Fatal(err)
	}
	check(st)
	b, err := os.ReadFile(filepath.Join(dir, SnapshotName))
	if err != nil {
		t.Fatal(err)
	}
	snap, err := decodeSnapshot(b)
	if err != nil {
		t.Fatal(err)
	}
	check(snap.state())
	if bytes.Contains(b, []byte("password")) {
		t.Fatal("snapshot mentions a password")
	}
}

func TestScramRecordWithoutCredential(t *testing.T) {
	var st State
	if err := st.Apply(Record{Type: SetScram}); err == nil {
		t.Fatal("set_scram without its credential was applied")
	}
}
