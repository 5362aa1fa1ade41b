package registry

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/heraldhq/herald/registry/compat"
)

// schemaRequest is the body of register, lookup and compatibility calls.
// Unknown fields (metadata, ruleSet, ...) are accepted and ignored.
type schemaRequest struct {
	Schema     string      `json:"schema"`
	SchemaType string      `json:"schemaType"`
	References []Reference `json:"references"`
	ID         int         `json:"id"`
	Version    int         `json:"version"`
}

func (r *schemaRequest) typ() (string, *Error) {
	t := strings.ToUpper(r.SchemaType)
	switch t {
	case "":
		return TypeAvro, nil
	case TypeAvro, TypeJSON, TypeProtobuf:
		return t, nil
	}
	return "", newErr(http.StatusUnprocessableEntity, CodeInvalidSchema, "Invalid schema type %q: must be one of AVRO, JSON, PROTOBUF", r.SchemaType)
}

// parseVersion parses a version path element: "latest" or -1 mean the
// latest version (returned as -1), otherwise 1..2^31-1.
func parseVersion(s string) (int, *Error) {
	if s == "latest" {
		return -1, nil
	}
	v, err := strconv.ParseInt(s, 10, 32)
	if err != nil || v == 0 || v < -1 {
		return 0, errInvalidVersion(s)
	}
	return int(v), nil
}

// resolveRefs returns refs' schemas, transitively, dependencies first.
// mu must be held (read).
func resolveRefs(st *state, refs []Reference) ([]compat.Ref, *Error) {
	var out []compat.Ref
	seen := map[string]bool{}
	var walk func(refs []Reference, depth int) *Error
	walk = func(refs []Reference, depth int) *Error {
		if depth > 32 {
			return errInvalidSchema(fmt.Errorf("references nest deeper than 32"))
		}
		for _, r := range refs {
			if seen[r.Name] {
				continue
			}
			ver := r.Version
			if ver <= 0 {
				ver = -1
			}
			v, e := st.find(r.Subject, ver, true)
			if e != nil {
				return errInvalidSchema(fmt.Errorf("reference %q (subject %q version %d): %s", r.Name, r.Subject, r.Version, e.Message))
			}
			seen[r.Name] = true
			if e := walk(v.References, depth+1); e != nil {
				return e
			}
			out = append(out, compat.Ref{Name: r.Name, Schema: v.Schema})
		}
		return nil
	}
	return out, walk(refs, 0)
}

// parseRequest validates a request's schema. mu must be held (read).
func (s *Server) parseRequestLocked(req *schemaRequest) (typ string, parsed any, e *Error) {
	typ, e = req.typ()
	if e != nil {
		return "", nil, e
	}
	refs, e := resolveRefs(s.st, req.References)
	if e != nil {
		return "", nil, e
	}
	f, _ := s.format(typ)
	p, err := f.parse(req.Schema, refs)
	if err != nil {
		return "", nil, errInvalidSchema(err)
	}
	return typ, p, nil
}

// parsedLocked returns v's parsed schema, from the cache if possible.
// mu must be held (read).
func (s *Server) parsedLocked(v *version) (any, error) {
	if p, ok := s.parsed.get(v.ID); ok {
		return p, nil
	}
	refs, e := resolveRefs(s.st, v.References)
	if e != nil {
		return nil, e
	}
	f, err := s.format(v.typ())
	if err != nil {
		return nil, err
	}
	p, err := f.parse(v.Schema, refs)
	if err != nil {
		return nil, err
	}
	s.parsed.put(v.ID, p)
	return p, nil
}

// sameSchema reports whether v is req's schema.
func (s *Server) sameSchema(v *version, typ string, req *schemaRequest) bool {
	return v.typ() == typ && refsEqual(v.References, req.References) &&
		s.canonical(typ, v.Schema) == s.canonical(typ, req.Schema)
}

func refsEqual(a, b []Reference) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// checkLocked checks a new schema against the old versions the level
// asks for and returns Confluent-style messages; none means compatible.
// mu must be held (read).
func (s *Server) checkLocked(level, typ string, p any, olds []*version) []string {
	back, fwd, trans := directions(level)
	if !back && !fwd {
		return nil
	}
	if !trans && len(olds) > 1 {
		olds = olds[len(olds)-1:]
	}
	f, _ := s.format(typ)
	for i := len(olds) - 1; i >= 0; i-- {
		old := olds[i]
		issues, err := s.issuesLocked(f, typ, p, old, back, fwd)
		if err != nil {
			issues = []compat.Issue{{Kind: "OLD_SCHEMA_INVALID", Path: "/", Message: err.Error()}}
		}
		if len(issues) > 0 {
			msgs := compat.Strings(issues)
			return append(msgs,
				fmt.Sprintf("{oldSchemaVersion: %d}", old.Version),
				fmt.Sprintf("{oldSchema: '%s'}", old.Schema),
				fmt.Sprintf("{compatibility: '%s'}", level))
		}
	}
	return nil
}

func (s *Server) issuesLocked(f format, typ string, p any, old *version, back, fwd bool) ([]compat.Issue, error) {
	if old.typ() != typ {
		return []compat.Issue{{Kind: "TYPE_CHANGED", Path: "/", Message: fmt.Sprintf("Incompatible because of different schema type: %s, was %s", typ, old.typ())}}, nil
	}
	op, err := s.parsedLocked(old)
	if err != nil {
		return nil, err
	}
	var issues []compat.Issue
	if back {
		issues = append(issues, f.check(p, op)...)
	}
	if fwd {
		issues = append(issues, f.check(op, p)...)
	}
	return issues, nil
}

// register implements POST /subjects/{s}/versions.
func (s *Server) register(ctx context.Context, subject string, req *schemaRequest) (int, *Error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	v, existing, e := s.prepareRegister(subject, req)
	if e != nil {
		return 0, e
	}
	if v == nil {
		return existing, nil
	}
	if err := s.commit(ctx, schemaEntry(v)); err != nil {
		return 0, asError(err)
	}
	return v.ID, nil
}

// prepareRegister decides what registering req under subject means:
// either the schema is already a live version (existing is its id, v is
// nil), or v is the new version to commit.
func (s *Server) prepareRegister(subject string, req *schemaRequest) (v *version, existing int, e *Error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	mode := s.st.mode(subject)
	if mode == ModeReadOnly {
		return nil, 0, errReadOnly(subject)
	}
	typ, p, e := s.parseRequestLocked(req)
	if e != nil {
		return nil, 0, e
	}
	live := s.st.live(subject, false)
	for _, old := range live {
		if s.sameSchema(old, typ, req) && (req.ID <= 0 || req.ID == old.ID) {
			return nil, old.ID, nil
		}
	}
	if mode != ModeImport {
		if msgs := s.checkLocked(s.st.level(subject), typ, p, live); msgs != nil {
			return nil, 0, newErr(http.StatusConflict, CodeIncompatible, "Schema being registered is incompatible with an earlier schema for subject %q, details: [%s]", subject, strings.Join(msgs, ", "))
		}
	}
	v, e = s.newVersionLocked(subject, typ, req, mode)
	return v, 0, e
}

func errReadOnly(subject string) *Error {
	return newErr(http.StatusUnprocessableEntity, CodeOperationNotPermitted, "Subject %s is in read-only mode", subject)
}

func (s *Server) newVersionLocked(subject, typ string, req *schemaRequest, mode string) (*version, *Error) {
	key := contentKey(typ, s.canonical(typ, req.Schema), req.References)
	id, known := s.st.byKey[key]
	if req.ID > 0 {
		if mode != ModeImport && (!known || id != req.ID) {
			return nil, newErr(http.StatusUnprocessableEntity, CodeOperationNotPermitted, "Overwrite new schema with id %d is not permitted outside IMPORT mode", req.ID)
		}
		if c, ok := s.st.ids[req.ID]; ok && contentKey(c.typ, s.canonicalOf(c), c.refs) != key {
			return nil, newErr(http.StatusUnprocessableEntity, CodeIDDoesNotMatch, "Overwrite new schema with id %d: the id is in use by a different schema", req.ID)
		}
		id, known = req.ID, true
	}
	if !known {
		id = s.st.maxID + 1
	}
	ver := s.st.nextVersion(subject)
	if mode == ModeImport && req.Version > 0 {
		ver = req.Version
	}
	st := typ
	if st == TypeAvro {
		st = ""
	}
	return &version{Subject: subject, Version: ver, ID: id, SchemaType: st, References: req.References, Schema: req.Schema}, nil
}
