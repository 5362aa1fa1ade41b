// Package sqlbind turns the ? placeholders the SDK's SQL is written with
// into PostgreSQL's numbered $1, $2, ... (SQLite takes ? as it is). The
// event store, projections and sagas share it.
package sqlbind

import (
	"strconv"
	"strings"
)

// Numbered returns q with its n-th ? replaced by $n. The SDK's queries
// hold no ? inside string literals, so every ? is a placeholder.
func Numbered(q string) string {
	if !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}
