package registry

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/heraldhq/herald/internal/httpauth"
)

// ContentType is the media type of every response; requests may use it,
// application/json or none.
const ContentType = "application/vnd.schemaregistry.v1+json"

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, h http.HandlerFunc) {
		h = s.guard(pattern, h)
		mux.HandleFunc(pattern, h)
		if !strings.HasSuffix(pattern, "{$}") {
			mux.HandleFunc(pattern+"/{$}", h) // a trailing slash is accepted
		}
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	handle("GET /{$}", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, struct{}{}) })
	handle("GET /schemas/types", s.handleSchemaTypes)
	handle("GET /schemas", s.handleSchemas)
	handle("GET /schemas/ids/{id}", s.handleSchemaByID)
	handle("GET /schemas/ids/{id}/schema", s.handleSchemaTextByID)
	handle("GET /schemas/ids/{id}/subjects", s.handleSubjectsByID)
	handle("GET /schemas/ids/{id}/versions", s.handleVersionsByID)
	handle("GET /subjects", s.handleSubjects)
	handle("POST /subjects/{subject}", s.handleLookup)
	handle("DELETE /subjects/{subject}", s.handleDeleteSubject)
	handle("GET /subjects/{subject}/versions", s.handleVersions)
	handle("POST /subjects/{subject}/versions", s.handleRegister)
	handle("GET /subjects/{subject}/versions/{version}", s.handleVersion)
	handle("DELETE /subjects/{subject}/versions/{version}", s.handleDeleteVersion)
	handle("GET /subjects/{subject}/versions/{version}/schema", s.handleVersionSchema)
	handle("GET /subjects/{subject}/versions/{version}/referencedby", s.handleReferencedBy)
	handle("POST /compatibility/subjects/{subject}/versions", s.handleCompatibility)
	handle("POST /compatibility/subjects/{subject}/versions/{version}", s.handleCompatibility)
	s.settingRoutes(handle, "/config", levelSetting)
	s.settingRoutes(handle, "/mode", modeSetting)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, newErr(http.StatusNotFound, codeNotFound, "HTTP 404 Not Found: %s %s", r.Method, r.URL.Path))
	})
	return httpauth.Wrap(mux, httpauth.Config{
		Authenticator: s.cfg.Authenticator,
		Realm:         "herald schema registry",
		Open:          []string{"/healthz"},
		ContentType:   ContentType,
		Logger:        s.cfg.Logger,
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", ContentType)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, e *Error) {
	writeJSON(w, e.Status, e)
}

// reply writes v, or e if it is not nil.
func reply(w http.ResponseWriter, v any, e *Error) {
	if e != nil {
		writeErr(w, e)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// decode reads a JSON body into v; unknown fields are accepted.
func decode(r *http.Request, v any) *Error {
	if err := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 16<<20)).Decode(v); err != nil {
		return newErr(http.StatusBadRequest, CodeJSONParse, "Invalid JSON request body: %v", err)
	}
	return nil
}

// flag reports whether query parameter name is "true".
func flag(r *http.Request, name string) bool {
	return strings.EqualFold(r.URL.Query().Get(name), "true")
}
