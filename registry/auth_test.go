package registry_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/heraldhq/herald/kafkasec"
	"github.com/heraldhq/herald/registry"
)

// securedRegistry is a registry in front of a kfake cluster with SASL
// and ACLs: basic auth checked against the cluster's users, subjects
// authorized by their topic's ACLs.
type securedRegistry struct {
	url string
}

func allow(rt kmsg.ACLResourceType, name string, pat kmsg.ACLResourcePatternType, op kmsg.ACLOperation) kfake.ACL {
	return kfake.ACL{Resource: rt, Name: name, Pattern: pat, Operation: op, Allow: true}
}

func newSecuredRegistry(t testing.TB) *securedRegistry {
	t.Helper()
	topic, lit, pre := kmsg.ACLResourceTypeTopic, kmsg.ACLResourcePatternTypeLiteral, kmsg.ACLResourcePatternTypePrefixed
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.EnableACLs(),
		kfake.Superuser("SCRAM-SHA-256", "admin", "admin-pw"),
		kfake.User("SCRAM-SHA-256", "alice", "alice-pw", allow(topic, "orders", lit, kmsg.ACLOperationRead)),
		kfake.User("SCRAM-SHA-512", "bob", "bob-pw",
			allow(topic, "pay", pre, kmsg.ACLOperationWrite),
			kfake.ACL{Resource: topic, Name: "payments-secret", Pattern: lit, Operation: kmsg.ACLOperationDescribe}), // deny
		kfake.User("SCRAM-SHA-256", "carol", "carol-pw"),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	seeds := c.ListenAddrs()
	admin := kafkasec.Config{SASL: kafkasec.SASL{Mechanism: "SCRAM-SHA-256", Username: "admin", Password: "admin-pw"}}
	adminOpts, err := admin.Opts()
	if err != nil {
		t.Fatal(err)
	}
	aclClient, err := kgo.NewClient(append(adminOpts, kgo.SeedBrokers(seeds...))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(aclClient.Close)
	acls, err := kafkasec.NewClusterACLs(kafkasec.ACLConfig{Client: aclClient, SuperUsers: []string{"User:admin"}})
	if err != nil {
		t.Fatal(err)
	}
	authn, err := kafkasec.NewClusterAuthenticator(kafkasec.ClusterAuthConfig{Brokers: seeds})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := registry.New(context.Background(), registry.Config{
		Brokers: seeds, Security: admin, Logger: slog.New(slog.DiscardHandler),
		Authenticator: authn, Authorizer: registry.TopicACLs{ACLs: acls},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return &securedRegistry{url: hs.URL}
}

// do sends a request as user (no credentials if user is "") and returns
// the status and body.
func (r *securedRegistry) do(t testing.TB, user, pass, method, path, body string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, r.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	req.Header.Set("Content-Type", registry.ContentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

const avroSchema = `{"schema":"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"string\"}]}"}`

func TestRegistryBasicAuth(t *testing.T) {
	r := newSecuredRegistry(t)
	for _, tc := range []struct{ name, user, pass string }{
		{"no credentials", "", ""},
		{"bad password", "alice", "nope"},
		{"unknown user", "mallory", "x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body, h := r.do(t, tc.user, tc.pass, "GET", "/subjects", "")
			if status != http.StatusUnauthorized || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Basic realm=") {
				t.Fatalf("status %d, WWW-Authenticate %q", status, h.Get("WWW-Authenticate"))
			}
			var e registry.Error
			if err := json.Unmarshal([]byte(body), &e); err != nil || e.Code != 401 || e.Message == "" {
				t.Fatalf("body %q: want Confluent's {\"error_code\":401,...}", body)
			}
		})
	}
	if status, _, _ := r.do(t, "", "", "GET", "/healthz", ""); status != http.StatusOK {
		t.Fatalf("/healthz without credentials: %d", status)
	}
	// bob's user has only SCRAM-SHA-512: the second mechanism tried.
	if status, body, _ := r.do(t, "bob", "bob-pw", "GET", "/subjects", ""); status != http.StatusOK {
		t.Fatalf("bob: %d %s", status, body)
	}
}

func TestRegistrySubjectsFollowTopicACLs(t *testing.T) {
	r := newSecuredRegistry(t)
	as := func(user string) func(method, path, body string) (int, string) {
		return func(method, path, body string) (int, string) {
			status, b, _ := r.do(t, user, user+"-pw", method, path, body)
			return status, b
		}
	}
	admin, alice, bob, carol := as("admin"), as("alice"), as("bob"), as("carol")
	for _, s := range []string{"orders-value", "payments-value", "payments-secret-value", "shared-types"} {
		if status, body := admin("POST", "/subjects/"+s+"/versions", avroSchema); status != http.StatusOK {
			t.Fatalf("admin registers %s: %d %s", s, status, body)
		}
	}
	expect := func(who string, do func(string, string, string) (int, string), method, path, body string, want int) {
		t.Helper()
		status, b := do(method, path, body)
		if status != want {
			t.Fatalf("%s %s %s: %d %s, want %d", who, method, path, status, b, want)
		}
		if want == http.StatusForbidden && !strings.Contains(b, `"error_code":40301`) {
			t.Fatalf("%s %s %s: body %s, want error_code 40301", who, method, path, b)
		}
	}
	// alice: READ on topic orders.
	expect("alice", alice, "GET", "/subjects/orders-value/versions/latest", "", 200)
	expect("alice", alice, "POST", "/subjects/orders-value", avroSchema, 200) // a lookup only reads
	expect("alice", alice, "POST", "/subjects/orders-value/versions", avroSchema, 403)
	expect("alice", alice, "GET", "/subjects/payments-value/versions", "", 403)
	expect("alice", alice, "GET", "/schemas/ids/1", "", 200) // every subject here shares schema 1; orders-value is alice's
	expect("alice", alice, "PUT", "/config", `{"compatibility":"NONE"}`, 403)
	if _, b := alice("GET", "/subjects", ""); b != `["orders-value"]`+"\n" {
		t.Fatalf("alice's subjects: %s", b)
	}
	// bob: WRITE on topics prefixed "pay", DESCRIBE denied on payments-secret.
	expect("bob", bob, "PUT", "/config/payments-value", `{"compatibility":"NONE"}`, 200)
	expect("bob", bob, "GET", "/subjects/payments-secret-value/versions", "", 403) // deny wins over the implied DESCRIBE
	expect("bob", bob, "DELETE", "/subjects/payments-secret-value", "", 200)       // the deny is of DESCRIBE only, as in Kafka
	expect("bob", bob, "GET", "/subjects/orders-value/versions", "", 403)
	if _, b := bob("GET", "/subjects", ""); b != `["payments-value"]`+"\n" {
		t.Fatalf("bob's subjects: %s", b)
	}
	// carol: no ACLs; shared-types has no topic: cluster-level.
	expect("carol", carol, "GET", "/subjects/shared-types/versions", "", 403)
	expect("carol", carol, "GET", "/schemas/ids/1", "", 403)
	if _, b := carol("GET", "/subjects", ""); b != "[]\n" {
		t.Fatalf("carol's subjects: %s", b)
	}
	expect("admin", admin, "PUT", "/config", `{"compatibility":"FULL"}`, 200)

	// franz-go's sr client with the same settings a user gives.
	opts, err := kafkasec.RegistryClient{Username: "alice", Password: "alice-pw"}.SROpts()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := sr.NewClient(append(opts, sr.URLs(r.url))...)
	if err != nil {
		t.Fatal(err)
	}
	subs, err := cl.Subjects(context.Background())
	if err != nil || !slices.Equal(subs, []string{"orders-value"}) {
		t.Fatalf("sr client as alice: %v %v", subs, err)
	}
}
