package stream_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/stream"
)

// serving is an App started with an HTTP endpoint for interactive queries.
type serving struct {
	*running
	url string
}

// startServing starts an App that serves ServeHTTP on a random port and
// advertises it as its Endpoint.
func startServing(t *testing.T, top *stream.Topology, cfg stream.Config) serving {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Endpoint = ln.Addr().String()
	r := start(t, top, cfg)
	srv := &http.Server{Handler: r.app, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return serving{r, "http://" + cfg.Endpoint}
}

type queryAnswer struct {
	status   int
	servedBy string
	body     map[string]any
}

func query(t *testing.T, url string) queryAnswer {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	qa := queryAnswer{status: resp.StatusCode, servedBy: resp.Header.Get(stream.ServedByHeader)}
	if err := json.Unmarshal(b, &qa.body); err != nil {
		t.Fatalf("GET %s: %d %q: %v", url, resp.StatusCode, b, err)
	}
	return qa
}

// TestHTTPQueriesRouted: three instances share six partitions; a query
// for any key sent to any instance is answered by the instance that runs
// the key's task (proxied there when it is another), with the value that
// instance's store holds.
func TestHTTPQueriesRouted(t *testing.T) {
	b := newBrokerWith(t, map[string]int32{"ev": 6})
	want := map[string]int64{}
	var recs []*kgo.Record
	for i := range 60 {
		k := fmt.Sprintf("k%02d", i)
		want[k] = int64(i%5 + 1)
		for range i%5 + 1 {
			recs = append(recs, recAt(k, "v", 1_000+int64(i)))
		}
	}
	produce(t, b.Addr(), "ev", recs...)
	var counts stream.Table[string, int64]
	build := func() *stream.Topology {
		top := stream.NewTopology()
		g := stream.GroupByKey(stream.Source(top, "ev", stream.String(), stream.String()), stream.String(), stream.String())
		counts = stream.Count(g, "counts")
		stream.WindowedCount(g, stream.Tumbling(time.Minute).Grace(time.Hour), "win")
		return top
	}
	var insts []serving
	for i := range 3 {
		insts = append(insts, startServing(t, build(), stream.Config{AppID: "iq", Brokers: []string{b.Addr()},
			StateDir: t.TempDir(), InstanceID: fmt.Sprintf("inst%d", i), CommitInterval: 100 * time.Millisecond}))
	}
	// Every instance runs two tasks, and every key is counted where it lives.
	testenv.CheckFor(t, 60*time.Second, func() error {
		for i, in := range insts {
			if n := len(in.app.Metrics()); n != 2 {
				return fmt.Errorf("instance %d runs %d tasks", i, n)
			}
		}
		for k, n := range want {
			if got, ok := localGet(insts, counts, k); !ok || got != n {
				return fmt.Errorf("key %s: %d (%v), want %d", k, got, ok, n)
			}
		}
		return nil
	})
	forwarded := 0
	for k, n := range want {
		owner := ""
		for i, in := range insts {
			if _, ok, err := counts.Get(in.app, k); err == nil && ok {
				owner = fmt.Sprintf("inst%d", i)
			}
		}
		for i, in := range insts {
			qa := query(t, in.url+"/stores/counts/keys/"+k)
			if qa.status != http.StatusOK || qa.body["value"] != float64(n) || qa.body["key"] != k {
				t.Fatalf("instance %d, key %s: %d %v, want %d", i, k, qa.status, qa.body, n)
			}
			if qa.servedBy != owner {
				t.Fatalf("instance %d, key %s: served by %q, owner %q", i, k, qa.servedBy, owner)
			}
			if qa.servedBy != fmt.Sprintf("inst%d", i) {
				forwarded++
			}
		}
	}
	if forwarded != 2*len(want) {
		t.Errorf("%d of %d queries forwarded, want %d (each key is local to one of three)", forwarded, 3*len(want), 2*len(want))
	}
	// A window range, from every instance.
	for i, in := range insts {
		qa := query(t, in.url+"/stores/win/keys/k04/windows?from=0&to="+fmt.Sprint(int64(1)<<40))
		ws, _ := qa.body["windows"].([]any)
		if qa.status != http.StatusOK || len(ws) != 1 {
			t.Fatalf("instance %d windows: %d %v", i, qa.status, qa.body)
		}
		w := ws[0].(map[string]any)
		if w["value"] != float64(5) || w["start"] != time.UnixMilli(0).Format(time.RFC3339Nano) {
			t.Errorf("instance %d window: %v", i, w)
		}
	}
	// Instance 2 stops: its tasks move, and queries follow them.
	insts[2].stop(t)
	testenv.CheckFor(t, 60*time.Second, func() error {
		for k, n := range want {
			qa := query(t, insts[0].url+"/stores/counts/keys/"+k)
			if qa.status != http.StatusOK || qa.body["value"] != float64(n) || qa.servedBy == "inst2" {
				return fmt.Errorf("key %s after instance 2 stopped: %d %v from %q", k, qa.status, qa.body, qa.servedBy)
			}
		}
		return nil
	})
	insts = insts[:2]
	// Errors, wherever they are asked.
	for _, c := range []struct {
		path   string
		status int
	}{
		{"/stores/nope/keys/k01", http.StatusNotFound},
		{"/stores/counts/keys/absent", http.StatusNotFound},
		{"/stores/counts/keys/k01/windows", http.StatusNotFound}, // not a window store
		{"/stores/win/keys/k01/windows?from=yesterday", http.StatusBadRequest},
	} {
		for i, in := range insts {
			if qa := query(t, in.url+c.path); qa.status != c.status || qa.body["error"] == "" {
				t.Errorf("instance %d GET %s: %d %v, want %d", i, c.path, qa.status, qa.body, c.status)
			}
		}
	}
}

// localGet reads k on whichever instance holds it.
func localGet(insts []serving, tb stream.Table[string, int64], k string) (int64, bool) {
	for _, in := range insts {
		if v, ok, err := tb.Get(in.app, k); err == nil {
			return v, ok
		}
	}
	return 0, false
}

// TestTopologyOverHTTP: GET /topology gives the Mermaid diagram a
// console draws (and the text and Graphviz forms), served without Run.
func TestTopologyOverHTTP(t *testing.T) {
	top := stream.NewTopology()
	stream.Count(stream.GroupByKey(stream.Source(top, "ev", stream.String(), stream.String()), stream.String(), stream.String()), "counts")
	a, err := stream.New(top, stream.Config{AppID: "topo", Brokers: []string{"127.0.0.1:1"}, StateDir: t.TempDir(), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ query, want string }{
		{"", top.Mermaid("topo")},
		{"?format=mermaid", top.Mermaid("topo")},
		{"?format=text", top.Describe("topo")},
		{"?format=dot", top.Dot("topo")},
	} {
		w := httptest.NewRecorder()
		a.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/topology"+c.query, nil))
		if w.Code != http.StatusOK || w.Body.String() != c.want || !strings.Contains(c.want, "counts") {
			t.Errorf("GET /topology%s: %d %q, want %q", c.query, w.Code, w.Body.String(), c.want)
		}
	}
	w := httptest.NewRecorder()
	a.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/topology?format=svg", nil))
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "svg") {
		t.Errorf("GET /topology?format=svg: %d %s, want 400 naming the format", w.Code, w.Body.String())
	}
}

// TestTopologyJSON: GET /topology?format=json gives the nodes (the
// processors, the topics, the store and its changelog) and the edges of
// the data flow.
func TestTopologyJSON(t *testing.T) {
	top := stream.NewTopology()
	stream.Count(stream.GroupByKey(stream.Source(top, "ev", stream.String(), stream.String()), stream.String(), stream.String()), "counts")
	a, err := stream.New(top, stream.Config{AppID: "topo", Brokers: []string{"127.0.0.1:1"}, StateDir: t.TempDir(), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	a.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/topology?format=json", nil))
	var g struct {
		App   string
		Nodes []struct {
			ID, Kind string
			Sub      int `json:"subtopology"`
		}
		Edges []struct{ From, To string }
	}
	if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &g) != nil {
		t.Fatalf("GET /topology?format=json: %d %s", w.Code, w.Body.String())
	}
	kinds := map[string]string{}
	for _, n := range g.Nodes {
		kinds[n.ID] = n.Kind
	}
	if g.App != "topo" || kinds["ev"] != "topic" || kinds["counts"] != "store" || kinds["topo-counts-changelog"] != "changelog-topic" {
		t.Errorf("nodes %+v: want topic ev, store counts, changelog topo-counts-changelog", g.Nodes)
	}
	edges := map[string]bool{}
	for _, e := range g.Edges {
		if kinds[e.From] == "" || kinds[e.To] == "" {
			t.Errorf("edge %s -> %s names an unknown node", e.From, e.To)
		}
		edges[e.From+">"+e.To] = true
	}
	if !edges["counts>topo-counts-changelog"] || len(g.Edges) < 3 {
		t.Errorf("edges %+v: want the flow from ev to the store and its changelog", g.Edges)
	}
}
