package registry

import "testing"

func TestRuleOf(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		rule    rule
		op      Op
	}{
		{"GET /subjects", ruleNone, OpRead},
		{"GET /subjects/{subject}/versions", ruleSubject, OpRead},
		{"POST /subjects/{subject}", ruleSubject, OpRead}, // lookup
		{"DELETE /subjects/{subject}", ruleSubject, OpWrite},
		{"POST /subjects/{subject}/versions", ruleSubject, OpWrite},
		{"DELETE /subjects/{subject}/versions/{version}", ruleSubject, OpWrite},
		{"POST /compatibility/subjects/{subject}/versions", ruleSubject, OpRead},
		{"GET /schemas/ids/{id}/schema", ruleID, OpRead},
		{"PUT /config", ruleGlobal, OpWrite},
		{"DELETE /mode", ruleGlobal, OpWrite},
		{"GET /config", ruleNone, OpRead},
		{"PUT /config/{subject}", ruleSubject, OpWrite},
	} {
		if r, op := ruleOf(tc.pattern); r != tc.rule || op != tc.op {
			t.Errorf("ruleOf(%q) = %v, %v; want %v, %v", tc.pattern, r, op, tc.rule, tc.op)
		}
	}
}

func TestSubjectTopic(t *testing.T) {
	for in, want := range map[string]string{"orders-value": "orders", "orders-key": "orders", "a-b-value": "a-b", "-value": "", "orders": "", "com.acme.Order": ""} {
		got, ok := SubjectTopic(in)
		if got != want || ok != (want != "") {
			t.Errorf("SubjectTopic(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}
