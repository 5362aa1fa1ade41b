package registry

import (
	"sort"
	"strings"
)

// Reference names another subject's schema version from inside a schema.
type Reference struct {
	Name    string `json:"name"`
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// Schema types, as the REST API spells them.
const (
	TypeAvro     = "AVRO"
	TypeJSON     = "JSON"
	TypeProtobuf = "PROTOBUF"
)

// version is one subject version: the value of a SCHEMA record in
// _schemas. Part of the storage format; do not change the JSON names.
type version struct {
	Subject    string      `json:"subject"`
	Version    int         `json:"version"`
	ID         int         `json:"id"`
	SchemaType string      `json:"schemaType,omitempty"` // empty means AVRO
	References []Reference `json:"references,omitempty"`
	Schema     string      `json:"schema"`
	Deleted    bool        `json:"deleted"`
}

func (v *version) typ() string {
	if v.SchemaType == "" {
		return TypeAvro
	}
	return v.SchemaType
}

// content is what an id stands for: a schema's type, text and references.
type content struct {
	typ  string
	text string
	refs []Reference
}

// state is the registry's in-memory view of _schemas. It is not
// synchronized; Server.mu guards it.
type state struct {
	// subjects[s] lists the versions of s in increasing version order,
	// soft-deleted ones included; hard-deleted ones are gone.
	subjects map[string][]*version
	ids      map[int]*content
	// byKey maps a content key (type, canonical text, references) to its
	// id, so identical schemas share an id across subjects.
	byKey   map[string]int
	configs map[string]string // subject ("" = global) -> level
	modes   map[string]string // subject ("" = global) -> mode
	// Invariant: maxID >= every id ever seen, also hard-deleted ones.
	maxID int
}

func newState() *state {
	return &state{
		subjects: map[string][]*version{},
		ids:      map[int]*content{},
		byKey:    map[string]int{},
		configs:  map[string]string{},
		modes:    map[string]string{},
	}
}

func contentKey(typ, canonical string, refs []Reference) string {
	var b strings.Builder
	b.WriteString(typ)
	b.WriteByte(0)
	b.WriteString(canonical)
	for _, r := range refs {
		b.WriteByte(0)
		b.WriteString(r.Name)
		b.WriteByte(1)
		b.WriteString(r.Subject)
		b.WriteByte(1)
		b.WriteString(itoa(r.Version))
	}
	return b.String()
}

// putVersion stores v, replacing the same subject version if present.
func (st *state) putVersion(v *version, canonical string) {
	vs := st.subjects[v.Subject]
	i := sort.Search(len(vs), func(i int) bool { return vs[i].Version >= v.Version })
	if i < len(vs) && vs[i].Version == v.Version {
		vs[i] = v
	} else {
		vs = append(vs, nil)
		copy(vs[i+1:], vs[i:])
		vs[i] = v
	}
	st.subjects[v.Subject] = vs
	if _, ok := st.ids[v.ID]; !ok {
		st.ids[v.ID] = &content{typ: v.typ(), text: v.Schema, refs: v.References}
		st.byKey[contentKey(v.typ(), canonical, v.References)] = v.ID
	}
	if v.ID > st.maxID {
		st.maxID = v.ID
	}
}

// removeVersion hard-deletes a subject version; an id no version uses any
// more is forgotten, but never reused (maxID stays).
func (st *state) removeVersion(subject string, ver int, canonical func(*content) string) {
	vs := st.subjects[subject]
	for i, v := range vs {
		if v.Version != ver {
			continue
		}
		vs = append(vs[:i:i], vs[i+1:]...)
		if len(vs) == 0 {
			delete(st.subjects, subject)
		} else {
			st.subjects[subject] = vs
		}
		if !st.idUsed(v.ID) {
			if c := st.ids[v.ID]; c != nil {
				delete(st.byKey, contentKey(c.typ, canonical(c), c.refs))
			}
			delete(st.ids, v.ID)
		}
		return
	}
}

func (st *state) idUsed(id int) bool {
	for _, vs := range st.subjects {
		for _, v := range vs {
			if v.ID == id {
				return true
			}
		}
	}
	return false
}

// live returns the versions of subject that are not soft-deleted (all of
// them with deleted).
func (st *state) live(subject string, deleted bool) []*version {
	var out []*version
	for _, v := range st.subjects[subject] {
		if deleted || !v.Deleted {
			out = append(out, v)
		}
	}
	return out
}

// find returns subject's version ver (-1: the latest live one).
func (st *state) find(subject string, ver int, deleted bool) (*version, *Error) {
	vs := st.live(subject, deleted)
	if len(vs) == 0 {
		return nil, errSubjectNotFound(subject)
	}
	if ver == -1 {
		return vs[len(vs)-1], nil
	}
	for _, v := range vs {
		if v.Version == ver {
			return v, nil
		}
	}
	return nil, errVersionNotFound(ver)
}

// nextVersion is the version number a new registration under subject gets.
func (st *state) nextVersion(subject string) int {
	vs := st.subjects[subject]
	if len(vs) == 0 {
		return 1
	}
	return vs[len(vs)-1].Version + 1
}

// referencedBy returns the ids of live schemas that reference subject
// version ver.
func (st *state) referencedBy(subject string, ver int) []int {
	seen := map[int]bool{}
	var ids []int
	for _, vs := range st.subjects {
		for _, v := range vs {
			if v.Deleted || seen[v.ID] {
				continue
			}
			for _, r := range v.References {
				if r.Subject == subject && r.Version == ver {
					seen[v.ID] = true
					ids = append(ids, v.ID)
					break
				}
			}
		}
	}
	sort.Ints(ids)
	return ids
}

func (st *state) subjectNames() []string {
	names := make([]string, 0, len(st.subjects))
	for s := range st.subjects {
		names = append(names, s)
	}
	sort.Strings(names)
	return names
}

// level is the compatibility level in force for subject.
func (st *state) level(subject string) string {
	if l, ok := st.configs[subject]; ok {
		return l
	}
	if l, ok := st.configs[""]; ok {
		return l
	}
	return LevelBackward
}

// mode is the mode in force for subject.
func (st *state) mode(subject string) string {
	if m, ok := st.modes[subject]; ok {
		return m
	}
	if m, ok := st.modes[""]; ok {
		return m
	}
	return ModeReadWrite
}
