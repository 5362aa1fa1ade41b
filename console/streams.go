package console

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// streamFetchTimeout bounds one fetch of a stream app's topology.
const streamFetchTimeout = 3 * time.Second

// The stream topology drawing's geometry (pixels).
const (
	topoNodeW = 190
	topoNodeH = 44
	topoColW  = topoNodeW + 70
	topoRowH  = topoNodeH + 22
	topoPad   = 16
)

// validStreamApp checks one Config.StreamApps entry: a name for a path
// segment and an absolute http(s) base URL.
func validStreamApp(name, base string) error {
	if name == "" || strings.ContainsAny(name, "/?#") {
		return fmt.Errorf("app name %q: want a non-empty name without / ? #", name)
	}
	u, err := url.Parse(base)
	if err != nil {
		return fmt.Errorf("app %s: URL %q: %w", name, base, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("app %s: URL %q: want http://host:port or https://host:port", name, base)
	}
	return nil
}

// topoGraph is a stream app's topology as its GET /topology?format=json
// answers it.
type topoGraph struct {
	App   string     `json:"app"`
	Nodes []topoNode `json:"nodes"`
	Edges []topoEdge `json:"edges"`
}

// topoNode is one node of the drawing: its id and kind from the app,
// its place from the layout.
type topoNode struct {
	ID   string `json:"id"`
	Kind string `json:"kind"`
	Sub  int    `json:"subtopology"`
	X, Y int    `json:"-"`
}

// Class is the node's CSS class: topic, store or processor.
func (n topoNode) Class() string {
	switch n.Kind {
	case "topic", "repartition-topic", "changelog-topic":
		return "topic " + n.Kind
	case "store":
		return "store"
	}
	return "processor"
}

// topoEdge is data flowing between two nodes, with the line's ends once
// laid out.
type topoEdge struct {
	From           string `json:"from"`
	To             string `json:"to"`
	X1, Y1, X2, Y2 int    `json:"-"`
}

// streamPage is the data of one stream app's page.
type streamPage struct {
	Name, URL     string
	Graph         *topoGraph
	Text          string
	Width, Height int
	Err           string // the app could not be read
}

// streamRow is one app of the list.
type streamRow struct{ Name, URL string }

func (c *Console) handleStreams(w http.ResponseWriter, _ *http.Request) {
	rows := make([]streamRow, 0, len(c.cfg.StreamApps))
	for name, u := range c.cfg.StreamApps {
		rows = append(rows, streamRow{name, u})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	c.render(w, http.StatusOK, "streams", "Stream apps", "streams", rows)
}

func (c *Console) handleStream(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	base, ok := c.cfg.StreamApps[name]
	if !ok {
		c.fail(w, r, notFound("no stream app %q (the console knows the apps --stream-app names)", name))
		return
	}
	p := streamPage{Name: name, URL: base}
	ctx, cancel := context.WithTimeout(r.Context(), streamFetchTimeout)
	defer cancel()
	var g topoGraph
	body, err := fetchTopology(ctx, base, "json")
	if err == nil {
		if err = json.Unmarshal(body, &g); err != nil {
			err = fmt.Errorf("topology of %s: not the JSON of GET /topology?format=json: %w", base, err)
		}
	}
	var text []byte
	if err == nil {
		text, err = fetchTopology(ctx, base, "text")
	}
	status := http.StatusOK
	if err != nil {
		p.Err = err.Error()
		status = http.StatusBadGateway
		c.cfg.Logger.Warn("console: stream app unreachable", "app", name, "err", err)
	} else {
		p.Graph, p.Text = &g, string(text)
		p.Width, p.Height = layoutTopology(&g)
	}
	c.render(w, status, "stream", "Stream app "+name, "streams", p)
}

// fetchTopology GETs base/topology?format=f.
func fetchTopology(ctx context.Context, base, format string) ([]byte, error) {
	u := strings.TrimSuffix(base, "/") + "/topology?format=" + format
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("stream app %s: %w", base, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("stream app %s unreachable: %w", base, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("stream app %s: reading %s: %w", base, u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("stream app %s: GET %s: %s: %s", base, u, resp.Status, strings.TrimSpace(string(body)))
	}
	return body, nil
}

// layoutTopology places g's nodes in columns by depth (the longest path
// from a node without inputs), in their order within a column, and
// returns the drawing's size. Edges naming unknown nodes are dropped.
func layoutTopology(g *topoGraph) (width, height int) {
	idx := make(map[string]int, len(g.Nodes))
	for i, n := range g.Nodes {
		idx[n.ID] = i
	}
	edges := g.Edges[:0]
	for _, e := range g.Edges {
		if _, ok := idx[e.From]; !ok {
			continue
		}
		if _, ok := idx[e.To]; !ok {
			continue
		}
		edges = append(edges, e)
	}
	g.Edges = edges
	depth := make([]int, len(g.Nodes))
	// Relax the longest path at most once per node: a cycle (which a
	// topology does not have) stops growing instead of looping.
	for range g.Nodes {
		changed := false
		for _, e := range g.Edges {
			if d := depth[idx[e.From]] + 1; d > depth[idx[e.To]] {
				depth[idx[e.To]] = d
				changed = true
			}
		}
		if !changed {
			break
		}
	}
	rows := map[int]int{}
	maxCol, maxRow := 0, 0
	for i := range g.Nodes {
		col := depth[i]
		row := rows[col]
		rows[col]++
		g.Nodes[i].X = topoPad + col*topoColW
		g.Nodes[i].Y = topoPad + row*topoRowH
		maxCol, maxRow = max(maxCol, col), max(maxRow, row)
	}
	for i, e := range g.Edges {
		from, to := g.Nodes[idx[e.From]], g.Nodes[idx[e.To]]
		g.Edges[i].X1, g.Edges[i].Y1 = from.X+topoNodeW, from.Y+topoNodeH/2
		g.Edges[i].X2, g.Edges[i].Y2 = to.X, to.Y+topoNodeH/2
	}
	if len(g.Nodes) == 0 {
		return 2 * topoPad, 2 * topoPad
	}
	return 2*topoPad + maxCol*topoColW + topoNodeW, 2*topoPad + maxRow*topoRowH + topoNodeH
}
