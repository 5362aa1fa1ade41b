package acl

import "strings"

// splitNonEmpty splits s at sep, trims spaces and drops empty parts.
func splitNonEmpty(s string, sep byte) []string {
	var out []string
	for _, p := range strings.Split(s, string(sep)) {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
