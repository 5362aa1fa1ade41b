package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Interactive queries over HTTP. App.ServeHTTP answers, on any instance:
//
//	GET /stores/{store}/keys/{key}
//	    200 {"key": K, "value": V}      a table's (TableOf, Count, Reduce, Aggregate)
//	GET /stores/{store}/keys/{key}/windows?from=T&to=T
//	    200 {"key": K, "windows": [{"start": T, "end": T, "value": A}, ...]}
//	                                     a window store's open windows starting in [from, to)
//	errors: {"error": "..."} with 400 (bad key or time), 404 (no such
//	store, not queryable, no value), 503 + Retry-After (the key's task
//	runs nowhere yet, or is moving)
//	GET /topology?format=mermaid|text|dot|json
//	    200 the topology as a Mermaid flowchart (default), text, Graphviz
//	    or JSON: {"app": ID, "nodes": [{"id", "kind", "subtopology"}],
//	    "edges": [{"from", "to"}]} (kinds: the operator of a processor,
//	    topic, repartition-topic, changelog-topic, store)
//
// {key} is the key as text: a string key as it is, any other key as its
// JSON (an Int64 key 42 is "42"); values are JSON. Times are RFC 3339 or
// Unix milliseconds (from defaults to 0, to to the far future).
//
// An instance that does not run the key's task proxies the request to
// the member the group assigned it, found by its advertised Endpoint,
// and relays the answer (the response names the instance that served it
// in ServedByHeader). Proxying rather than redirecting lets clients know
// one address (a load balancer in front of every instance) and not the
// instances' own, which may be private; it costs one hop. A proxied
// request carries ForwardedHeader and is never proxied again: an
// instance that got one for a key it no longer owns answers 503, and the
// first instance reads the group again and retries once.
const (
	ServedByHeader  = "X-Herald-Stream-Served-By"
	ForwardedHeader = "X-Herald-Stream-Forwarded"
	notLocalHeader  = "X-Herald-Stream-Not-Local"
)

// storeQuery reads a store for HTTP queries, typed by the processor that
// owns it.
type storeQuery struct {
	parseKey func(text string) (kb []byte, key any, err error)
	get      func(s *kvStore, kb []byte) (any, bool, error)           // key-value stores
	windows  func(s *kvStore, kb []byte, from, to int64) (any, error) // window stores
}

// parseKeyText reads a key from its text: a string as it is, anything
// else as JSON.
func parseKeyText[K any](kc Codec[K], text string) ([]byte, any, error) {
	var k K
	if p, ok := any(&k).(*string); ok {
		*p = text
	} else if err := json.Unmarshal([]byte(text), &k); err != nil {
		return nil, nil, fmt.Errorf("key %q is not JSON of %T: %w", text, k, err)
	}
	kb, err := kc.Encode(k)
	if err != nil {
		return nil, nil, fmt.Errorf("key %q: %w", text, err)
	}
	return kb, k, nil
}

func kvQuery[K, V any](kc Codec[K], vc Codec[V]) *storeQuery {
	return &storeQuery{
		parseKey: func(text string) ([]byte, any, error) { return parseKeyText(kc, text) },
		get: func(s *kvStore, kb []byte) (any, bool, error) {
			b, ok, err := s.get(kb)
			if err != nil || !ok {
				return nil, false, err
			}
			v, err := vc.Decode(b)
			return v, err == nil, err
		},
	}
}

type windowJSON struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	Value any       `json:"value"`
}

func windowQuery[K, A any](kc Codec[K], ac Codec[A], w Windows) *storeQuery {
	return &storeQuery{
		parseKey: func(text string) ([]byte, any, error) { return parseKeyText(kc, text) },
		windows: func(s *kvStore, kb []byte, from, to int64) (any, error) {
			ws, err := fetchWindows(s, kb, ac, w.sliding, w.size, from, to)
			out := make([]windowJSON, len(ws))
			for i, w := range ws {
				out[i] = windowJSON{w.Start.UTC(), w.End.UTC(), w.Value}
			}
			return out, err
		},
	}
}

// ServeHTTP answers interactive queries (see the package doc's
// Interactive queries), and GET /topology with the topology's diagram. Serve it on the address Config.Endpoint names;
// it may be called before Run and after it returns (503 then).
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

func (a *App) newMux() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("GET /stores/{store}/keys/{key}", func(w http.ResponseWriter, r *http.Request) { a.serveQuery(w, r, false) })
	m.HandleFunc("GET /stores/{store}/keys/{key}/windows", func(w http.ResponseWriter, r *http.Request) { a.serveQuery(w, r, true) })
	m.HandleFunc("GET /topology", a.serveTopology)
	return m
}

// serveTopology answers GET /topology with the topology as a Mermaid
// flowchart (format=mermaid, the default: for a console to draw), as
// text (format=text), as a Graphviz digraph (format=dot) or as JSON
// nodes and edges (format=json).
func (a *App) serveTopology(w http.ResponseWriter, r *http.Request) {
	var body string
	switch f := r.URL.Query().Get("format"); f {
	case "", "mermaid":
		body = a.t.Mermaid(a.cfg.AppID)
	case "text":
		body = a.t.Describe(a.cfg.AppID)
	case "dot":
		body = a.t.Dot(a.cfg.AppID)
	case "json":
		writeJSON(w, http.StatusOK, a.t.graph(a.cfg.AppID))
		return
	default:
		writeError(w, &httpError{http.StatusBadRequest, fmt.Sprintf("format %q: want mermaid, text, dot or json", f)})
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, body)
}

type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, err error) {
	var he *httpError
	if !errors.As(err, &he) {
		he = &httpError{http.StatusInternalServerError, err.Error()}
	}
	if he.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, he.status, map[string]string{"error": he.msg})
}

func (a *App) serveQuery(w http.ResponseWriter, r *http.Request, windows bool) {
	store := r.PathValue("store")
	sd := a.t.stores[store]
	if sd == nil || sd.query == nil || (windows != (sd.query.windows != nil)) {
		writeError(w, &httpError{http.StatusNotFound, fmt.Sprintf("no store %q queryable this way (%s)", store, queryKinds(windows))})
		return
	}
	kb, key, err := sd.query.parseKey(r.PathValue("key"))
	if err != nil {
		writeError(w, &httpError{http.StatusBadRequest, err.Error()})
		return
	}
	s, err := a.localStore(store, kb)
	if errors.Is(err, ErrNotLocal) {
		a.route(w, r, store, kb)
		return
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set(ServedByHeader, a.cfg.InstanceID)
	if windows {
		a.serveWindows(w, r, sd.query, s, kb, key)
		return
	}
	v, ok, err := sd.query.get(s, kb)
	switch {
	case err != nil:
		writeError(w, err)
	case !ok:
		writeError(w, &httpError{http.StatusNotFound, fmt.Sprintf("store %s has no value for key %q", store, r.PathValue("key"))})
	default:
		writeJSON(w, http.StatusOK, map[string]any{"key": key, "value": v})
	}
}

func queryKinds(windows bool) string {
	if windows {
		return "windows: WindowedAggregate, WindowedCount"
	}
	return "keys: TableOf, Count, Reduce, Aggregate"
}

func (a *App) serveWindows(w http.ResponseWriter, r *http.Request, q *storeQuery, s *kvStore, kb []byte, key any) {
	from, err := parseQueryTime(r.URL.Query().Get("from"), 0)
	if err == nil {
		var to int64
		to, err = parseQueryTime(r.URL.Query().Get("to"), 1<<62)
		if err == nil {
			var ws any
			if ws, err = q.windows(s, kb, from, to); err == nil {
				writeJSON(w, http.StatusOK, map[string]any{"key": key, "windows": ws})
				return
			}
			writeError(w, err)
			return
		}
	}
	writeError(w, &httpError{http.StatusBadRequest, err.Error()})
}

// parseQueryTime reads RFC 3339 or Unix milliseconds; def if empty.
func parseQueryTime(s string, def int64) (int64, error) {
	if s == "" {
		return def, nil
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return ms, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, fmt.Errorf("time %q is neither RFC 3339 nor Unix milliseconds", s)
	}
	return t.UnixMilli(), nil
}

// route proxies a query for a key this instance does not hold to the
// member that owns it, reading the group again and retrying once if the
// owner it knew has moved on.
func (a *App) route(w http.ResponseWriter, r *http.Request, store string, kb []byte) {
	if r.Header.Get(ForwardedHeader) != "" {
		w.Header().Set(notLocalHeader, "1")
		writeError(w, &httpError{http.StatusServiceUnavailable, "forwarded here, but this instance does not run the key's task (ownership is moving)"})
		return
	}
	id, err := a.taskOfKey(store, kb)
	if err != nil {
		writeError(w, &httpError{http.StatusServiceUnavailable, "the App is not running yet"})
		return
	}
	self, _ := a.memberID()
	for attempt := range 2 {
		ms, err := a.groupMembers(r.Context(), attempt > 0)
		if err != nil {
			writeError(w, &httpError{http.StatusServiceUnavailable, err.Error()})
			return
		}
		m, ok := a.owner(ms, id)
		if !ok || m.id == self || m.endpoint == "" {
			if attempt == 0 {
				continue
			}
			writeError(w, &httpError{http.StatusServiceUnavailable, ownerProblem(m, ok, self)})
			return
		}
		resp, err := a.forward(r.Context(), r, m.endpoint)
		if err != nil {
			writeError(w, &httpError{http.StatusBadGateway, fmt.Sprintf("forward to %s: %v", m.endpoint, err)})
			return
		}
		if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get(notLocalHeader) != "" && attempt == 0 {
			resp.Body.Close()
			continue
		}
		relay(w, resp)
		return
	}
}

func ownerProblem(m member, ok bool, self string) string {
	switch {
	case !ok:
		return "no member runs the key's task yet (rebalancing)"
	case m.id == self:
		return "this instance owns the key's task but has not started it (restoring)"
	}
	return fmt.Sprintf("the member that runs the key's task (%s) advertises no Endpoint", m.id)
}

func (a *App) memberID() (string, bool) {
	a.mu.Lock()
	cl := a.cl
	a.mu.Unlock()
	if cl == nil {
		return "", false
	}
	id, gen := cl.GroupMetadata()
	return id, gen >= 0
}

// forward sends r to endpoint ("host:port" or a base URL).
func (a *App) forward(ctx context.Context, r *http.Request, endpoint string) (*http.Response, error) {
	base := endpoint
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+r.URL.RequestURI(), nil)
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set(ForwardedHeader, a.cfg.InstanceID)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = cancelOnClose{resp.Body, cancel}
	return resp, nil
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error { err := c.ReadCloser.Close(); c.cancel(); return err }

// relay copies a forwarded response to w.
func relay(w http.ResponseWriter, resp *http.Response) {
	defer resp.Body.Close()
	for _, h := range []string{"Content-Type", "Retry-After", ServedByHeader} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, io.LimitReader(resp.Body, 64<<20))
}
