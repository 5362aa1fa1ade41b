package metadata

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/heraldhq/herald/internal/vfs"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestReplay(t *testing.T) {
	dir := t.TempDir()
	ml, st, err := Open(vfs.Default, dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Topics) != 0 {
		t.Fatalf("new log has topics: %v", st.Topics)
	}
	a, b := TopicID{1, 2, 3}, TopicID{0xff}
	for _, r := range []Record{
		{Type: SetClusterID, ClusterID: "c1"},
		{Type: CreateTopic, Topic: "a", ID: a, Partitions: 1, Configs: map[string]string{"retention.ms": "-1"}},
		{Type: CreateTopic, Topic: "b", ID: b, Partitions: 2},
		{Type: AddPartitions, ID: a, Partitions: 4},
		{Type: SetConfigs, ID: b, Configs: map[string]string{"cleanup.policy": "compact"}},
		{Type: DeleteTopic, ID: a},
		{Type: CreateTopic, Topic: "a", ID: TopicID{9}, Partitions: 1},
	} {
		if err := ml.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	ml.Close()

	_, st, err = Open(vfs.Default, dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if st.ClusterID != "c1" || len(st.Topics) != 2 {
		t.Fatalf("replayed %+v", st)
	}
	if ta := st.Topics["a"]; ta.ID != (TopicID{9}) || ta.Partitions != 1 || len(ta.Configs) != 0 {
		t.Fatalf("topic a: %+v", ta)
	}
	if tb := st.Topics["b"]; tb.ID != b || tb.Partitions != 2 || tb.Configs["cleanup.policy"] != "compact" {
		t.Fatalf("topic b: %+v", tb)
	}
}

// TestTornTail cuts the file at every length and corrupts every byte of
// the last frame: Open keeps exactly the whole frames before the damage
// and the log stays appendable.
func TestTornTail(t *testing.T) {
	var data []byte
	var ends []int
	for i := range 3 {
		var err error
		data, err = AppendFrame(data, Record{Type: CreateTopic, Topic: string(rune('a' + i)), ID: TopicID{byte(i + 1)}, Partitions: 1})
		if err != nil {
			t.Fatal(err)
		}
		ends = append(ends, len(data))
	}
	wholeBefore := func(n int) int {
		k := 0
		for _, e := range ends {
			if e <= n {
				k++
			}
		}
		return k
	}
	check := func(name string, b []byte, want int) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, FileName), b, 0o644); err != nil {
			t.Fatal(err)
		}
		ml, st, err := Open(vfs.Default, dir, quiet)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(st.Topics) != want {
			t.Fatalf("%s: %d topics, want %d", name, len(st.Topics), want)
		}
		if err := ml.Append(Record{Type: CreateTopic, Topic: "z", ID: TopicID{0x7f}, Partitions: 1}); err != nil {
			t.Fatal(err)
		}
		ml.Close()
		_, st, err = Open(vfs.Default, dir, quiet)
		if err != nil || len(st.Topics) != want+1 {
			t.Fatalf("%s: after append: %v, %d topics", name, err, len(st.Topics))
		}
	}
	for n := 0; n <= len(data); n++ {
		check("cut", data[:n], wholeBefore(n))
	}
	for i := ends[1]; i < len(data); i++ {
		b := append([]byte(nil), data...)
		b[i] ^= 0x40
		check("flip", b, 2)
	}
}

func FuzzReplay(f *testing.F) {
	seed, _ := AppendFrame(nil, Record{Type: CreateTopic, Topic: "a", ID: TopicID{1}, Partitions: 3})
	f.Add(seed)
	f.Fuzz(func(t *testing.T, b []byte) {
		var st State
		n, _ := Replay(b, st.Apply)
		if n < 0 || n > len(b) {
			t.Fatalf("valid prefix %d of %d bytes", n, len(b))
		}
		var again State
		if m, _ := Replay(b[:n], again.Apply); m != n {
			t.Fatalf("valid prefix %d re-parses as %d", n, m)
		}
		// Recovery's classification: damage is reported at the end of
		// the valid prefix, and only when a valid frame follows it.
		sc := scanLog(b)
		if sc.good != n || (sc.corruptAt != -1 && sc.corruptAt != n) {
			t.Fatalf("scan: good %d corrupt at %d, valid prefix %d", sc.good, sc.corruptAt, n)
		}
		if (sc.corruptAt >= 0) != (sc.applyErr == nil && nextValidFrame(b, n+1) >= 0) {
			t.Fatalf("corrupt at %d but next valid frame %d", sc.corruptAt, nextValidFrame(b, n+1))
		}
		decodeSnapshot(b) // must not panic
	})
}

// TestRewrite: many changes to few topics are rewritten at Open into one
// record per topic, with the same state.
func TestRewrite(t *testing.T) {
	dir := t.TempDir()
	ml, _, err := Open(vfs.Default, dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	ml.Append(Record{Type: SetClusterID, ClusterID: "c"})
	for i := range 200 {
		id := TopicID{byte(i), 1}
		ml.Append(Record{Type: CreateTopic, Topic: "t", ID: id, Partitions: 1})
		ml.Append(Record{Type: AddPartitions, ID: id, Partitions: 3})
		if i < 199 {
			ml.Append(Record{Type: DeleteTopic, ID: id})
		}
	}
	ml.Append(Record{Type: CreateTopic, Topic: "u", ID: TopicID{7}, Partitions: 2, Configs: map[string]string{"a": "b"}})
	ml.Close()
	before, _ := os.Stat(filepath.Join(dir, FileName))

	ml, st, err := Open(vfs.Default, dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(filepath.Join(dir, FileName))
	if after.Size() >= before.Size()/10 {
		t.Fatalf("not rewritten: %d bytes, was %d", after.Size(), before.Size())
	}
	check := func(st *State) {
		t.Helper()
		if st.ClusterID != "c" || len(st.Topics) != 2 || st.Topics["t"].Partitions != 3 ||
			st.Topics["t"].ID != (TopicID{199, 1}) || st.Topics["u"].Configs["a"] != "b" {
			t.Fatalf("state %+v", st)
		}
	}
	check(st)
	ml.Append(Record{Type: SetConfigs, ID: TopicID{7}, Configs: map[string]string{"a": "c"}})
	ml.Close()
	_, st, err = Open(vfs.Default, dir, quiet)
	if err != nil || st.Topics["u"].Configs["a"] != "c" {
		t.Fatalf("append after rewrite: %v %+v", err, st)
	}
	st.Topics["u"].Configs["a"] = "b"
	check(st)
}

func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }
