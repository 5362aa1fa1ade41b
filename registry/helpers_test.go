package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/heraldhq/herald/internal/testenv"
)

// testBrokers picks the cluster a test runs against: HERALD_TEST_BROKERS
// (comma-separated) if set; else franz-go's in-memory kfake cluster if
// HERALD_TEST_KFAKE=N (HERALD_TEST_LEADER_MOVES too); else Herald's own broker, in process.
func testBrokers(t testing.TB) []string {
	t.Helper()
	if c := testenv.Brokers(t); c.Kind != "" {
		return c.Seeds
	}
	return []string{newTestBroker(t, "none").Addr()}
}

var topicSeq atomic.Int64

// uniqueTopic names a schemas topic no other test uses, for shared
// external clusters.
func uniqueTopic() string {
	return fmt.Sprintf("_schemas_test_%d_%d", time.Now().UnixNano(), topicSeq.Add(1))
}

type testRegistry struct {
	t       testing.TB
	brokers []string
	topic   string
	cfg     Config
	srv     *Server
	http    *httptest.Server
	cl      *sr.Client
}

// newTestRegistry starts a Server on a fresh topic and an sr client for it.
func newTestRegistry(t testing.TB, edit ...func(*Config)) *testRegistry {
	t.Helper()
	tr := &testRegistry{t: t, brokers: testBrokers(t), topic: uniqueTopic()}
	tr.cfg = Config{Brokers: tr.brokers, Topic: tr.topic}
	for _, f := range edit {
		f(&tr.cfg)
	}
	tr.start()
	t.Cleanup(tr.stop)
	return tr
}

func (tr *testRegistry) start() {
	tr.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := New(ctx, tr.cfg)
	if err != nil {
		tr.t.Fatal(err)
	}
	tr.srv = srv
	tr.http = httptest.NewServer(srv.Handler())
	cl, err := sr.NewClient(sr.URLs(tr.http.URL))
	if err != nil {
		tr.t.Fatal(err)
	}
	tr.cl = cl
}

func (tr *testRegistry) stop() {
	if tr.srv == nil {
		return
	}
	tr.http.Close()
	tr.srv.Close()
	tr.srv = nil
}

// restart closes the Server and opens a new one on the same topic.
func (tr *testRegistry) restart() {
	tr.t.Helper()
	tr.stop()
	tr.start()
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// srCode is the Confluent error code of an sr client error, 0 if none.
func srCode(err error) int {
	if re := (*sr.ResponseError)(nil); errors.As(err, &re) {
		return re.ErrorCode
	}
	return 0
}
