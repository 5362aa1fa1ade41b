package cli

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/buildinfo"
)

func TestClusterInfo(t *testing.T) {
	addr := newHerald(t)
	out := ok(t, addr, "", "cluster", "info").out
	// The VERSIONS section changes whenever the broker learns an API;
	// the golden file holds what does not, json checks the rest.
	before, _, found := strings.Cut(out, "VERSIONS\n")
	if !found {
		t.Fatalf("no VERSIONS section:\n%s", out)
	}
	golden(t, "cluster_info", normalize(before, addr))

	var info clusterInfo
	if err := json.Unmarshal([]byte(ok(t, addr, "", "cluster", "info", "-o", "json").out), &info); err != nil {
		t.Fatal(err)
	}
	if len(info.Brokers) != 1 || len(info.Versions) != 1 || len(info.Versions[0].APIs) == 0 {
		t.Fatalf("cluster info json: %+v", info)
	}
	if apis := ok(t, addr, "", "cluster", "info", "--api-versions").out; !strings.Contains(apis, "ApiVersions") {
		t.Fatalf("--api-versions lists no ApiVersions key:\n%s", apis)
	}
}

func TestDLQRedrive(t *testing.T) {
	addr := newHerald(t)
	ok(t, addr, "", "topic", "create", "orders", "orders.dlq", "retry", "-p", "1")
	letters := `{"key":"o1","value":"bad-1","headers":{"dlq_topic":"orders","dlq_error":"boom","trace":"t1"}}
{"key":"o2","value":"bad-2","headers":{"dlq_topic":"orders","dlq_error":"boom"}}
{"key":"o3","value":"bad-3","headers":{"dlq_topic":"orders","dlq_error":"boom"}}
`
	ok(t, addr, letters, "produce", "orders.dlq", "--json")
	golden(t, "dlq_redrive", ok(t, addr, "", "dlq", "redrive", "orders.dlq", "--group", "rd", "--limit", "2").out)
	if got := ok(t, addr, "", "consume", "orders", "--print-headers").out; got != "trace=t1,dlq_redrives=1\tbad-1\ndlq_redrives=1\tbad-2\n" {
		t.Fatalf("orders after redrive: %q", got)
	}
	// The group remembers: the next run re-drives only the third letter.
	var res redriveResult
	if err := json.Unmarshal([]byte(ok(t, addr, "", "dlq", "redrive", "orders.dlq", "--group", "rd", "--target", "retry", "-o", "json").out), &res); err != nil {
		t.Fatal(err)
	}
	if res.Redriven != 1 || res.Skipped != 0 {
		t.Fatalf("second redrive: %+v", res)
	}
	if got := ok(t, addr, "", "consume", "retry").out; got != "bad-3\n" {
		t.Fatalf("retry after redrive: %q", got)
	}
	fails(t, addr, "", `unknown topic "nope"`, "dlq", "redrive", "nope", "--group", "rd")
	fails(t, addr, "", `required flag(s) "group" not set`, "dlq", "redrive", "orders.dlq")
}

// TestHelpHasExamples checks that every command documents an example.
func TestHelpHasExamples(t *testing.T) {
	root := newTestRoot()
	var walk func(cmd *cobraCommand)
	walk = func(cmd *cobraCommand) {
		if cmd.Name() != "herald" && cmd.Name() != "help" && cmd.Name() != "completion" && !cmd.Hidden && cmd.Example == "" {
			t.Errorf("%q has no Example", cmd.CommandPath())
		}
		for _, c := range cmd.Commands() {
			if c.Name() == "completion" {
				continue // cobra's own
			}
			walk(c)
		}
	}
	walk(root)
	if r := ok(t, "", "", "group", "reset-offsets", "--help"); !strings.Contains(r.out, "Examples:") {
		t.Fatalf("--help shows no examples:\n%s", r.out)
	}
	if r := ok(t, "", "", "completion", "bash"); !strings.Contains(r.out, "bash completion") {
		t.Fatalf("completion bash: %.200s", r.out)
	}
}

type cobraCommand = cobra.Command

func newTestRoot() *cobra.Command {
	root := &cobra.Command{Use: "herald"}
	AddCommands(root)
	root.InitDefaultCompletionCmd()
	root.InitDefaultHelpCmd()
	return root
}

// TestClusterInfoVersion checks that cluster info names Herald's own
// version, read from the broker's herald.version config, and falls back
// to the guess from API versions against another Kafka.
func TestClusterInfoVersion(t *testing.T) {
	addr := newHerald(t)
	var info clusterInfo
	if err := json.Unmarshal([]byte(ok(t, addr, "", "cluster", "info", "-o", "json").out), &info); err != nil {
		t.Fatal(err)
	}
	want := "herald " + buildinfo.Read().Software()
	if len(info.Versions) != 1 || info.Versions[0].Software != want || info.Versions[0].KafkaVersion != "" {
		t.Fatalf("herald versions: %+v, want software %q and no guess", info.Versions, want)
	}
	if out := ok(t, addr, "", "cluster", "info").out; !strings.Contains(out, want) || strings.Contains(out, "GUESS") {
		t.Fatalf("cluster info text does not show %q:\n%s", want, out)
	}

	kf := newKfake(t)
	info = clusterInfo{}
	if err := json.Unmarshal([]byte(ok(t, kf, "", "cluster", "info", "-o", "json").out), &info); err != nil {
		t.Fatal(err)
	}
	if len(info.Versions) != 1 || !strings.HasPrefix(info.Versions[0].Software, "Kafka ") || !strings.Contains(info.Versions[0].Software, "guessed") {
		t.Fatalf("kfake versions: %+v, want a guessed Kafka version", info.Versions)
	}
}

// TestClientSoftware checks that the CLI names itself and its version in
// ApiVersions (KIP-511), as the broker sees it.
func TestClientSoftware(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var mu sync.Mutex
	seen := map[string]bool{} // "name version" of every ApiVersions
	c.ControlKey(int16(kmsg.ApiVersions), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req := kreq.(*kmsg.ApiVersionsRequest)
		mu.Lock()
		seen[req.ClientSoftwareName+" "+req.ClientSoftwareVersion] = true
		mu.Unlock()
		return nil, nil, false
	})
	ok(t, c.ListenAddrs()[0], "", "cluster", "info")
	mu.Lock()
	defer mu.Unlock()
	// The connection's own ApiVersions names the CLI; kadm's explicit
	// ApiVersions request (for the table) names kadm.
	if want := "herald-cli " + buildinfo.Read().Software(); !seen[want] {
		t.Fatalf("ApiVersions client software seen %v, want %q", seen, want)
	}
}
