package kafka

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/quota"
)

// A frame on the wire, in both directions:
//
//	size      int32   bytes after this field
//	header    request: api key int16, api version int16, correlation id
//	          int32, client id nullable string, tagged fields (flexible
//	          versions only); response: correlation id int32, tagged fields
//	          (flexible versions except ApiVersions)
//	body      the kmsg-encoded request or response

// keepBuf is the largest frame buffer a connection keeps between frames;
// larger ones go back to bigBufs after use, so an idle connection holds
// little while busy ones (multi-MiB produce requests and fetch responses)
// reuse buffers instead of allocating and zeroing one per frame.
const keepBuf = 256 << 10

// maxPooledBuf keeps unusually large buffers out of bigBufs: they go back
// to the runtime once their frame is handled.
const maxPooledBuf = 8 << 20

// firstFrameBuf is the buffer a frame's body starts in when no buffer big
// enough is at hand; it doubles as bytes arrive, so a size announced but
// never sent costs nothing.
const firstFrameBuf = 64 << 10

// bigBufs holds frame and response buffers larger than keepBuf, shared by
// all connections.
var bigBufs = sync.Pool{New: func() any { return new([]byte) }}

// getBuf returns a buffer of length n from bigBufs, or a new one of length
// 0 and capacity min(n, firstFrameBuf) when none is big enough.
func getBuf(n int) []byte {
	bp := bigBufs.Get().(*[]byte)
	if cap(*bp) >= n {
		b := (*bp)[:n]
		*bp = nil
		bigBufs.Put(bp)
		return b
	}
	bigBufs.Put(bp)
	return make([]byte, 0, min(n, firstFrameBuf))
}

// putBuf gives a buffer back to bigBufs.
func putBuf(b []byte) {
	if cap(b) > maxPooledBuf {
		return
	}
	bp := bigBufs.Get().(*[]byte)
	if cap(*bp) < cap(b) {
		*bp = b[:0]
	}
	bigBufs.Put(bp)
}

// conn is one client connection: readLoop reads frames and handles them in
// order; writeLoop writes the answers in the same order, waiting for each
// one that completes later (acks=-1 produce, long-poll fetch).
type conn struct {
	s      *Server
	nc     net.Conn
	remote string
	host   string // remote's IP address, without the port
	// lis is the listener the connection came in on.
	lis *Listener
	// principal is who the connection acts as: access.Anonymous until
	// SASL authenticates it, or a client certificate names it (mutual
	// TLS). Written by readLoop before any request that reads it is
	// read (the TLS handshake, the first SASL authentication); never
	// changed after, since re-authentication keeps the principal.
	principal access.Principal
	// sasl is the connection's SASL state (sasl.go); readLoop only.
	sasl saslState

	// pending carries every read request's answer slot from readLoop to
	// writeLoop in request order; its capacity bounds requests in flight.
	pending chan *pending

	rbuf []byte // frame buffer, reused; handlers must not keep it
	// charged is what the frame being read or handled took from the
	// server's budget; readLoop only.
	charged int64
	wbuf    []byte // encode buffer, reused by writeLoop
	// splice is writeLoop's state for writing fetch responses without
	// copying their batches.
	splice fetchSplice

	stopOnce sync.Once
	stopped  chan struct{} // closed by stopReading

	// act is the one-action buffer of the access checks made on the
	// reader goroutine (see Server.access); readLoop only.
	act [1]access.Action

	// lastCommit is closed once the last OffsetCommit read on this
	// connection has been answered; nil before the first. readLoop only.
	// Kafka handles one request of a connection at a time, so clients
	// pipeline commits and rely on their order (see request.commitInOrder).
	lastCommit chan struct{}

	// inflight counts requests read and not yet answered; answered
	// counts answers. The reader's idle check reads both: a connection
	// waiting for its answers, or answered since the check was armed, is
	// not idle.
	inflight atomic.Int32
	answered atomic.Uint64

	// muteUntil is when a client over its quota may be read again (unix
	// nanoseconds; 0: never muted). See quota.go.
	muteUntil atomic.Int64
	// readQuota and writeQuota are the client's resolved quotas, cached
	// by the reader and by the writer (each its own).
	readQuota, writeQuota *quota.Client
}

// pending is the answer to one request.
type pending struct {
	corr    int32
	resp    kmsg.Response
	noReply bool          // acks=0 produce: nothing is written
	done    chan struct{} // non-nil: resp is ready once closed
	err     error         // close the connection after earlier answers
	// closeAfter closes the connection once resp is written (a failed
	// SASL authentication, as Kafka closes it).
	closeAfter bool
	// raw is written as is, size-prefixed, with no header: a SASL token
	// after SaslHandshake v0. isRaw marks it (an empty token is still a
	// frame).
	raw     []byte
	isRaw   bool
	release func()    // returns buffers the response aliases; may be nil
	key     int16     // the request's API key; -1 if it did not parse
	start   time.Time // when the frame was read, for the latency metric
	// clientID and throttle are for quotas (quota.go): the request's
	// client id (set only while quotas are on), and how long the
	// client is throttled for what the reader recorded.
	clientID string
	throttle time.Duration
}

func newConn(s *Server, nc net.Conn) *conn {
	remote := nc.RemoteAddr().String()
	return &conn{
		s: s, nc: nc, remote: remote, host: clientHost(remote), principal: access.Anonymous, lis: &s.plain,
		pending: make(chan *pending, maxInFlight),
		stopped: make(chan struct{}),
	}
}

// stopReading makes readLoop stop after the frame it is reading; the
// writer then answers what was read and closes the connection.
func (c *conn) stopReading() {
	c.stopOnce.Do(func() {
		close(c.stopped)
		c.nc.SetReadDeadline(time.Now())
	})
}

func (c *conn) readLoop() {
	defer close(c.pending)
	if err := c.handshakeTLS(); err != nil {
		c.s.logger.Info("closing connection", "remote", c.remote, "listener", c.lis.Name, "err", err)
		return
	}
	for {
		c.waitMute()
		frame, err := c.readFrame()
		if err != nil {
			c.logReadErr(err)
			return
		}
		c.waitMute() // a mute set by the writer while the frame was read
		p := c.s.handle(c, frame)
		c.s.budget.release(c.charged)
		c.charged = 0
		if cap(c.rbuf) > keepBuf {
			putBuf(c.rbuf)
			c.rbuf = nil
		}
		c.inflight.Add(1)
		c.pending <- p
		if p.err != nil || p.closeAfter {
			return
		}
	}
}

func (c *conn) logReadErr(err error) {
	select {
	case <-c.stopped:
		return
	default:
	}
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		return
	}
	var fe *frameError
	if errors.As(err, &fe) {
		c.s.logger.Warn("closing connection: bad frame", "remote", c.remote, "err", err)
		return
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.s.logger.Info("closing connection: frame not received in time", "remote", c.remote, "err", err)
		return
	}
	c.s.logger.Debug("connection read ended", "remote", c.remote, "err", err)
}

// frameError is a framing violation: the connection is closed.
type frameError struct{ msg string }

func (e *frameError) Error() string { return e.msg }

// errIdle ends a connection that stayed idle for the idle timeout.
var errIdle = errors.New("idle connection")

// readFrame reads one size-prefixed frame into c.rbuf. The size is checked
// before anything is allocated, and the body's buffer grows as its bytes
// arrive. Waiting for the frame's first byte is bounded by the idle
// timeout; from that byte on, the whole frame must arrive within the
// request read timeout (not counting a wait for the budget).
func (c *conn) readFrame() ([]byte, error) {
	var size [4]byte
	if err := c.awaitFrame(size[:1]); err != nil {
		return nil, err
	}
	rt := c.s.cfg.RequestReadTimeout
	if err := c.setReadDeadline(time.Now().Add(rt)); err != nil {
		return nil, err
	}
	if _, err := io.ReadFull(c.nc, size[1:]); err != nil {
		return nil, frameReadErr(err, rt)
	}
	n, err := checkFrameSize(size, c.frameLimit(), c.minFrame())
	if err != nil {
		return nil, err
	}
	if n > unbudgetedFrame {
		if err := c.charge(int64(n)); err != nil {
			return nil, err
		}
	}
	if err := c.readBody(int(n)); err != nil {
		c.s.budget.release(c.charged)
		c.charged = 0
		return nil, frameReadErr(err, rt)
	}
	return c.rbuf, nil
}

// unbudgetedFrame is the largest frame read without taking from the
// budget: small requests (metadata, commits, heartbeats) keep flowing
// while large ones wait, and are bounded by MaxConnections times this.
const unbudgetedFrame = 64 << 10

// charge takes n bytes from the server's budget, waiting for room; the
// request read timeout restarts after a wait, which is not the client's.
func (c *conn) charge(n int64) error {
	b := c.s.budget
	b.mu.Lock()
	free := len(b.mu.waiters) == 0 && b.mu.avail >= min(n, b.size)
	b.mu.Unlock()
	c.charged = b.acquire(n, c.stopped)
	if c.charged == 0 {
		return net.ErrClosed
	}
	if free {
		return nil
	}
	return c.setReadDeadline(time.Now().Add(c.s.cfg.RequestReadTimeout))
}

// awaitFrame reads the first byte of the next frame into b. It closes the
// connection after the idle timeout, unless requests are in flight or
// were answered meanwhile: a consumer in a long poll is not idle.
func (c *conn) awaitFrame(b []byte) error {
	idle := c.s.cfg.IdleTimeout
	for {
		answered := c.answered.Load()
		if err := c.setReadDeadline(time.Now().Add(idle)); err != nil {
			return err
		}
		_, err := io.ReadFull(c.nc, b)
		if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
			return err
		}
		if c.inflight.Load() == 0 && c.answered.Load() == answered {
			c.s.logger.Debug("closing idle connection", "remote", c.remote, "idle", idle)
			return errIdle
		}
	}
}

// setReadDeadline sets the read deadline unless stopReading was called,
// whose deadline must not be overwritten.
func (c *conn) setReadDeadline(t time.Time) error {
	c.nc.SetReadDeadline(t)
	select {
	case <-c.stopped:
		return net.ErrClosed
	default:
		return nil
	}
}

// readBody reads n bytes into c.rbuf: into the buffer at hand or a pooled
// one when big enough, else into one that doubles as the bytes arrive.
func (c *conn) readBody(n int) error {
	buf := c.rbuf[:0]
	if cap(buf) < n {
		buf = getBuf(n)[:0]
	}
	for len(buf) < n {
		if len(buf) == cap(buf) {
			nb := make([]byte, len(buf), min(n, 2*cap(buf)))
			copy(nb, buf)
			buf = nb
		}
		m, err := c.nc.Read(buf[len(buf):min(cap(buf), n)])
		buf = buf[:len(buf)+m]
		if err != nil && len(buf) < n {
			c.rbuf = buf[:0]
			return err
		}
	}
	c.rbuf = buf
	return nil
}

// frameReadErr describes a failure to read the rest of a started frame.
func frameReadErr(err error, rt time.Duration) error {
	switch {
	case errors.Is(err, io.EOF):
		return io.ErrUnexpectedEOF
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("frame not complete within the request read timeout %v: %w", rt, err)
	}
	return err
}

// minHeader is the smallest request header: key, version, correlation id
// and a null client id.
const minHeader = 2 + 2 + 4 + 2

// checkFrameSize checks a frame's size against the limit and the
// smallest frame possible (minHeader, or 0 for a raw SASL token).
func checkFrameSize(size [4]byte, limit, least int32) (int32, error) {
	n := int32(binary.BigEndian.Uint32(size[:]))
	switch {
	case n < 0:
		return 0, &frameError{fmt.Sprintf("negative frame size %d", n)}
	case n > limit:
		if string(size[:]) == "GET " || string(size[:]) == "POST" || string(size[:]) == "HTTP" {
			return 0, &frameError{"an HTTP request was sent to the Kafka port"}
		}
		return 0, &frameError{fmt.Sprintf("frame of %d bytes exceeds the %d byte limit", n, limit)}
	case n < least:
		return 0, &frameError{fmt.Sprintf("frame of %d bytes is shorter than a request header", n)}
	}
	return n, nil
}

func (c *conn) writeLoop() {
	defer c.s.removeConn(c)
	defer c.drain()
	defer c.nc.Close()
	for p := range c.pending {
		if p.done != nil {
			<-p.done
		}
		c.inflight.Add(-1)
		c.answered.Add(1)
		c.s.stats.observe(p)
		if p.err != nil {
			c.s.logger.Warn("closing connection", "remote", c.remote, "err", p.err)
			p.releaseBufs()
			return
		}
		if p.noReply {
			p.releaseBufs()
			continue
		}
		c.quotaRespond(p)
		if err := c.writeResponse(p); err != nil {
			c.s.logger.Debug("connection write failed", "remote", c.remote, "err", err)
			return
		}
		if p.closeAfter {
			return
		}
		if cap(c.wbuf) > keepBuf {
			putBuf(c.wbuf)
			c.wbuf = nil
		}
	}
}

// writeResponse encodes and writes one answer, then releases the buffers
// it aliases. Large fetch responses are written with writev, their record
// batches straight from the buffers they were read into (fetch_write.go).
func (c *conn) writeResponse(p *pending) error {
	defer p.releaseBufs()
	if c.wbuf == nil {
		c.wbuf = getBuf(0)
	}
	if p.isRaw {
		c.wbuf = binary.BigEndian.AppendUint32(c.wbuf[:0], uint32(len(p.raw)))
		c.wbuf = append(c.wbuf, p.raw...)
		_, err := c.nc.Write(c.wbuf)
		return err
	}
	// Over TLS the batches are encrypted (copied) anyway, and one Write
	// fills whole TLS records where writev would end one per buffer.
	if fr, ok := p.resp.(*kmsg.FetchResponse); ok && !c.lis.usesTLS() && batchBytes(fr) >= spliceMinBytes {
		frame, iov, ok := c.splice.appendFetchFrame(c.wbuf[:0], p.corr, fr)
		c.wbuf = frame
		if ok {
			_, err := iov.WriteTo(c.nc)
			return err
		}
	}
	c.wbuf = appendResponse(c.wbuf[:0], p.corr, p.resp)
	_, err := c.nc.Write(c.wbuf)
	return err
}

// drain waits out answers that are still being computed after the writer
// stopped, so their goroutines and buffers finish; closing the connection
// has already made readLoop stop.
func (c *conn) drain() {
	c.stopReading()
	for p := range c.pending {
		if p.done != nil {
			<-p.done
		}
		p.releaseBufs()
	}
}

func (p *pending) releaseBufs() {
	if p.release != nil {
		p.release()
		p.release = nil
	}
}

// appendResponse appends a whole response frame: size, correlation id, the
// header's tagged fields for flexible versions (never for ApiVersions, whose
// response header is always v0 so that any client can read it) and body.
func appendResponse(dst []byte, corr int32, resp kmsg.Response) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(corr))
	if resp.IsFlexible() && resp.Key() != apiVersionsKey {
		dst = append(dst, 0)
	}
	dst = resp.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}
