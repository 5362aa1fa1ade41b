package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/sr"
)

// subjectRow is one subject of the schemas list.
type subjectRow struct {
	Name     string
	Latest   int
	ID       int
	Type     string
	Versions int
}

// registryErr makes the registry's "not found" answers notFound.
func registryErr(what string, err error) error {
	var re *sr.ResponseError
	if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
		return notFound("%s: %s", what, re.Message)
	}
	if errors.As(err, &re) && re.StatusCode < 500 {
		return badRequest("%s: %s", what, re.Message)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// needRegistry is the error of a schema page without a registry.
func (c *Console) needRegistry() error {
	if c.src == nil {
		return notFound("this console has no schema registry (herald console --registry URL)")
	}
	return nil
}

func (c *Console) handleSubjects(w http.ResponseWriter, r *http.Request) {
	if err := c.needRegistry(); err != nil {
		c.fail(w, r, err)
		return
	}
	all, err := c.src.AllSchemas(r.Context())
	if err != nil {
		c.fail(w, r, registryErr("list schemas", err))
		return
	}
	var rows []subjectRow
	idx := map[string]int{}
	for _, s := range all {
		i, ok := idx[s.Subject]
		if !ok {
			i = len(rows)
			idx[s.Subject] = i
			rows = append(rows, subjectRow{Name: s.Subject})
		}
		row := &rows[i]
		row.Versions++
		if s.Version > row.Latest {
			row.Latest, row.ID, row.Type = s.Version, s.ID, s.Type.String()
		}
	}
	global := c.src.Compatibility(sr.WithParams(r.Context(), sr.DefaultToGlobal))
	level := ""
	if len(global) > 0 && global[0].Err == nil {
		level = global[0].Level.String()
	}
	c.render(w, http.StatusOK, "schemas", "Schemas", "schemas", struct {
		Subjects []subjectRow
		Level    string
	}{rows, level})
}

// subjectPage is a subject's page: its versions, one shown, a diff of two,
// the compatibility level, and a draft's check.
type subjectPage struct {
	Subject  string
	Versions []int
	Shown    sr.SubjectSchema
	Text     string // Shown's schema, indented when JSON
	Level    string
	Levels   []string
	A, B     int
	Diff     []diffLine
	Draft    string
	DraftTyp string
	Check    *sr.CheckCompatibilityResult
	Error    string
}

// levels are the compatibility levels a subject can be set to.
var levels = []string{"BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE", "NONE"}

// subject gathers a subject's page; version and a, b (for the diff) come
// from the query. An unknown subject or version is notFound.
func (c *Console) subject(ctx context.Context, subject string, q map[string][]string) (*subjectPage, error) {
	versions, err := c.src.SubjectVersions(ctx, subject)
	if err != nil {
		return nil, registryErr("subject "+subject, err)
	}
	if len(versions) == 0 {
		return nil, notFound("subject %q has no versions", subject)
	}
	sp := &subjectPage{Subject: subject, Versions: versions, Levels: levels[:]}
	get := func(k string, def int) (int, error) {
		vs := q[k]
		if len(vs) == 0 || vs[0] == "" {
			return def, nil
		}
		n, err := strconv.Atoi(vs[0])
		if err != nil || n < 1 {
			return 0, badRequest("%s %q: want a version number", k, vs[0])
		}
		return n, nil
	}
	latest := versions[len(versions)-1]
	v, err := get("version", latest)
	if err != nil {
		return nil, err
	}
	if sp.Shown, err = c.src.SchemaByVersion(ctx, subject, v); err != nil {
		return nil, registryErr(fmt.Sprintf("subject %s version %d", subject, v), err)
	}
	sp.Text = indent(sp.Shown.Schema.Schema)
	if res := c.src.Compatibility(sr.WithParams(ctx, sr.DefaultToGlobal), subject); len(res) > 0 && res[0].Err == nil {
		sp.Level = res[0].Level.String()
	}
	if sp.A, err = get("a", 0); err != nil {
		return nil, err
	}
	if sp.B, err = get("b", 0); err != nil {
		return nil, err
	}
	if sp.A > 0 && sp.B > 0 {
		if sp.Diff, err = c.diffVersions(ctx, subject, sp.A, sp.B); err != nil {
			return nil, err
		}
	}
	return sp, nil
}

// diffVersions diffs versions a and b of subject line by line.
func (c *Console) diffVersions(ctx context.Context, subject string, a, b int) ([]diffLine, error) {
	sa, err := c.src.SchemaByVersion(ctx, subject, a)
	if err != nil {
		return nil, registryErr(fmt.Sprintf("version %d", a), err)
	}
	sb, err := c.src.SchemaByVersion(ctx, subject, b)
	if err != nil {
		return nil, registryErr(fmt.Sprintf("version %d", b), err)
	}
	return diff(strings.Split(indent(sa.Schema.Schema), "\n"), strings.Split(indent(sb.Schema.Schema), "\n")), nil
}

// indent pretty-prints JSON schemas (Avro, JSON Schema); others as is.
func indent(s string) string {
	var buf bytes.Buffer
	if json.Indent(&buf, []byte(s), "", "  ") == nil {
		return buf.String()
	}
	return s
}

func (c *Console) handleSubject(w http.ResponseWriter, r *http.Request) {
	if err := c.needRegistry(); err != nil {
		c.fail(w, r, err)
		return
	}
	sp, err := c.subject(r.Context(), r.PathValue("subject"), r.URL.Query())
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, http.StatusOK, "subject", "Subject "+sp.Subject, "schemas", sp)
}

// handleCheckSchema checks a draft schema against the subject's latest
// version under its compatibility level, registering nothing.
func (c *Console) handleCheckSchema(w http.ResponseWriter, r *http.Request) {
	if err := c.needRegistry(); err != nil {
		c.fail(w, r, err)
		return
	}
	if err := c.checkForm(r); err != nil {
		c.fail(w, r, err)
		return
	}
	sp, err := c.subject(r.Context(), r.PathValue("subject"), nil)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	sp.Draft, sp.DraftTyp = r.PostForm.Get("schema"), r.PostForm.Get("type")
	var typ sr.SchemaType
	if err := typ.UnmarshalText([]byte(sp.DraftTyp)); err != nil {
		sp.Error = fmt.Sprintf("schema type %q: want AVRO, JSON or PROTOBUF", sp.DraftTyp)
		c.render(w, http.StatusBadRequest, "subject", "Subject "+sp.Subject, "schemas", sp)
		return
	}
	ctx := sr.WithParams(r.Context(), sr.Verbose)
	res, err := c.src.CheckCompatibility(ctx, sp.Subject, -1, sr.Schema{Schema: sp.Draft, Type: typ})
	status := http.StatusOK
	if err != nil {
		err = registryErr("check draft", err)
		status, sp.Error = statusOf(err), err.Error()
	} else {
		sp.Check = &res
	}
	c.render(w, status, "subject", "Subject "+sp.Subject, "schemas", sp)
}

// handleSetCompatibility sets the subject's compatibility level.
func (c *Console) handleSetCompatibility(w http.ResponseWriter, r *http.Request) {
	if err := c.needRegistry(); err != nil {
		c.fail(w, r, err)
		return
	}
	if err := c.checkForm(r); err != nil {
		c.fail(w, r, err)
		return
	}
	subject := r.PathValue("subject")
	var level sr.CompatibilityLevel
	if err := level.UnmarshalText([]byte(r.PostForm.Get("level"))); err != nil {
		c.fail(w, r, badRequest("compatibility level %q: want one of %s", r.PostForm.Get("level"), strings.Join(levels, ", ")))
		return
	}
	res := c.src.SetCompatibility(r.Context(), sr.SetCompatibility{Level: level}, subject)
	if len(res) > 0 && res[0].Err != nil {
		c.fail(w, r, registryErr("set compatibility", res[0].Err))
		return
	}
	http.Redirect(w, r, "/schemas/"+pathEscape(subject), http.StatusSeeOther)
}
