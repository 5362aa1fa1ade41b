package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Tracer finds the events of one business flow: every event whose
// correlation id is id, or, when id is an event's own id, every event of
// that event's flow. `herald serve` passes its broker's correlation index,
// which finds them without scanning topics; a console in front of another
// cluster has none: with Config.TraceScanWindow it scans that window of
// every topic instead (`herald console` does), and without it the trace
// page says traces need the index.
//
// Trace must be safe for concurrent use and return ErrFlowNotFound (or an
// error wrapping it) when no event matches.
type Tracer interface {
	Trace(ctx context.Context, id string) ([]TraceEvent, error)
}

// ErrFlowNotFound is a Tracer's answer for an id no event carries.
var ErrFlowNotFound = errors.New("no event has this correlation id or event id")

// TraceEvent is one event of a flow, as a Tracer finds it.
type TraceEvent struct {
	Topic         string    `json:"topic"`
	Partition     int32     `json:"partition"`
	Offset        int64     `json:"offset"`
	ID            string    `json:"id"`
	Type          string    `json:"type"`
	Source        string    `json:"source"`
	CorrelationID string    `json:"correlation_id"`
	CausationID   string    `json:"causation_id,omitempty"`
	Time          time.Time `json:"time"`
}

// maxTraceGroups bounds the consumer groups a trace asks for committed
// offsets (one OffsetFetch per group).
const maxTraceGroups = 200

// Trace is a flow's causal graph: the trace page draws it and
// GET /api/trace/{id} returns it.
type Trace struct {
	ID     string      `json:"id"`
	Nodes  []TraceNode `json:"events"`
	Edges  []TraceEdge `json:"edges"`
	Groups []string    `json:"groups"` // the groups asked, sorted
	// GroupsTruncated is set when the cluster has more groups than a
	// trace asks (maxTraceGroups).
	GroupsTruncated bool   `json:"groups_truncated,omitempty"`
	Took            string `json:"took"`
	Width, Height   int    `json:"-"` // of the drawing
}

// TraceNode is an event with the consumer groups that have processed it
// (committed offset past it) and those that have not, among the groups
// with a committed offset on its topic.
type TraceNode struct {
	TraceEvent
	ProcessedBy []string `json:"processed_by"`
	PendingIn   []string `json:"pending_in"`
	Depth       int      `json:"depth"` // causation hops from a root
	X, Y        int      `json:"-"`
}

// TraceEdge is a causation link: To was caused by From, Gap later.
type TraceEdge struct {
	From   string `json:"from"`
	To     string `json:"to"`
	GapMs  int64  `json:"gap_ms"`
	Gap    string `json:"gap"`
	X1, Y1 int    `json:"-"`
	X2, Y2 int    `json:"-"`
}

// Drawing geometry of the trace graph, in SVG user units.
const (
	nodeW, nodeH = 250, 92
	colGap       = 90
	rowGap       = 24
	margin       = 12
)

func (c *Console) handleTraceForm(w http.ResponseWriter, r *http.Request) {
	if id := strings.TrimSpace(r.URL.Query().Get("id")); id != "" {
		http.Redirect(w, r, "/trace/"+url.PathEscape(id), http.StatusSeeOther)
		return
	}
	c.render(w, http.StatusOK, "trace", "Flow trace", "trace", struct {
		Available bool
		Trace     *Trace
	}{c.cfg.Tracer != nil, nil})
}

func (c *Console) handleTrace(w http.ResponseWriter, r *http.Request) {
	t, err := c.trace(r.Context(), r.PathValue("id"))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, http.StatusOK, "trace", "Flow trace: "+t.ID, "trace", struct {
		Available bool
		Trace     *Trace
	}{true, t})
}

func (c *Console) handleTraceAPI(w http.ResponseWriter, r *http.Request) {
	t, err := c.trace(r.Context(), r.PathValue("id"))
	if err != nil {
		apiError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(t)
}

// trace builds the graph of the flow id names.
func (c *Console) trace(ctx context.Context, id string) (*Trace, error) {
	start := time.Now()
	if c.cfg.Tracer == nil {
		return nil, &pageError{http.StatusNotImplemented, "flow traces need the broker's correlation index: herald serve has one; this console runs in front of another cluster"}
	}
	if id == "" || len(id) > 1024 {
		return nil, badRequest("trace id: want 1 to 1024 bytes")
	}
	evs, err := c.cfg.Tracer.Trace(ctx, id)
	if errors.Is(err, ErrFlowNotFound) {
		return nil, notFound("no event has the correlation id or event id %q", id)
	}
	if err != nil {
		return nil, fmt.Errorf("trace %q: %w", id, err)
	}
	t := &Trace{ID: id}
	for _, e := range evs {
		t.Nodes = append(t.Nodes, TraceNode{TraceEvent: e, ProcessedBy: []string{}, PendingIn: []string{}})
	}
	if err := c.markProcessed(ctx, t); err != nil {
		return nil, err
	}
	t.link()
	t.Took = time.Since(start).Round(time.Microsecond).String()
	return t, nil
}

// markProcessed sets each node's groups from the committed offsets of
// (at most maxTraceGroups) consumer groups.
func (c *Console) markProcessed(ctx context.Context, t *Trace) error {
	listed, err := c.adm.ListGroups(ctx)
	if err != nil {
		return fmt.Errorf("list groups: %w", err)
	}
	names := listed.Groups()
	sort.Strings(names)
	if len(names) > maxTraceGroups {
		names, t.GroupsTruncated = names[:maxTraceGroups], true
	}
	t.Groups = names
	if len(names) == 0 {
		return nil
	}
	fetched := c.adm.FetchManyOffsets(ctx, names...)
	for i := range t.Nodes {
		n := &t.Nodes[i]
		for _, g := range names {
			resp, ok := fetched[g]
			if !ok || resp.Err != nil {
				continue
			}
			if _, onTopic := resp.Fetched[n.Topic]; !onTopic {
				continue
			}
			if o, ok := resp.Fetched.Lookup(n.Topic, n.Partition); ok && o.Err == nil && o.At > n.Offset {
				n.ProcessedBy = append(n.ProcessedBy, g)
			} else {
				n.PendingIn = append(n.PendingIn, g)
			}
		}
	}
	return nil
}

// link draws the causation edges and lays the nodes out: a column per
// causation depth, nodes in time order down each column.
func (t *Trace) link() {
	byID := make(map[string]int, len(t.Nodes))
	for i, n := range t.Nodes {
		if n.ID != "" {
			if _, dup := byID[n.ID]; !dup {
				byID[n.ID] = i
			}
		}
	}
	// Depths by relaxation: at most len rounds, so a causation cycle in
	// bad data cannot loop forever.
	for range t.Nodes {
		changed := false
		for i := range t.Nodes {
			if p, ok := byID[t.Nodes[i].CausationID]; ok && p != i && t.Nodes[p].Depth+1 > t.Nodes[i].Depth && t.Nodes[p].Depth < len(t.Nodes) {
				t.Nodes[i].Depth, changed = t.Nodes[p].Depth+1, true
			}
		}
		if !changed {
			break
		}
	}
	rows := map[int]int{}
	for i := range t.Nodes {
		n := &t.Nodes[i]
		n.X = margin + n.Depth*(nodeW+colGap)
		n.Y = margin + rows[n.Depth]*(nodeH+rowGap)
		rows[n.Depth]++
		t.Width = max(t.Width, n.X+nodeW+margin)
		t.Height = max(t.Height, n.Y+nodeH+margin)
	}
	for i := range t.Nodes {
		n := &t.Nodes[i]
		p, ok := byID[n.CausationID]
		if !ok || p == i {
			continue
		}
		from := &t.Nodes[p]
		gap := n.Time.Sub(from.Time)
		t.Edges = append(t.Edges, TraceEdge{From: from.ID, To: n.ID, GapMs: gap.Milliseconds(), Gap: fmtGap(gap),
			X1: from.X + nodeW, Y1: from.Y + nodeH/2, X2: n.X, Y2: n.Y + nodeH/2})
	}
}

// fmtGap shows a duration the way a person reads a hop: +150ms, +2.5s.
func fmtGap(d time.Duration) string {
	sign := "+"
	if d < 0 {
		sign, d = "-", -d
	}
	switch {
	case d < time.Millisecond:
		return sign + d.String()
	case d < time.Second:
		return fmt.Sprintf("%s%dms", sign, d.Milliseconds())
	}
	return sign + d.Round(10*time.Millisecond).String()
}
