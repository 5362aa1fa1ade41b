package console

import "testing"

func TestPathFilter(t *testing.T) {
	doc := Value{Format: FormatJSON, Data: `{"order":{"status":"paid","items":[{"sku":"a-1","qty":2}],"gift":true}}`}
	for _, tc := range []struct {
		path   string
		match  bool
		expErr bool
	}{
		{path: "$.order", match: true},
		{path: "$.order.status=paid", match: true},
		{path: `$.order.status="paid"`, match: true},
		{path: "$.order.status=open"},
		{path: "$.order.items[0].sku=a-1", match: true},
		{path: "$.order.items[0].qty=2", match: true},
		{path: "$.order.items[1]"},
		{path: "$.order.gift=true", match: true},
		{path: "$.nope"},
		{path: "$", match: true},
		{path: "order.status", expErr: true},
		{path: "$..x", expErr: true},
		{path: "$.a[", expErr: true},
		{path: "$.a[-1]", expErr: true},
		{path: "$x", expErr: true},
	} {
		t.Run(tc.path, func(t *testing.T) {
			pf, err := parsePath(tc.path)
			if (err != nil) != tc.expErr {
				t.Fatalf("parsePath: %v, want error %v", err, tc.expErr)
			}
			if err == nil && pf.match(doc) != tc.match {
				t.Fatalf("match = %v, want %v", !tc.match, tc.match)
			}
		})
	}
	pf, _ := parsePath("$.a")
	for _, v := range []Value{{Format: FormatText, Data: `{"a":1}`}, {Format: FormatJSON, Data: `{"a":1`, Truncated: true}} {
		if pf.match(v) {
			t.Errorf("%+v matches", v)
		}
	}
}
