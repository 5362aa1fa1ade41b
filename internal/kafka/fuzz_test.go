package kafka

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzHandle feeds arbitrary frames to the request path: it must never
// panic (a recovered handler panic counts as a failure), every answer must
// encode, and answers that complete later must complete.
func FuzzHandle(f *testing.F) {
	for _, a := range apis {
		for _, v := range []int16{a.min, a.max} {
			req := kmsg.RequestForKey(a.key)
			req.SetVersion(v)
			f.Add(kmsg.NewRequestFormatter().AppendRequest(nil, req, 1)[4:])
		}
	}
	for _, v := range []int16{3, 9, 13} {
		f.Add(kmsg.NewRequestFormatter().AppendRequest(nil, produceReq(v, "t", 0, makeBatch(2, 5, 1)), 1)[4:])
	}
	for _, v := range []int16{4, 12, 18} {
		f.Add(kmsg.NewRequestFormatter().AppendRequest(nil, fetchReq(v, "t", 0, 0, time.Millisecond), 1)[4:])
	}
	ts := startServer(f, nil)
	ts.s.maxWait = 5 * time.Millisecond
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c := newConn(ts.s, a)
	f.Fuzz(func(t *testing.T, frame []byte) {
		p := ts.s.handle(c, frame)
		if p.done != nil {
			select {
			case <-p.done:
			case <-time.After(10 * time.Second):
				t.Fatal("answer never completed")
			}
		}
		if errors.Is(p.err, errHandlerPanic) {
			t.Fatal(p.err)
		}
		if p.err == nil && !p.noReply {
			appendResponse(nil, p.corr, p.resp)
		}
		p.releaseBufs()
	})
}
