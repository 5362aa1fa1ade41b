package console

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// pageError is an error with the HTTP status its page answers.
type pageError struct {
	status int
	msg    string
}

func (e *pageError) Error() string { return e.msg }

func notFound(format string, args ...any) error {
	return &pageError{http.StatusNotFound, fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) error {
	return &pageError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// statusOf is err's HTTP status: a pageError's, else 502 (the cluster or
// the registry failed).
func statusOf(err error) int {
	var pe *pageError
	if errors.As(err, &pe) {
		return pe.status
	}
	return http.StatusBadGateway
}

var funcs = template.FuncMap{
	"join": strings.Join,
	"ms": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05.000")
	},
	"bytes": humanBytes,
	// path escapes an id for one path segment (a saga command's id has slashes).
	"path": url.PathEscape,
}

// parseTemplates parses every page with the layout; the pages are
// embedded, so an error is a build bug that every test reports.
func parseTemplates() (map[string]*template.Template, error) {
	out := map[string]*template.Template{}
	names, err := templateFS.ReadDir("templates")
	if err != nil {
		return nil, fmt.Errorf("console: templates: %w", err)
	}
	for _, n := range names {
		if n.Name() == "layout.html" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+n.Name())
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", n.Name(), err)
		}
		out[strings.TrimSuffix(n.Name(), ".html")] = t
	}
	return out, nil
}

// page is what every template gets: the title, the active section, the
// CSRF token for forms, and the page's own data.
type page struct {
	Title    string
	Section  string
	CSRF     string
	Registry bool
	// Sagas and Projections: the console has those sources (their
	// sections are in the navigation).
	Sagas       bool
	Projections bool
	Streams     bool
	Data        any
}

// render writes the named page with status.
func (c *Console) render(w http.ResponseWriter, status int, name, title, section string, data any) {
	var buf bytes.Buffer
	p := page{Title: title, Section: section, CSRF: c.csrf, Registry: c.src != nil,
		Sagas: c.cfg.Sagas != nil, Projections: c.cfg.Projections != nil,
		Streams: len(c.cfg.StreamApps) > 0, Data: data}
	if err := c.tmpl[name].Execute(&buf, p); err != nil {
		c.cfg.Logger.Error("console: render", "page", name, "err", err)
		http.Error(w, "render "+name+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// fail renders the error page for err with its status.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := statusOf(err)
	if status >= 500 {
		c.cfg.Logger.Warn("console: request failed", "path", r.URL.Path, "err", err)
	}
	c.render(w, status, "error", http.StatusText(status), "", struct {
		Status  int
		Message string
	}{status, err.Error()})
}

// checkForm parses a POSTed form and checks its CSRF token.
func (c *Console) checkForm(r *http.Request) error {
	r.Body = http.MaxBytesReader(nil, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		return badRequest("form: %v", err)
	}
	if r.PostForm.Get("csrf") != c.csrf {
		return &pageError{http.StatusForbidden, "the form's CSRF token is missing or stale: reload the page and submit again"}
	}
	return nil
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
