package registry

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

type restResp struct {
	status int
	ctype  string
	body   string
}

func (tr *testRegistry) do(t *testing.T, method, path, body string) restResp {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, tr.http.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ContentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return restResp{resp.StatusCode, resp.Header.Get("Content-Type"), strings.TrimSpace(string(b))}
}

func schemaBody(schema string) string {
	b, _ := json.Marshal(map[string]any{"schema": schema, "unknownField": 1, "metadata": map[string]any{"properties": map[string]string{"owner": "team"}}})
	return string(b)
}

func TestREST(t *testing.T) {
	tr := newTestRegistry(t)
	// Setup: one subject with a URL-encoded name, registered through a
	// trailing slash and with unknown fields and query parameters.
	if r := tr.do(t, "POST", "/subjects/a%2Fb%20c/versions/?foo=bar", schemaBody(avroV1)); r.status != 200 || r.body != `{"id":1}` {
		t.Fatalf("register: %+v", r)
	}
	tests := []struct {
		name          string
		method, path  string
		body          string
		expStatus     int
		expCode       int    // error_code, 0 for success
		expBodySubstr string // for successes
	}{
		{"get encoded subject", "GET", "/subjects/a%2Fb%20c/versions/1", "", 200, 0, `"subject":"a/b c"`},
		{"versions trailing slash", "GET", "/subjects/a%2Fb%20c/versions/", "", 200, 0, `[1]`},
		{"latest", "GET", "/subjects/a%2Fb%20c/versions/latest?unknown=1", "", 200, 0, `"version":1`},
		{"raw schema", "GET", "/subjects/a%2Fb%20c/versions/1/schema", "", 200, 0, avroV1},
		{"types", "GET", "/schemas/types", "", 200, 0, `"PROTOBUF"`},
		{"by id", "GET", "/schemas/ids/1", "", 200, 0, `"schema":`},
		{"by id subjects", "GET", "/schemas/ids/1/subjects", "", 200, 0, `["a/b c"]`},
		{"by id versions", "GET", "/schemas/ids/1/versions", "", 200, 0, `[{"subject":"a/b c","version":1}]`},
		{"subjects", "GET", "/subjects", "", 200, 0, `["a/b c"]`},
		{"global config", "GET", "/config", "", 200, 0, `{"compatibilityLevel":"BACKWARD"}`},
		{"subject config unset", "GET", "/config/a%2Fb%20c", "", 404, 40408, ""},
		{"subject config default to global", "GET", "/config/a%2Fb%20c?defaultToGlobal=true", "", 200, 0, `BACKWARD`},
		{"global mode", "GET", "/mode", "", 200, 0, `{"mode":"READWRITE"}`},
		{"subject not found", "GET", "/subjects/nope/versions", "", 404, 40401, ""},
		{"version not found", "GET", "/subjects/a%2Fb%20c/versions/7", "", 404, 40402, ""},
		{"bad version", "GET", "/subjects/a%2Fb%20c/versions/abc", "", 422, 42202, ""},
		{"version zero", "GET", "/subjects/a%2Fb%20c/versions/0", "", 422, 42202, ""},
		{"schema not found", "GET", "/schemas/ids/999", "", 404, 40403, ""},
		{"bad level", "PUT", "/config", `{"compatibility":"SIDEWAYS"}`, 422, 42203, ""},
		{"bad mode", "PUT", "/mode", `{"mode":"SOMETIMES"}`, 422, 42204, ""},
		{"bad schema", "POST", "/subjects/x/versions", schemaBody(`{"type":"record"}`), 422, 42201, ""},
		{"bad schema type", "POST", "/subjects/x/versions", `{"schema":"{}","schemaType":"XML"}`, 422, 42201, ""},
		{"bad json", "POST", "/subjects/x/versions", `{`, 400, CodeJSONParse, ""},
		{"incompatible", "POST", "/subjects/a%2Fb%20c/versions", schemaBody(avroV3), 409, 409, ""},
		{"compat check trailing slash", "POST", "/compatibility/subjects/a%2Fb%20c/versions/?verbose=true", schemaBody(avroV3), 200, 0, `"is_compatible":false`},
		{"compat check latest", "POST", "/compatibility/subjects/a%2Fb%20c/versions/latest", schemaBody(avroV2), 200, 0, `{"is_compatible":true}`},
		{"compat check missing version", "POST", "/compatibility/subjects/a%2Fb%20c/versions/9", schemaBody(avroV2), 404, 40402, ""},
		{"compat check new subject", "POST", "/compatibility/subjects/new/versions/latest", schemaBody(avroV2), 200, 0, `{"is_compatible":true}`},
		{"lookup", "POST", "/subjects/a%2Fb%20c", schemaBody(avroV1), 200, 0, `"id":1`},
		{"lookup missing", "POST", "/subjects/a%2Fb%20c", schemaBody(avroV2), 404, 40403, ""},
		{"delete missing subject", "DELETE", "/subjects/nope", "", 404, 40401, ""},
		{"unknown path", "GET", "/nothing/here", "", 404, 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tr.do(t, tt.method, tt.path, tt.body)
			if r.status != tt.expStatus || r.ctype != ContentType {
				t.Fatalf("got %d %s %s, want %d", r.status, r.ctype, r.body, tt.expStatus)
			}
			if tt.expCode != 0 {
				var e struct {
					Code    int    `json:"error_code"`
					Message string `json:"message"`
				}
				if err := json.Unmarshal([]byte(r.body), &e); err != nil || e.Code != tt.expCode || e.Message == "" {
					t.Fatalf("error body %s, want code %d", r.body, tt.expCode)
				}
				return
			}
			if !strings.Contains(r.body, tt.expBodySubstr) {
				t.Fatalf("body %s does not contain %s", r.body, tt.expBodySubstr)
			}
		})
	}
}

func TestRESTModesAndConfig(t *testing.T) {
	tr := newTestRegistry(t)
	steps := []struct {
		method, path, body string
		expStatus          int
		expBody            string
	}{
		{"PUT", "/config/s", `{"compatibility":"full"}`, 200, `{"compatibility":"FULL"}`},
		{"GET", "/config/s", "", 200, `{"compatibilityLevel":"FULL"}`},
		{"DELETE", "/config/s", "", 200, `{"compatibilityLevel":"FULL"}`},
		{"GET", "/config/s?defaultToGlobal=true", "", 200, `{"compatibilityLevel":"BACKWARD"}`},
		{"PUT", "/config", `{"compatibility":"NONE"}`, 200, `{"compatibility":"NONE"}`},
		{"GET", "/config", "", 200, `{"compatibilityLevel":"NONE"}`},
		{"PUT", "/mode", `{"mode":"READONLY"}`, 200, `{"mode":"READONLY"}`},
		{"POST", "/subjects/s/versions", schemaBody(avroV1), 422, `"error_code":42205`},
		{"PUT", "/mode/s", `{"mode":"READWRITE"}`, 200, `{"mode":"READWRITE"}`},
		{"POST", "/subjects/s/versions", schemaBody(avroV1), 200, `{"id":1}`},
		{"PUT", "/mode", `{"mode":"IMPORT"}`, 200, `{"mode":"IMPORT"}`},
		{"POST", "/subjects/imp/versions", `{"schema":` + jsonString(avroV3) + `,"id":42,"version":5}`, 200, `{"id":42}`},
		{"GET", "/subjects/imp/versions/5", "", 200, `"id":42`},
		{"PUT", "/mode", `{"mode":"READWRITE"}`, 200, `{"mode":"READWRITE"}`},
		{"POST", "/subjects/t/versions", schemaBody(avroV2), 200, `{"id":43}`},
	}
	for i, st := range steps {
		r := tr.do(t, st.method, st.path, st.body)
		if r.status != st.expStatus || !strings.Contains(r.body, st.expBody) {
			t.Fatalf("step %d %s %s: got %d %s, want %d %s", i, st.method, st.path, r.status, r.body, st.expStatus, st.expBody)
		}
	}
	tr.restart()
	if r := tr.do(t, "GET", "/config", ""); r.body != `{"compatibilityLevel":"NONE"}` {
		t.Fatalf("config after restart: %s", r.body)
	}
	if r := tr.do(t, "GET", "/schemas/ids/42", ""); r.status != 200 {
		t.Fatalf("imported id after restart: %+v", r)
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestNewRejectsMultiPartitionTopic(t *testing.T) {
	brokers := testBrokers(t)
	topic := uniqueTopic()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctxT(t), 3, -1, nil, topic); err != nil {
		t.Fatal(err)
	}
	if _, err := New(ctxT(t), Config{Client: cl, Topic: topic}); err == nil || !strings.Contains(err.Error(), "exactly one") {
		t.Fatalf("got %v", err)
	}
}
