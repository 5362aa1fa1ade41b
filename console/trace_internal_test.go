package console

import (
	"strconv"
	"testing"
	"time"
)

// link lays out any causation data without looping: cycles, self-causes,
// duplicate ids and dangling causes.
func TestTraceLinkBadGraphs(t *testing.T) {
	t0 := time.Now()
	ev := func(id, cause string, ms int) TraceNode {
		return TraceNode{TraceEvent: TraceEvent{ID: id, CausationID: cause, Time: t0.Add(time.Duration(ms) * time.Millisecond)}}
	}
	for _, tc := range []struct {
		name  string
		nodes []TraceNode
		edges int
	}{
		{"chain", []TraceNode{ev("a", "", 0), ev("b", "a", 5), ev("c", "b", 9)}, 2},
		{"cycle", []TraceNode{ev("a", "c", 0), ev("b", "a", 1), ev("c", "b", 2)}, 3},
		{"self", []TraceNode{ev("a", "a", 0)}, 0},
		{"dangling", []TraceNode{ev("a", "gone", 0), ev("b", "a", 1)}, 1},
		{"duplicate ids", []TraceNode{ev("a", "", 0), ev("a", "", 1), ev("b", "a", 2)}, 1},
		{"fan out", []TraceNode{ev("a", "", 0), ev("b", "a", 1), ev("c", "a", 2), ev("d", "a", 3)}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := &Trace{Nodes: tc.nodes}
			tr.link()
			if len(tr.Edges) != tc.edges {
				t.Errorf("%d edges, want %d", len(tr.Edges), tc.edges)
			}
			for _, n := range tr.Nodes {
				if n.Depth < 0 || n.Depth > len(tr.Nodes) {
					t.Errorf("%s at depth %d", n.ID, n.Depth)
				}
				if n.X+nodeW > tr.Width || n.Y+nodeH > tr.Height {
					t.Errorf("%s outside the drawing", n.ID)
				}
			}
		})
	}
}

func FuzzTraceLink(f *testing.F) {
	f.Add([]byte{0, 1, 2, 0})
	f.Add([]byte{1, 0, 3, 3, 2})
	f.Fuzz(func(t *testing.T, causes []byte) {
		if len(causes) > 64 {
			causes = causes[:64]
		}
		tr := &Trace{}
		for i, c := range causes {
			tr.Nodes = append(tr.Nodes, TraceNode{TraceEvent: TraceEvent{ID: strconv.Itoa(i), CausationID: strconv.Itoa(int(c) % (len(causes) + 1))}})
		}
		tr.link()
		for _, n := range tr.Nodes {
			if n.Depth > len(tr.Nodes) {
				t.Fatalf("depth %d of %d nodes", n.Depth, len(tr.Nodes))
			}
		}
	})
}
