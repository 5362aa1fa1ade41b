package registry

import (
	"context"
	"net/http"
)

// setting is the compatibility level or mode of a subject or, for the
// subject "", of the registry.
type setting struct {
	kind     string // keyConfig or keyMode
	values   func(st *state) map[string]string
	parse    func(string) (string, bool)
	invalid  func(string) *Error
	notSet   func(subject string) *Error
	fallback func(st *state, subject string) string
}

var levelSetting = setting{
	kind:     keyConfig,
	values:   func(st *state) map[string]string { return st.configs },
	parse:    parseLevel,
	invalid:  errInvalidLevel,
	fallback: (*state).level,
	notSet: func(subject string) *Error {
		return newErr(http.StatusNotFound, CodeSubjectCompatNotSet, "Subject '%s' does not have subject-level compatibility configured", subject)
	},
}

var modeSetting = setting{
	kind:   keyMode,
	values: func(st *state) map[string]string { return st.modes },
	parse:  parseMode,
	invalid: func(m string) *Error {
		return newErr(http.StatusUnprocessableEntity, CodeInvalidMode, "Invalid mode. Valid values are READWRITE, READONLY and IMPORT; got %q", m)
	},
	fallback: (*state).mode,
	notSet: func(subject string) *Error {
		return newErr(http.StatusNotFound, CodeSubjectModeNotSet, "Subject '%s' does not have subject-level mode configured", subject)
	},
}

func (set setting) entry(subject, value string) entry {
	if set.kind == keyConfig {
		return configEntry(subject, value)
	}
	return modeEntry(subject, value)
}

// get returns the setting of subject; with defaultToGlobal (or for the
// global subject "") it falls back to the global one, then the default.
func (s *Server) getSetting(set setting, subject string, defaultToGlobal bool) (string, *Error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if v, ok := set.values(s.st)[subject]; ok {
		return v, nil
	}
	if subject != "" && !defaultToGlobal {
		return "", set.notSet(subject)
	}
	return set.fallback(s.st, subject), nil
}

func (s *Server) putSetting(ctx context.Context, set setting, subject, value string) (string, *Error) {
	v, ok := set.parse(value)
	if !ok {
		return "", set.invalid(value)
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := s.commit(ctx, set.entry(subject, v)); err != nil {
		return "", asError(err)
	}
	return v, nil
}

// deleteSetting removes subject's setting and returns the one it had (the
// one in force, if none was set).
func (s *Server) deleteSetting(ctx context.Context, set setting, subject string) (string, *Error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.RLock()
	prev := set.fallback(s.st, subject)
	_, hasSubject := s.st.subjects[subject]
	s.mu.RUnlock()
	if subject != "" && !hasSubject {
		if _, e := s.getSetting(set, subject, false); e != nil {
			return "", errSubjectNotFound(subject)
		}
	}
	if err := s.commit(ctx, set.entry(subject, "")); err != nil {
		return "", asError(err)
	}
	return prev, nil
}
