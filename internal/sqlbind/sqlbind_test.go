package sqlbind

import "testing"

func TestNumbered(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"INSERT INTO t (a, b) VALUES (?, ?)", "INSERT INTO t (a, b) VALUES ($1, $2)"},
		{"UPDATE t SET a = ? WHERE b = ? AND c = ? OR d = ? OR e = ? OR f = ? OR g = ? OR h = ? OR i = ? OR j = ?",
			"UPDATE t SET a = $1 WHERE b = $2 AND c = $3 OR d = $4 OR e = $5 OR f = $6 OR g = $7 OR h = $8 OR i = $9 OR j = $10"},
		{"SELECT 'é' WHERE x = ?", "SELECT 'é' WHERE x = $1"},
	} {
		if got := Numbered(tc.in); got != tc.want {
			t.Errorf("Numbered(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
