package kafka

import (
	"errors"
	"fmt"
	"reflect"
	"runtime/debug"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handler answers one parsed request. It returns the response, or nil after
// calling r.later (the answer completes in another goroutine) or
// r.noReply. An error closes the connection: handlers return one only for
// requests that cannot be answered within the protocol.
//
// r.kreq may alias the connection's frame buffer ([]byte fields such as
// produce records): a handler must not keep those bytes after it returns,
// and a later function must not read them.
type handler func(s *Server, r *request) (kmsg.Response, error)

// api is one row of the dispatch table.
type api struct {
	key      int16
	min, max int16
	handle   handler
}

// apis is the one table of supported requests: ApiVersions answers from
// it, and dispatch refuses any key or version it does not list. Each max is
// at most what kmsg can encode (TestAPIsWithinKmsg). It is filled in init
// because handleApiVersions reads it.
var apis []api

func init() {
	apis = []api{
		{key: 0, min: 0, max: 13, handle: handleProduce},
		{key: 1, min: 4, max: 18, handle: handleFetch},
		{key: 2, min: 1, max: 10, handle: handleListOffsets},
		{key: 3, min: 0, max: 13, handle: handleMetadata},
		{key: 8, min: 0, max: 9, handle: handleOffsetCommit},
		{key: 9, min: 0, max: 9, handle: handleOffsetFetch},
		{key: 10, min: 0, max: 6, handle: handleFindCoordinator},
		{key: 11, min: 0, max: 9, handle: handleJoinGroup},
		{key: 12, min: 0, max: 4, handle: handleHeartbeat},
		{key: 13, min: 0, max: 5, handle: handleLeaveGroup},
		{key: 14, min: 0, max: 5, handle: handleSyncGroup},
		{key: 15, min: 0, max: 5, handle: handleDescribeGroups},
		{key: 16, min: 0, max: 5, handle: handleListGroups},
		{key: 17, min: 0, max: 1, handle: handleSaslHandshake},
		{key: 18, min: 0, max: 4, handle: handleApiVersions},
		{key: 19, min: 0, max: 7, handle: handleCreateTopics},
		{key: 20, min: 0, max: 6, handle: handleDeleteTopics},
		{key: 21, min: 0, max: 2, handle: handleDeleteRecords},
		{key: 22, min: 0, max: 5, handle: handleInitProducerID},
		{key: 23, min: 0, max: 4, handle: handleOffsetForLeaderEpoch},
		// Transactions: up to the versions before KIP-890 part 2
		// (transaction.version 2 is not offered as a feature).
		{key: 24, min: 0, max: 4, handle: handleAddPartitionsToTxn},
		{key: 25, min: 0, max: 4, handle: handleAddOffsetsToTxn},
		{key: 26, min: 0, max: 4, handle: handleEndTxn},
		{key: 28, min: 0, max: 4, handle: handleTxnOffsetCommit},
		{key: 29, min: 0, max: 3, handle: handleDescribeAcls},
		{key: 30, min: 0, max: 3, handle: handleCreateAcls},
		{key: 31, min: 0, max: 3, handle: handleDeleteAcls},
		{key: 32, min: 0, max: 4, handle: handleDescribeConfigs},
		{key: 33, min: 0, max: 2, handle: handleAlterConfigs},
		{key: 35, min: 0, max: 4, handle: handleDescribeLogDirs},
		{key: 36, min: 0, max: 2, handle: handleSaslAuthenticate},
		{key: 37, min: 0, max: 3, handle: handleCreatePartitions},
		{key: 42, min: 0, max: 2, handle: handleDeleteGroups},
		{key: 43, min: 0, max: 2, handle: handleElectLeaders},
		{key: 44, min: 0, max: 1, handle: handleIncrementalAlterConfigs},
		{key: 45, min: 0, max: 1, handle: handleAlterPartitionReassignments},
		{key: 46, min: 0, max: 0, handle: handleListPartitionReassignments},
		{key: 47, min: 0, max: 0, handle: handleOffsetDelete},
		{key: 48, min: 0, max: 1, handle: handleDescribeClientQuotas},
		{key: 49, min: 0, max: 1, handle: handleAlterClientQuotas},
		{key: 50, min: 0, max: 0, handle: handleDescribeUserScramCredentials},
		{key: 51, min: 0, max: 0, handle: handleAlterUserScramCredentials},
		{key: 60, min: 0, max: 2, handle: handleDescribeCluster},
		{key: 61, min: 0, max: 0, handle: handleDescribeProducers},
		{key: 65, min: 0, max: 0, handle: handleDescribeTransactions},
		{key: 66, min: 0, max: 2, handle: handleListTransactions},
		{key: 68, min: 0, max: 1, handle: handleConsumerGroupHeartbeat},
		{key: 69, min: 0, max: 1, handle: handleConsumerGroupDescribe},
		{key: 75, min: 0, max: 0, handle: handleDescribeTopicPartitions},
		// Share groups (KIP-932): v0 was Kafka 4.0's early access,
		// removed in 4.1.
		{key: 76, min: 1, max: 1, handle: handleShareGroupHeartbeat},
		{key: 77, min: 1, max: 1, handle: handleShareGroupDescribe},
		{key: 78, min: 1, max: 2, handle: handleShareFetch},
		{key: 79, min: 1, max: 2, handle: handleShareAcknowledge},
		{key: 90, min: 0, max: 1, handle: handleDescribeShareGroupOffsets},
		{key: 91, min: 0, max: 0, handle: handleAlterShareGroupOffsets},
		{key: 92, min: 0, max: 0, handle: handleDeleteShareGroupOffsets},
	}
	apiTable = make(map[int16]*api, len(apis))
	for i := range apis {
		apiTable[apis[i].key] = &apis[i]
	}
}

const apiVersionsKey = 18

// errHandlerPanic marks a recovered handler panic: a bug, logged, and the
// connection is closed.
var errHandlerPanic = errors.New("request handler panicked")

// apiTable indexes apis by key.
var apiTable map[int16]*api

// request is one request being handled.
type request struct {
	c        *conn
	key      int16
	version  int16
	corr     int32
	clientID string
	kreq     kmsg.Request
	p        *pending
	// unsupported is the UNSUPPORTED_VERSION answer to a request whose
	// key or version Herald does not serve (see unsupportedResponse).
	unsupported kmsg.Response
}

// later finishes the answer in a tracked goroutine: fn computes the
// response; the writer waits for it, keeping answers in order.
func (r *request) later(fn func() kmsg.Response) {
	p, s, remote := r.p, r.c.s, r.c.remote
	p.done = make(chan struct{})
	key, version := r.key, r.version
	s.goTracked(func() {
		defer close(p.done)
		defer func() {
			if v := recover(); v != nil {
				p.err = fmt.Errorf("%w: key %d v%d: %v", errHandlerPanic, key, version, v)
				s.logger.Error("request handler panicked", "remote", remote, "key", key, "version", version,
					"panic", v, "stack", string(debug.Stack()))
			}
		}()
		p.resp = fn()
		if p.resp != nil {
			p.resp.SetVersion(version)
		}
	})
}

// commitInOrder is later for an OffsetCommit: fn runs once the
// connection's earlier commits are answered, so commits are applied in
// request order, as Kafka applies them. Walkthrough of what goes wrong
// otherwise: sarama's ConsumeClaim goroutines each commit, and its offset
// manager sends a commit without waiting for the previous answer, so a
// connection carries C1 {p: 5} then C2 {p: 6}; run concurrently, C2 is
// applied, then C1 sets p back to 5; sarama takes C2's answer as p = 6
// committed and never commits p again; the next owner of p starts at 5
// and processes record 5 a second time after a clean handover.
func (r *request) commitInOrder(fn func() kmsg.Response) {
	prev, done := r.c.lastCommit, make(chan struct{})
	r.c.lastCommit = done
	r.later(func() kmsg.Response {
		defer close(done)
		if prev != nil {
			<-prev
		}
		return fn()
	})
}

// afterCommits is later, with fn run once the OffsetCommits read before
// this request on the connection are answered: a client that pipelines
// a commit and then a JoinGroup, SyncGroup, LeaveGroup, OffsetFetch or
// ConsumerGroupHeartbeat sees the commit applied, as with Kafka.
func (r *request) afterCommits(fn func() kmsg.Response) {
	prev := r.c.lastCommit
	r.later(func() kmsg.Response {
		if prev != nil {
			<-prev
		}
		return fn()
	})
}

// commitsPending reports whether an OffsetCommit read earlier on the
// connection is not answered yet.
func (r *request) commitsPending() bool {
	if r.c.lastCommit == nil {
		return false
	}
	select {
	case <-r.c.lastCommit:
		return false
	default:
		return true
	}
}

// noReply marks the request as one that gets no response (acks=0).
func (r *request) noReply() { r.p.noReply = true }

// handle parses one frame and runs its handler. It never panics: a panic
// in a handler closes this connection only.
func (s *Server) handle(c *conn, frame []byte) (p *pending) {
	if c.sasl.raw {
		return s.handleRawSASL(c, frame)
	}
	p = &pending{key: -1, start: time.Now()}
	r, err := parseRequest(frame)
	if err != nil {
		p.err = err
		return p
	}
	if err := c.saslGate(r.key); err != nil {
		p.err = fmt.Errorf("key %d v%d: %w", r.key, r.version, err)
		return p
	}
	r.c, r.p, p.key = c, p, r.key
	p.corr = r.corr
	s.maybeTestPrincipal(r)
	defer func() {
		if v := recover(); v != nil {
			if p.done == nil { // else the later goroutine owns p and answers
				p.err = fmt.Errorf("%w: key %d v%d: %v", errHandlerPanic, r.key, r.version, v)
				p.resp = nil
			}
			s.logger.Error("request handler panicked", "remote", c.remote, "key", r.key, "version", r.version,
				"panic", v, "stack", string(debug.Stack()))
		}
	}()
	if r.unsupported != nil {
		p.resp = r.unsupported
		return p
	}
	if r.kreq == nil { // ApiVersions at a version we do not know
		p.resp = unsupportedApiVersions(s)
		return p
	}
	qs := s.quotaBegin()
	resp, err := apiTable[r.key].handle(s, r)
	s.quotaEnd(qs, r, p, len(frame))
	switch {
	case err != nil:
		p.err = fmt.Errorf("key %d v%d: %w", r.key, r.version, err)
	case resp != nil:
		resp.SetVersion(r.version)
		p.resp = resp
	case p.done == nil && !p.noReply:
		p.err = fmt.Errorf("key %d v%d: handler gave no answer", r.key, r.version)
	}
	return p
}

// parseRequest decodes the header and the body. A key or version Herald
// does not serve is answered UNSUPPORTED_VERSION when the protocol allows
// it (unsupportedResponse); ApiVersions at an unknown version returns a
// request with nil kreq: Kafka answers it with the v0 UNSUPPORTED_VERSION
// response so the client can pick a version. Anything else that cannot be
// answered (a key or version no Kafka response format is known for, a
// malformed header or body) is an error, and the connection closes.
func parseRequest(frame []byte) (*request, error) {
	rd := kbin.Reader{Src: frame}
	r := &request{key: rd.Int16(), version: rd.Int16(), corr: rd.Int32()}
	if cid := rd.NullableString(); cid != nil {
		r.clientID = *cid
	}
	if !rd.Ok() {
		return nil, fmt.Errorf("malformed request header")
	}
	a, ok := apiTable[r.key]
	if !ok {
		if r.unsupported = unsupportedResponse(r.key, r.version); r.unsupported != nil {
			return r, nil
		}
		return nil, fmt.Errorf("unknown api key %d", r.key)
	}
	if r.version < a.min || r.version > a.max {
		if r.key == apiVersionsKey {
			return r, nil
		}
		if r.unsupported = unsupportedResponse(r.key, r.version); r.unsupported != nil {
			return r, nil
		}
		return nil, fmt.Errorf("api key %d version %d is outside the supported %d-%d", r.key, r.version, a.min, a.max)
	}
	kreq := kmsg.RequestForKey(r.key)
	kreq.SetVersion(r.version)
	if kreq.IsFlexible() {
		kmsg.SkipTags(&rd)
		if !rd.Ok() {
			return nil, fmt.Errorf("malformed request header tags")
		}
	}
	if err := kreq.ReadFrom(rd.Src); err != nil {
		return nil, fmt.Errorf("malformed key %d v%d body: %w", r.key, r.version, err)
	}
	r.kreq = kreq
	return r, nil
}

// unsupportedResponse is the answer to a request for a key or version
// Herald does not serve, when one can be given: a response of the key at
// the request's version whose top-level error code says
// UNSUPPORTED_VERSION, so that the client gets an error for that request
// and keeps its connection. It is nil when no such answer exists: a key or
// version kmsg has no format for, or a response that has no top-level
// error code at that version (an empty answer there would read as
// success), in which case the connection closes.
func unsupportedResponse(key, version int16) kmsg.Response {
	resp := kmsg.ResponseForKey(key)
	if resp == nil || version < 0 || version > resp.MaxVersion() {
		return nil
	}
	resp.SetVersion(version)
	f := reflect.ValueOf(resp).Elem().FieldByName("ErrorCode")
	if !f.IsValid() || f.Kind() != reflect.Int16 {
		return nil
	}
	f.SetInt(int64(kerr.UnsupportedVersion.Code))
	// The field exists in the struct for every version; it is on the
	// wire only from the version that added it. Check that it survives.
	check := kmsg.ResponseForKey(key)
	check.SetVersion(version)
	if err := check.ReadFrom(resp.AppendTo(nil)); err != nil {
		return nil
	}
	if reflect.ValueOf(check).Elem().FieldByName("ErrorCode").Int() != int64(kerr.UnsupportedVersion.Code) {
		return nil
	}
	return resp
}
