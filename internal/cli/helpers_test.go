package cli

import (
	"bytes"
	"context"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/heraldtest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// result is one in-process command run.
type result struct {
	out, errOut string
	code        int
}

// herald runs a command line against addr with stdin in and returns its
// output and exit code.
func herald(t *testing.T, addr, in string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	var stdin io.Reader = strings.NewReader(in)
	if addr != "" {
		args = append(args, "--brokers", addr)
	}
	code := Run(ctx, args, stdin, &out, &errOut)
	return result{out: out.String(), errOut: errOut.String(), code: code}
}

// ok runs a command line and fails the test if it exits non-zero.
func ok(t *testing.T, addr, in string, args ...string) result {
	t.Helper()
	r := herald(t, addr, in, args...)
	if r.code != 0 {
		t.Fatalf("herald %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.out, r.errOut)
	}
	return r
}

// fails runs a command line, checks that it exits non-zero and that
// stderr mentions want, and returns stderr.
func fails(t *testing.T, addr, in, want string, args ...string) string {
	t.Helper()
	r := herald(t, addr, in, args...)
	if r.code == 0 {
		t.Fatalf("herald %s: exit 0, want an error\nstdout:\n%s", strings.Join(args, " "), r.out)
	}
	if !strings.Contains(r.errOut, want) {
		t.Fatalf("herald %s: stderr %q does not mention %q", strings.Join(args, " "), r.errOut, want)
	}
	return r.errOut
}

// newHerald starts an in-process Herald broker.
func newHerald(t *testing.T) string {
	t.Helper()
	return heraldtest.NewBroker(t, heraldtest.WithDurability("none")).Addr()
}

// newKfake starts franz-go's fake cluster, a second, non-Herald Kafka.
func newKfake(t *testing.T) string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

var (
	durationRE = regexp.MustCompile(`in [0-9.]+(ns|µs|ms|s|m[0-9.]+s)+`)
	rateRE     = regexp.MustCompile(`\([0-9]+ records/s\)`)
	idRE       = regexp.MustCompile(`(?m)^ID(\s+)\S+$`)
)

// normalize removes what differs between runs: the broker address,
// durations, rates.
func normalize(s, addr string) string {
	if addr != "" {
		s = strings.ReplaceAll(s, addr, "BROKER")
		if _, port, ok := strings.Cut(addr, ":"); ok {
			s = strings.ReplaceAll(s, port, strings.Repeat("P", len(port))) // keeps tables aligned
		}
	}
	s = durationRE.ReplaceAllString(s, "in DURATION")
	s = rateRE.ReplaceAllString(s, "(RATE records/s)")
	s = idRE.ReplaceAllString(s, "ID${1}<id>")
	return s
}

// golden compares got with testdata/name.golden, rewriting it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s (run with -update to accept):\n--- got\n%s\n--- want\n%s", name, path, got, want)
	}
}

// produceAt writes records with explicit timestamps through kgo, for the
// time-based tests.
func produceAt(t *testing.T, addr, topic string, at time.Time, values ...string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var rs []*kgo.Record
	for _, v := range values {
		rs = append(rs, &kgo.Record{Topic: topic, Value: []byte(v), Timestamp: at})
	}
	if err := cl.ProduceSync(context.Background(), rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}
