package registry

import (
	"context"
	"net/http"
)

// deleteSubject implements DELETE /subjects/{s}[?permanent=true]: a soft
// delete marks every live version deleted; a permanent delete removes
// versions that were soft-deleted first.
func (s *Server) deleteSubject(ctx context.Context, subject string, permanent bool) ([]int, *Error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	entries, vers, e := s.prepareDeleteSubject(subject, permanent)
	if e != nil {
		return nil, e
	}
	if err := s.commit(ctx, entries...); err != nil {
		return nil, asError(err)
	}
	return vers, nil
}

func (s *Server) prepareDeleteSubject(subject string, permanent bool) ([]entry, []int, *Error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.st.mode(subject) == ModeReadOnly {
		return nil, nil, errReadOnly(subject)
	}
	all := s.st.subjects[subject]
	if len(all) == 0 {
		return nil, nil, errSubjectNotFound(subject)
	}
	live := s.st.live(subject, false)
	if permanent && len(live) > 0 {
		return nil, nil, newErr(http.StatusNotFound, CodeSubjectNotSoftDeleted, "Subject '%s' was not deleted first before being permanently deleted", subject)
	}
	if !permanent && len(live) == 0 {
		return nil, nil, newErr(http.StatusNotFound, CodeSubjectSoftDeleted, "Subject '%s' was soft deleted. Set permanent=true to delete permanently", subject)
	}
	todo := live
	if permanent {
		todo = all
	}
	var entries []entry
	vers := make([]int, 0, len(todo))
	for _, v := range todo {
		if e := s.checkNotReferencedLocked(v); e != nil {
			return nil, nil, e
		}
		vers = append(vers, v.Version)
		entries = append(entries, deleteEntry(v, permanent))
	}
	if permanent {
		// The subject's own settings go with it.
		entries = append(entries, configEntry(subject, ""), modeEntry(subject, ""), highWaterEntry(s.st.maxID))
	}
	return entries, vers, nil
}

func deleteEntry(v *version, permanent bool) entry {
	if permanent {
		return schemaTombstone(v.Subject, v.Version)
	}
	d := *v
	d.Deleted = true
	return schemaEntry(&d)
}

func (s *Server) checkNotReferencedLocked(v *version) *Error {
	if ids := s.st.referencedBy(v.Subject, v.Version); len(ids) > 0 {
		return newErr(http.StatusUnprocessableEntity, CodeReferenceExists, "One or more references exist to the schema {subject=%s, version=%d}: ids %v", v.Subject, v.Version, ids)
	}
	return nil
}

// deleteVersion implements DELETE /subjects/{s}/versions/{v}.
func (s *Server) deleteVersion(ctx context.Context, subject string, ver int, permanent bool) (int, *Error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	ent, e := s.prepareDeleteVersion(subject, ver, permanent)
	if e != nil {
		return 0, e
	}
	entries := []entry{ent}
	if permanent {
		s.mu.RLock()
		entries = append(entries, highWaterEntry(s.st.maxID))
		s.mu.RUnlock()
	}
	if err := s.commit(ctx, entries...); err != nil {
		return 0, asError(err)
	}
	return ent.key.Version, nil
}

func (s *Server) prepareDeleteVersion(subject string, ver int, permanent bool) (entry, *Error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.st.mode(subject) == ModeReadOnly {
		return entry{}, errReadOnly(subject)
	}
	v, e := s.st.find(subject, ver, permanent)
	if e != nil {
		return entry{}, e
	}
	if permanent && !v.Deleted {
		return entry{}, newErr(http.StatusNotFound, CodeVersionNotSoftDeleted, "Subject '%s' Version %d was not deleted first before being permanently deleted", subject, v.Version)
	}
	if !permanent && v.Deleted {
		return entry{}, newErr(http.StatusNotFound, CodeVersionSoftDeleted, "Subject '%s' Version %d was soft deleted. Set permanent=true to delete permanently", subject, v.Version)
	}
	if e := s.checkNotReferencedLocked(v); e != nil {
		return entry{}, e
	}
	return deleteEntry(v, permanent), nil
}
