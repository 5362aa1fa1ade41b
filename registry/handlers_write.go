package registry

import (
	"net/http"
)

func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) {
	var req schemaRequest
	if e := decode(r, &req); e != nil {
		writeErr(w, e)
		return
	}
	id, e := s.register(r.Context(), r.PathValue("subject"), &req)
	reply(w, map[string]int{"id": id}, e)
}

// handleLookup implements POST /subjects/{s}: is this schema registered
// under the subject, and as which version?
func (s *Server) handleLookup(w http.ResponseWriter, r *http.Request) {
	var req schemaRequest
	if e := decode(r, &req); e != nil {
		writeErr(w, e)
		return
	}
	v, e := s.lookup(r.PathValue("subject"), &req, flag(r, "deleted"))
	if e != nil {
		writeErr(w, e)
		return
	}
	writeJSON(w, http.StatusOK, toSubjectVersion(v))
}

func (s *Server) lookup(subject string, req *schemaRequest, deleted bool) (*version, *Error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	vs := s.st.live(subject, deleted)
	if len(vs) == 0 {
		return nil, errSubjectNotFound(subject)
	}
	typ, _, e := s.parseRequestLocked(req)
	if e != nil {
		return nil, e
	}
	for i := len(vs) - 1; i >= 0; i-- {
		if s.sameSchema(vs[i], typ, req) {
			return vs[i], nil
		}
	}
	return nil, errSchemaNotFound()
}

func (s *Server) handleDeleteSubject(w http.ResponseWriter, r *http.Request) {
	vers, e := s.deleteSubject(r.Context(), r.PathValue("subject"), flag(r, "permanent"))
	reply(w, vers, e)
}

func (s *Server) handleDeleteVersion(w http.ResponseWriter, r *http.Request) {
	ver, e := parseVersion(r.PathValue("version"))
	if e != nil {
		writeErr(w, e)
		return
	}
	v, e := s.deleteVersion(r.Context(), r.PathValue("subject"), ver, flag(r, "permanent"))
	reply(w, v, e)
}

type compatResult struct {
	IsCompatible bool     `json:"is_compatible"`
	Messages     []string `json:"messages,omitempty"`
}

// handleCompatibility implements POST /compatibility/subjects/{s}/versions
// (against the versions the subject's level asks for) and .../{v} (against
// that one version).
func (s *Server) handleCompatibility(w http.ResponseWriter, r *http.Request) {
	var req schemaRequest
	if e := decode(r, &req); e != nil {
		writeErr(w, e)
		return
	}
	msgs, e := s.checkCompatibility(r.PathValue("subject"), r.PathValue("version"), &req)
	if e != nil {
		writeErr(w, e)
		return
	}
	res := compatResult{IsCompatible: len(msgs) == 0}
	if flag(r, "verbose") {
		res.Messages = append([]string{}, msgs...)
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) checkCompatibility(subject, verStr string, req *schemaRequest) ([]string, *Error) {
	ver := 0
	if verStr != "" {
		var e *Error
		if ver, e = parseVersion(verStr); e != nil {
			return nil, e
		}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	typ, p, e := s.parseRequestLocked(req)
	if e != nil {
		return nil, e
	}
	level := s.st.level(subject)
	olds := s.st.live(subject, false)
	if ver != 0 {
		v, e := s.st.find(subject, ver, false)
		if e != nil {
			if ver == -1 && e.Code == CodeSubjectNotFound {
				return nil, nil // nothing to be incompatible with
			}
			return nil, e
		}
		olds = []*version{v}
	}
	return s.checkLocked(level, typ, p, olds), nil
}

type levelBody struct {
	Compatibility      string `json:"compatibility,omitempty"`
	CompatibilityLevel string `json:"compatibilityLevel,omitempty"`
}

type modeBody struct {
	Mode string `json:"mode"`
}

// settingRoutes serves GET/PUT/DELETE on prefix and prefix/{subject} for a
// setting (compatibility level or mode).
func (s *Server) settingRoutes(handle func(string, http.HandlerFunc), prefix string, set setting) {
	for _, p := range []string{prefix, prefix + "/{subject}"} {
		handle("GET "+p, func(w http.ResponseWriter, r *http.Request) {
			v, e := s.getSetting(set, r.PathValue("subject"), flag(r, "defaultToGlobal"))
			reply(w, settingBody(set, v, false), e)
		})
		handle("PUT "+p, func(w http.ResponseWriter, r *http.Request) {
			var body struct {
				levelBody
				modeBody
			}
			if e := decode(r, &body); e != nil {
				writeErr(w, e)
				return
			}
			in := body.Mode
			if set.kind == keyConfig {
				in = body.Compatibility
				if in == "" {
					in = body.CompatibilityLevel
				}
			}
			v, e := s.putSetting(r.Context(), set, r.PathValue("subject"), in)
			reply(w, settingBody(set, v, true), e)
		})
		handle("DELETE "+p, func(w http.ResponseWriter, r *http.Request) {
			v, e := s.deleteSetting(r.Context(), set, r.PathValue("subject"))
			reply(w, settingBody(set, v, false), e)
		})
	}
}

// settingBody is the response body: {"compatibilityLevel":..} for GET and
// DELETE of a level, {"compatibility":..} for PUT, {"mode":..} for modes.
func settingBody(set setting, v string, put bool) any {
	if set.kind == keyMode {
		return modeBody{Mode: v}
	}
	if put {
		return levelBody{Compatibility: v}
	}
	return levelBody{CompatibilityLevel: v}
}
