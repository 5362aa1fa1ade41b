package console

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
)

// pathFilter is the browser's JSONPath match: a path of fields and array
// indexes from the root ($.order.items[0].sku) and, optionally, the value
// it must hold ($.status=paid, $.qty=2, $.gift=true). Without a value the
// path must exist. Values not shown as JSON never match.
type pathFilter struct {
	steps []pathStep
	want  any  // decoded JSON, or the raw text as a string
	has   bool // a value was given
}

// pathStep is a field name, or an index when field is "".
type pathStep struct {
	field string
	index int
}

// parsePath reads "$.a.b[2].c" with an optional "=value".
func parsePath(s string) (*pathFilter, error) {
	expr, val, has := strings.Cut(s, "=")
	expr = strings.TrimSpace(expr)
	bad := badRequest("JSONPath filter %q: want $.field.field[index]… optionally followed by =value, e.g. $.order.status=paid", s)
	if !strings.HasPrefix(expr, "$") {
		return nil, bad
	}
	pf := &pathFilter{has: has}
	rest := expr[1:]
	for rest != "" {
		switch rest[0] {
		case '.':
			end := strings.IndexAny(rest[1:], ".[")
			if end < 0 {
				end = len(rest) - 1
			}
			name := rest[1 : 1+end]
			if name == "" {
				return nil, bad
			}
			pf.steps = append(pf.steps, pathStep{field: name})
			rest = rest[1+end:]
		case '[':
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return nil, bad
			}
			n, err := strconv.Atoi(rest[1:end])
			if err != nil || n < 0 {
				return nil, bad
			}
			pf.steps = append(pf.steps, pathStep{index: n})
			rest = rest[end+1:]
		default:
			return nil, bad
		}
	}
	if has {
		val = strings.TrimSpace(val)
		if err := json.Unmarshal([]byte(val), &pf.want); err != nil {
			pf.want = val // a bare word compares as a string
		}
	}
	return pf, nil
}

// match reports whether v (a shown value) holds the path (and value).
func (pf *pathFilter) match(v Value) bool {
	switch v.Format {
	case FormatJSON, FormatAvro, FormatJSONSR, FormatProtobuf:
	default:
		return false
	}
	if v.Truncated {
		return false // a cut document does not parse; the API's full values do
	}
	var doc any
	if err := json.Unmarshal([]byte(v.Data), &doc); err != nil {
		return false
	}
	for _, st := range pf.steps {
		var ok bool
		if doc, ok = step(doc, st); !ok {
			return false
		}
	}
	return !pf.has || reflect.DeepEqual(doc, pf.want)
}

func step(doc any, st pathStep) (any, bool) {
	if st.field != "" {
		m, ok := doc.(map[string]any)
		if !ok {
			return nil, false
		}
		v, ok := m[st.field]
		return v, ok
	}
	a, ok := doc.([]any)
	if !ok || st.index >= len(a) {
		return nil, false
	}
	return a[st.index], true
}
