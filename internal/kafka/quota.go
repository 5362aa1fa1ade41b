package kafka

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/quota"
)

// Quota enforcement (KIP-13, KIP-124, KIP-219). The client is the
// connection's principal and the request's client id; s.quotas resolves
// its quotas by Kafka's precedence and measures it:
//
//   - produce: the request's frame bytes, recorded on the reader when the
//     request is handled (acks=0 included);
//   - fetch: the response's record bytes, recorded by the writer just
//     before the response is written;
//   - request_percentage: the handler's time on the reader goroutine
//     (work a handler hands to r.later is not counted);
//   - connection_creation_rate: each accepted connection, per ip; a
//     connection over it waits before its first request is read.
//
// A client over a quota gets its answer at once with throttle_time_ms
// set, and then its connection is muted: the reader does not read or
// handle its next request until the throttle time has passed, as Kafka
// 2.0+ does. With no quota configured all of this is one atomic load per
// request (quota.Manager.Active) and the mute check one more per frame.

// quotaStart is what the reader notes before a handler runs: whether
// quotas are on, and when it started. The zero value means off.
type quotaStart struct {
	on    bool
	start time.Time
}

func (s *Server) quotaBegin() quotaStart {
	if !s.quotas.Active() {
		return quotaStart{}
	}
	return quotaStart{on: true, start: time.Now()}
}

// quotaEnd records what request r cost after its handler ran (frame is
// its size) and, when the client is over a quota, sets the throttle on
// p (the writer puts it in the response) and mutes the connection.
func (s *Server) quotaEnd(qs quotaStart, r *request, p *pending, frame int) {
	if !qs.on {
		return
	}
	now := time.Now()
	p.clientID = r.clientID
	qc := r.c.quotaClient(&r.c.readQuota, r.clientID)
	var d time.Duration
	if r.key == produceKey {
		d = qc.Record(quota.Produce, float64(frame), now)
	}
	if r.key != apiVersionsKey {
		pct := float64(now.Sub(qs.start)) / 1e7 // % of one second
		d = max(d, qc.Record(quota.Request, pct, now))
	}
	if d > 0 {
		p.throttle = d
		r.c.mute(now.Add(d))
	}
}

const produceKey = 0

// throttler is a response with a throttle_time_ms field.
type throttler interface {
	SetThrottle(int32)
	Throttle() (int32, bool)
}

// quotaRespond runs on the writer before p's response is written: it
// records a fetch response's bytes and puts the throttle time, if any, in
// the response; a fetch over its quota mutes the connection.
func (c *conn) quotaRespond(p *pending) {
	d := p.throttle
	if fr, ok := p.resp.(*kmsg.FetchResponse); ok && c.s.quotas.Active() {
		now := time.Now()
		qc := c.quotaClient(&c.writeQuota, p.clientID)
		fd := qc.Record(quota.Fetch, float64(batchBytes(fr)), now)
		if fd > d {
			d = fd
			c.mute(now.Add(d))
		}
	}
	if d <= 0 {
		return
	}
	if t, ok := p.resp.(throttler); ok {
		ms := int32(min(d.Milliseconds()+1, 1<<31-1))
		if cur, _ := t.Throttle(); cur < ms {
			t.SetThrottle(ms)
		}
	}
}

// quotaClient returns the resolved quotas of the connection's client
// with clientID, from *cache while they still apply. cache is the
// reader's or the writer's own (c.readQuota, c.writeQuota). Call only
// while quotas are on.
func (c *conn) quotaClient(cache **quota.Client, clientID string) *quota.Client {
	if qc := *cache; qc.Current(c.principal.Name, clientID) {
		return qc
	}
	qc := c.s.quotas.Client(c.principal.Name, clientID)
	if qc == nil { // quotas were just turned off: an empty client
		qc = &quota.Client{}
	}
	*cache = qc
	return qc
}

// quotaAccept counts a new connection against its ip's
// connection_creation_rate (KIP-612); over it, the connection is muted:
// its first request is not read until the throttle time has passed.
func (s *Server) quotaAccept(c *conn) {
	now := time.Now()
	if d := s.quotas.RecordConnection(c.host, now); d > 0 {
		c.mute(now.Add(d))
	}
}

// mute keeps the reader from handling the connection's next request
// before until.
func (c *conn) mute(until time.Time) {
	n := until.UnixNano()
	for {
		cur := c.muteUntil.Load()
		if cur >= n || c.muteUntil.CompareAndSwap(cur, n) {
			return
		}
	}
}

// waitMute waits out a mute, if any; it returns early when the
// connection stops reading.
func (c *conn) waitMute() {
	until := c.muteUntil.Load()
	if until == 0 {
		return
	}
	d := time.Until(time.Unix(0, until))
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.stopped:
	}
}
