package registry

import (
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// subjectVersion is a version as GET /subjects/{s}/versions/{v} returns
// it; SchemaType is omitted for AVRO, as Confluent does.
type subjectVersion struct {
	Subject    string      `json:"subject"`
	Version    int         `json:"version"`
	ID         int         `json:"id"`
	SchemaType string      `json:"schemaType,omitempty"`
	References []Reference `json:"references,omitempty"`
	Schema     string      `json:"schema"`
}

func toSubjectVersion(v *version) subjectVersion {
	return subjectVersion{Subject: v.Subject, Version: v.Version, ID: v.ID, SchemaType: v.SchemaType, References: v.References, Schema: v.Schema}
}

func (s *Server) handleSchemaTypes(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, []string{TypeJSON, TypeProtobuf, TypeAvro})
}

func (s *Server) handleSchemas(w http.ResponseWriter, r *http.Request) {
	prefix, deleted, latest := r.URL.Query().Get("subjectPrefix"), flag(r, "deleted"), flag(r, "latestOnly")
	names, err := s.readable(r.Context(), s.subjectNames(prefix))
	if err != nil {
		writeErr(w, errUnavailable(err))
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := []subjectVersion{}
	for _, name := range names {
		vs := s.st.live(name, deleted)
		if latest && len(vs) > 0 {
			vs = vs[len(vs)-1:]
		}
		for _, v := range vs {
			out = append(out, toSubjectVersion(v))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// subjectNames are the names of the subjects starting with prefix,
// deleted ones included, sorted.
func (s *Server) subjectNames(prefix string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []string
	for _, name := range s.st.subjectNames() {
		if strings.HasPrefix(name, prefix) {
			out = append(out, name)
		}
	}
	return out
}

// idContent looks up the schema with the id in the path.
func (s *Server) idContent(r *http.Request) (int, *content, *Error) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil {
		return 0, nil, errSchemaNotFound()
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.st.ids[id]
	if !ok {
		return 0, nil, errSchemaNotFound()
	}
	return id, c, nil
}

type schemaByID struct {
	SchemaType string      `json:"schemaType,omitempty"`
	Schema     string      `json:"schema"`
	References []Reference `json:"references,omitempty"`
}

func (s *Server) handleSchemaByID(w http.ResponseWriter, r *http.Request) {
	_, c, e := s.idContent(r)
	if e != nil {
		writeErr(w, e)
		return
	}
	out := schemaByID{Schema: c.text, References: c.refs}
	if c.typ != TypeAvro {
		out.SchemaType = c.typ
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleSchemaTextByID(w http.ResponseWriter, r *http.Request) {
	_, c, e := s.idContent(r)
	if e != nil {
		writeErr(w, e)
		return
	}
	writeRaw(w, c.text)
}

// writeRaw writes a schema's own text as the body, as Confluent does for
// the /schema endpoints.
func writeRaw(w http.ResponseWriter, text string) {
	w.Header().Set("Content-Type", ContentType)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(text))
}

// usages lists the subject versions that use id.
func (s *Server) usages(id int, deleted bool) []*version {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*version
	for _, name := range s.st.subjectNames() {
		for _, v := range s.st.live(name, deleted) {
			if v.ID == id {
				out = append(out, v)
			}
		}
	}
	return out
}

func (s *Server) handleSubjectsByID(w http.ResponseWriter, r *http.Request) {
	id, _, e := s.idContent(r)
	if e != nil {
		writeErr(w, e)
		return
	}
	out := []string{}
	for _, v := range s.usages(id, flag(r, "deleted")) {
		if len(out) == 0 || out[len(out)-1] != v.Subject {
			out = append(out, v.Subject)
		}
	}
	out, err := s.readable(r.Context(), out)
	if err != nil {
		writeErr(w, errUnavailable(err))
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleVersionsByID(w http.ResponseWriter, r *http.Request) {
	id, _, e := s.idContent(r)
	if e != nil {
		writeErr(w, e)
		return
	}
	type sv struct {
		Subject string `json:"subject"`
		Version int    `json:"version"`
	}
	vs := s.usages(id, flag(r, "deleted"))
	subjects := make([]string, len(vs))
	for i, v := range vs {
		subjects[i] = v.Subject
	}
	readable, err := s.readable(r.Context(), subjects)
	if err != nil {
		writeErr(w, errUnavailable(err))
		return
	}
	out := []sv{}
	for _, v := range vs {
		if slices.Contains(readable, v.Subject) {
			out = append(out, sv{v.Subject, v.Version})
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleSubjects(w http.ResponseWriter, r *http.Request) {
	prefix, deleted, only := r.URL.Query().Get("subjectPrefix"), flag(r, "deleted"), flag(r, "deletedOnly")
	names, err := s.readable(r.Context(), s.subjectNames(prefix))
	if err != nil {
		writeErr(w, errUnavailable(err))
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := []string{}
	for _, name := range names {
		hasLive := len(s.st.live(name, false)) > 0
		switch {
		case only && !hasLive, !only && (hasLive || deleted):
			out = append(out, name)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleVersions(w http.ResponseWriter, r *http.Request) {
	subject := r.PathValue("subject")
	s.mu.RLock()
	vs := s.st.live(subject, flag(r, "deleted"))
	s.mu.RUnlock()
	if len(vs) == 0 {
		writeErr(w, errSubjectNotFound(subject))
		return
	}
	out := make([]int, len(vs))
	for i, v := range vs {
		out[i] = v.Version
	}
	sort.Ints(out)
	writeJSON(w, http.StatusOK, out)
}

// pathVersion finds the version named in the path.
func (s *Server) pathVersion(r *http.Request) (*version, *Error) {
	ver, e := parseVersion(r.PathValue("version"))
	if e != nil {
		return nil, e
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.st.find(r.PathValue("subject"), ver, flag(r, "deleted"))
}

func (s *Server) handleVersion(w http.ResponseWriter, r *http.Request) {
	v, e := s.pathVersion(r)
	if e != nil {
		writeErr(w, e)
		return
	}
	writeJSON(w, http.StatusOK, toSubjectVersion(v))
}

func (s *Server) handleVersionSchema(w http.ResponseWriter, r *http.Request) {
	v, e := s.pathVersion(r)
	if e != nil {
		writeErr(w, e)
		return
	}
	writeRaw(w, v.Schema)
}

func (s *Server) handleReferencedBy(w http.ResponseWriter, r *http.Request) {
	v, e := s.pathVersion(r)
	if e != nil {
		writeErr(w, e)
		return
	}
	s.mu.RLock()
	ids := s.st.referencedBy(v.Subject, v.Version)
	s.mu.RUnlock()
	if ids == nil {
		ids = []int{}
	}
	writeJSON(w, http.StatusOK, ids)
}
