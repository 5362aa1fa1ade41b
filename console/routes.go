package console

import (
	"embed"
	"io/fs"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// routes registers every page and API on c.mux.
func (c *Console) routes() {
	m := c.mux
	static, _ := fs.Sub(staticFS, "static") // "static" is embedded above
	m.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /healthz", c.handleHealthz)
	m.HandleFunc("GET /readyz", c.handleReadyz)
	m.Handle("GET /metrics", promhttp.HandlerFor(c.metrics, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(c.cfg.Logger.Handler(), slog.LevelWarn)}))

	m.HandleFunc("GET /{$}", c.handleOverview)
	m.HandleFunc("GET /topics", c.handleTopics)
	m.HandleFunc("POST /topics", c.handleCreateTopic)
	m.HandleFunc("GET /topics/{topic}", c.handleTopic)
	m.HandleFunc("POST /topics/{topic}/delete", c.handleDeleteTopic)
	m.HandleFunc("GET /topics/{topic}/messages", c.handleMessages)
	m.HandleFunc("GET /topics/{topic}/partitions/{partition}/offsets/{offset}/value", c.handleValue)

	m.HandleFunc("GET /topics/{topic}/events", c.handleEvents)
	m.HandleFunc("GET /topics/{topic}/records", c.handleConsume)
	m.HandleFunc("POST /topics/{topic}/records", c.handleProduce)
	m.HandleFunc("POST /v3/clusters/{cluster}/topics/{topic}/records", c.handleProduce)

	m.HandleFunc("GET /groups", c.handleGroups)
	m.HandleFunc("GET /groups/{group}", c.handleGroup)
	m.HandleFunc("POST /groups/{group}/reset", c.handleResetOffsets)
	m.HandleFunc("GET /groups/{group}/lag/events", c.handleLagEvents)

	m.HandleFunc("GET /api/history", c.handleHistory)
	m.HandleFunc("GET /api/groups/{group}/lag/history", c.handleLagHistory)
	m.HandleFunc("GET /trace", c.handleTraceForm)
	m.HandleFunc("GET /trace/{id}", c.handleTrace)
	m.HandleFunc("GET /api/trace/{id}", c.handleTraceAPI)

	m.HandleFunc("GET /schemas", c.handleSubjects)
	m.HandleFunc("GET /schemas/{subject}", c.handleSubject)
	m.HandleFunc("POST /schemas/{subject}/check", c.handleCheckSchema)
	m.HandleFunc("POST /schemas/{subject}/compatibility", c.handleSetCompatibility)

	if c.cfg.Sagas != nil {
		m.HandleFunc("GET /sagas", c.handleSagas)
		m.HandleFunc("GET /sagas/{id}", c.handleSaga)
		m.HandleFunc("POST /sagas/{id}/{kind}", c.handleSagaRequest)
	}
	if c.cfg.Projections != nil {
		m.HandleFunc("GET /projections", c.handleProjections)
		m.HandleFunc("POST /projections/{name}/rebuild", c.handleRebuildProjection)
	}

	if len(c.cfg.StreamApps) > 0 {
		m.HandleFunc("GET /streams", c.handleStreams)
		m.HandleFunc("GET /streams/{name}", c.handleStream)
	}

	m.HandleFunc("/", c.handleNotFound)
}

// handleHealthz answers 200 while the process serves HTTP.
func (c *Console) handleHealthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// handleReadyz answers 200 when the cluster answers Metadata (and
// Config.Ready agrees), else 503 with the reason.
func (c *Console) handleReadyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := c.ready(r.Context()); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("not ready: " + err.Error() + "\n"))
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

func (c *Console) handleNotFound(w http.ResponseWriter, r *http.Request) {
	c.fail(w, r, notFound("no page at %s", r.URL.Path))
}
