package kafka

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/auth/authtest"
)

// principals records every principal the authorizer is asked about.
type principals struct {
	mu   sync.Mutex
	seen []string
}

func (p *principals) Authorize(rc access.Request, acts []access.Action) {
	p.mu.Lock()
	if !slices.Contains(p.seen, rc.Principal.String()) {
		p.seen = append(p.seen, rc.Principal.String())
	}
	p.mu.Unlock()
	access.AllowAll{}.Authorize(rc, acts)
}

func (p *principals) has(s string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Contains(p.seen, s)
}

// startSASLServer serves a SASL_PLAINTEXT listener with the users
// alice/alice-pw and bob/bob-pw (PLAIN and SCRAM).
func startSASLServer(t testing.TB, edit func(*Config)) (*testServer, *principals) {
	t.Helper()
	store := auth.NewStore(nil, nil)
	for _, u := range []string{"alice", "bob"} {
		if _, err := store.Bootstrap(u, u+"-pw"); err != nil {
			t.Fatal(err)
		}
	}
	a, err := auth.NewAuthenticator(store, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := &principals{}
	ts := startServer(t, func(c *Config) {
		c.SASL, c.Credentials, c.Authorizer, c.FailedAuthDelay = a, store, rec, 20*time.Millisecond
		if edit != nil {
			edit(c)
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := int32(ln.Addr().(*net.TCPAddr).Port)
	go ts.s.ServeListener(ln, Listener{Name: "SASL", Protocol: SASLPlaintext, AdvertisedHost: "127.0.0.1", AdvertisedPort: port})
	return &testServer{s: ts.s, b: ts.b, addr: ln.Addr().String()}, rec
}

func handshake(c *client, version int16, mech string) *kmsg.SASLHandshakeResponse {
	c.t.Helper()
	req := kmsg.NewPtrSASLHandshakeRequest()
	req.Version, req.Mechanism = version, mech
	return c.roundTrip(req).(*kmsg.SASLHandshakeResponse)
}

func authenticate(c *client, version int16, msg []byte) *kmsg.SASLAuthenticateResponse {
	c.t.Helper()
	req := kmsg.NewPtrSASLAuthenticateRequest()
	req.Version, req.SASLAuthBytes = version, msg
	return c.roundTrip(req).(*kmsg.SASLAuthenticateResponse)
}

func plainMsg(user, pass string) []byte { return []byte("\x00" + user + "\x00" + pass) }

func allMetadataReq() *kmsg.MetadataRequest {
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 12
	return req
}

// TestSASLUnauthenticated: before authenticating, a client gets
// ApiVersions and the handshake, and any other request closes the
// connection, as do a SaslAuthenticate before the handshake, a mechanism
// that is not enabled, and a frame over the pre-authentication limit.
func TestSASLUnauthenticated(t *testing.T) {
	ts, rec := startSASLServer(t, nil)
	c := ts.dial(t)
	av := kmsg.NewPtrApiVersionsRequest()
	av.Version = 3
	if r := c.roundTrip(av).(*kmsg.ApiVersionsResponse); r.ErrorCode != 0 || len(r.ApiKeys) == 0 {
		t.Fatalf("ApiVersions: %+v", r)
	}
	for _, req := range []kmsg.Request{allMetadataReq(), produceReq(9, "t", 0, makeBatch(1, 1, 1)), kmsg.NewPtrDescribeUserSCRAMCredentialsRequest()} {
		c := ts.dial(t)
		c.send(req)
		if !c.closed() {
			t.Fatalf("key %d before authentication: connection still open", req.Key())
		}
	}
	c = ts.dial(t)
	if r := authenticate(c, 2, plainMsg("alice", "alice-pw")); r.ErrorCode != kerr.IllegalSaslState.Code || !c.closed() {
		t.Fatalf("SaslAuthenticate before the handshake: %+v", r)
	}
	c = ts.dial(t)
	r := handshake(c, 1, "GSSAPI")
	if r.ErrorCode != kerr.UnsupportedSaslMechanism.Code || !slices.Equal(r.SupportedMechanisms, []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}) || !c.closed() {
		t.Fatalf("GSSAPI handshake: %+v", r)
	}
	c = ts.dial(t)
	var big [4]byte
	binary.BigEndian.PutUint32(big[:], maxUnauthFrame+1)
	c.nc.Write(big[:])
	if !c.closed() {
		t.Fatal("a frame over the pre-authentication limit was read")
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.seen) != 0 {
		t.Fatalf("unauthenticated requests reached the authorizer as %v", rec.seen)
	}
}

// TestSASLPlain: SaslHandshake v1 and SaslAuthenticate make the
// connection User:alice; a wrong password is SASL_AUTHENTICATION_FAILED
// with a message, after the failure delay, and closes the connection.
func TestSASLPlain(t *testing.T) {
	ts, rec := startSASLServer(t, nil)
	c := ts.dial(t)
	if r := handshake(c, 1, "PLAIN"); r.ErrorCode != 0 {
		t.Fatalf("handshake: %+v", r)
	}
	if r := authenticate(c, 2, plainMsg("alice", "alice-pw")); r.ErrorCode != 0 || r.SessionLifetimeMillis != 0 {
		t.Fatalf("authenticate: %+v", r)
	}
	if r := c.roundTrip(allMetadataReq()).(*kmsg.MetadataResponse); len(r.Brokers) != 1 || r.Brokers[0].Port != int32(ts.port(t)) {
		t.Fatalf("metadata: %+v", r.Brokers)
	}
	if !rec.has("User:alice") {
		t.Fatalf("authorizer saw %v, want User:alice", rec.seen)
	}
	c = ts.dial(t)
	handshake(c, 1, "PLAIN")
	start := time.Now()
	r := authenticate(c, 2, plainMsg("alice", "wrong"))
	if r.ErrorCode != kerr.SaslAuthenticationFailed.Code || r.ErrorMessage == nil || !strings.Contains(*r.ErrorMessage, "invalid username or password") {
		t.Fatalf("bad password: %+v", r)
	}
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Fatalf("failure answered after %v, before the 20ms delay", d)
	}
	if !c.closed() {
		t.Fatal("connection open after a failed authentication")
	}
}

func (ts *testServer) port(t testing.TB) int {
	_, p, err := net.SplitHostPort(ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for _, ch := range p {
		n = 10*n + int(ch-'0')
	}
	return n
}

// writeRaw sends a raw SASL token frame (after SaslHandshake v0).
func (c *client) writeRaw(tok []byte) {
	c.t.Helper()
	b := binary.BigEndian.AppendUint32(nil, uint32(len(tok)))
	if _, err := c.nc.Write(append(b, tok...)); err != nil {
		c.t.Fatal(err)
	}
}

// TestSASLHandshakeV0: after SaslHandshake v0 the tokens travel raw, as
// old clients send them: a PLAIN token is answered by an empty frame and
// the connection is authenticated; a bad one closes it unanswered.
func TestSASLHandshakeV0(t *testing.T) {
	ts, rec := startSASLServer(t, nil)
	c := ts.dial(t)
	if r := handshake(c, 0, "PLAIN"); r.ErrorCode != 0 {
		t.Fatalf("handshake v0: %+v", r)
	}
	c.writeRaw(plainMsg("bob", "bob-pw"))
	if b, err := c.readFrame(); err != nil || len(b) != 0 {
		t.Fatalf("raw answer %q, %v; want an empty frame", b, err)
	}
	if r := c.roundTrip(allMetadataReq()).(*kmsg.MetadataResponse); len(r.Brokers) != 1 {
		t.Fatalf("metadata after v0 authentication: %+v", r)
	}
	if !rec.has("User:bob") {
		t.Fatalf("authorizer saw %v", rec.seen)
	}
	c = ts.dial(t)
	handshake(c, 0, "PLAIN")
	c.writeRaw(plainMsg("bob", "nope"))
	if !c.closed() {
		t.Fatal("bad raw token: connection open")
	}
}

// TestSASLReauthentication (KIP-368): the session lifetime is announced;
// re-authenticating in time keeps the connection past the first expiry;
// a connection that lets its session lapse is closed at its next
// request; re-authenticating as someone else is refused.
func TestSASLReauthentication(t *testing.T) {
	const life = 500 * time.Millisecond
	ts, _ := startSASLServer(t, func(c *Config) { c.SessionLifetime = life })
	login := func(c *client, user string) *kmsg.SASLAuthenticateResponse {
		if r := handshake(c, 1, "PLAIN"); r.ErrorCode != 0 {
			t.Fatalf("handshake: %+v", r)
		}
		return authenticate(c, 2, plainMsg(user, user+"-pw"))
	}
	c := ts.dial(t)
	start := time.Now()
	if r := login(c, "alice"); r.ErrorCode != 0 || r.SessionLifetimeMillis != life.Milliseconds() {
		t.Fatalf("authenticate: %+v", r)
	}
	waitUntil(start.Add(life / 2))
	reauth := time.Now() // the new session ends after reauth+life
	if r := login(c, "alice"); r.ErrorCode != 0 || r.SessionLifetimeMillis != life.Milliseconds() {
		t.Fatalf("re-authenticate: %+v", r)
	}
	reauthed := time.Now() // ... and before reauthed+life
	waitUntil(start.Add(life + 20*time.Millisecond))
	// The first session is over, the second is not (unless this
	// machine stalled for most of its life; then skip the check).
	if time.Since(reauth) < life-100*time.Millisecond {
		if r := c.roundTrip(allMetadataReq()).(*kmsg.MetadataResponse); len(r.Brokers) != 1 {
			t.Fatalf("metadata after re-authentication: %+v", r)
		}
	}
	waitUntil(reauthed.Add(life + 10*time.Millisecond))
	c.send(allMetadataReq())
	if !c.closed() {
		t.Fatal("connection with a lapsed session still served")
	}
	// Re-authenticating after the end is too late, as in Kafka.
	c = ts.dial(t)
	login(c, "alice")
	waitUntil(time.Now().Add(life + 10*time.Millisecond))
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 1, "PLAIN"
	c.send(hs)
	if !c.closed() {
		t.Fatal("re-authentication after the session ended was accepted")
	}

	c = ts.dial(t)
	login(c, "alice")
	r := login(c, "bob")
	if r.ErrorCode != kerr.SaslAuthenticationFailed.Code || !strings.Contains(*r.ErrorMessage, "cannot change principals") || !c.closed() {
		t.Fatalf("re-authentication as bob: %+v", r)
	}
}

// waitUntil returns once the clock has passed t: the test is about
// sessions expiring, so time passing is the condition.
func waitUntil(t time.Time) {
	for time.Now().Before(t) {
		time.Sleep(time.Until(t))
	}
}

// TestSASLOnPlaintextListener: SaslHandshake and SaslAuthenticate on a
// listener without SASL answer ILLEGAL_SASL_STATE and the connection
// stays usable.
func TestSASLOnPlaintextListener(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dial(t)
	if r := handshake(c, 1, "PLAIN"); r.ErrorCode != kerr.IllegalSaslState.Code {
		t.Fatalf("handshake: %+v", r)
	}
	if r := authenticate(c, 1, plainMsg("a", "b")); r.ErrorCode != kerr.IllegalSaslState.Code {
		t.Fatalf("authenticate: %+v", r)
	}
	if r := c.roundTrip(allMetadataReq()).(*kmsg.MetadataResponse); len(r.Brokers) != 1 {
		t.Fatalf("metadata: %+v", r)
	}
}

// TestScramCredentialAPIs: KIP-554 through the raw protocol: Kafka's
// per-user errors, and a credential added here authenticates at once.
func TestScramCredentialAPIs(t *testing.T) {
	ts, _ := startSASLServer(t, nil)
	c := ts.dial(t)
	handshake(c, 1, "PLAIN")
	authenticate(c, 2, plainMsg("alice", "alice-pw"))
	alter := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	up := func(name string, mech int8, iter int32) {
		u := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
		u.Name, u.Mechanism, u.Iterations, u.Salt = name, mech, iter, []byte("0123456789abcdef")
		u.SaltedPassword = make([]byte, map[int8]int{1: 32, 2: 64, 9: 32}[mech])
		alter.Upsertions = append(alter.Upsertions, u)
	}
	up("carol", 1, 4096)
	up("dave", 1, 100)
	up("erin", 9, 4096)
	up("frank", 2, 4096)
	up("frank", 2, 8192)
	d := kmsg.NewAlterUserSCRAMCredentialsRequestDeletion()
	d.Name, d.Mechanism = "nobody", 1
	alter.Deletions = append(alter.Deletions, d)
	got := map[string]int16{}
	for _, r := range c.roundTrip(alter).(*kmsg.AlterUserSCRAMCredentialsResponse).Results {
		got[r.User] = r.ErrorCode
	}
	want := map[string]int16{
		"carol": 0, "dave": kerr.UnacceptableCredential.Code, "erin": kerr.UnsupportedSaslMechanism.Code,
		"frank": kerr.DuplicateResource.Code, "nobody": kerr.ResourceNotFound.Code,
	}
	for u, code := range want {
		if got[u] != code {
			t.Errorf("%s: error %d, want %d", u, got[u], code)
		}
	}
	desc := kmsg.NewPtrDescribeUserSCRAMCredentialsRequest()
	for _, n := range []string{"carol", "zed", "alice", "alice"} {
		u := kmsg.NewDescribeUserSCRAMCredentialsRequestUser()
		u.Name = n
		desc.Users = append(desc.Users, u)
	}
	dr := c.roundTrip(desc).(*kmsg.DescribeUserSCRAMCredentialsResponse)
	if len(dr.Results) != 3 || dr.Results[0].User != "carol" || len(dr.Results[0].CredentialInfos) != 1 || dr.Results[0].CredentialInfos[0].Iterations != 4096 ||
		dr.Results[1].ErrorCode != kerr.ResourceNotFound.Code || dr.Results[2].ErrorCode != kerr.DuplicateResource.Code {
		t.Fatalf("describe: %+v", dr.Results)
	}
	all := c.roundTrip(kmsg.NewPtrDescribeUserSCRAMCredentialsRequest()).(*kmsg.DescribeUserSCRAMCredentialsResponse)
	if len(all.Results) != 3 { // alice, bob, carol
		t.Fatalf("describe all: %+v", all.Results)
	}
}

// FuzzSASLAuthenticate feeds arbitrary SaslAuthenticate payloads and raw
// tokens, after a handshake for each mechanism, to the connection's SASL
// path: it never panics and never authenticates without the password.
func FuzzSASLAuthenticate(f *testing.F) {
	f.Add(uint8(0), []byte("\x00alice\x00x"), false)
	f.Add(uint8(1), []byte("n,,n=alice,r=abc"), true)
	f.Add(uint8(2), []byte("n,,n=alice,r=abc"), false)
	f.Add(uint8(0), []byte{}, true)
	ts, _ := startSASLServer(f, nil)
	ts.s.cfg.FailedAuthDelay = -1
	mechs := ts.s.cfg.SASL.Enabled()
	f.Fuzz(func(t *testing.T, m uint8, payload []byte, raw bool) {
		a, b := net.Pipe()
		defer a.Close()
		defer b.Close()
		c := newConn(ts.s, a)
		c.sasl.required = true
		mech := mechs[int(m)%len(mechs)]
		hs := kmsg.NewPtrSASLHandshakeRequest()
		hs.Mechanism = mech
		if raw {
			hs.Version = 0
		} else {
			hs.Version = 1
		}
		p := ts.s.handle(c, kmsg.NewRequestFormatter().AppendRequest(nil, hs, 1)[4:])
		if p.err != nil || p.resp.(*kmsg.SASLHandshakeResponse).ErrorCode != 0 {
			t.Fatalf("handshake: %v %+v", p.err, p.resp)
		}
		if raw {
			p = ts.s.handle(c, payload)
		} else {
			au := kmsg.NewPtrSASLAuthenticateRequest()
			au.Version, au.SASLAuthBytes = 2, payload
			p = ts.s.handle(c, kmsg.NewRequestFormatter().AppendRequest(nil, au, 2)[4:])
		}
		if errors.Is(p.err, errHandlerPanic) {
			t.Fatal(p.err)
		}
		if c.sasl.authed {
			t.Fatalf("%s authenticated by %q", mech, payload)
		}
	})
}

// TestSASLGateAllocs: the per-request authentication check allocates
// nothing, with or without a session lifetime.
func TestSASLGateAllocs(t *testing.T) {
	ts := startServer(t, nil)
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c := newConn(ts.s, a)
	c.sasl.required, c.sasl.authed = true, true
	for _, exp := range []int64{0, time.Now().Add(time.Hour).UnixNano()} {
		c.sasl.expires = exp
		if n := testing.AllocsPerRun(100, func() {
			if c.saslGate(0) != nil {
				t.Fatal("gate closed an authenticated connection")
			}
		}); n != 0 {
			t.Fatalf("saslGate allocates %v times", n)
		}
	}
}

// TestSASLOAuthSessionLifetime: an OAUTHBEARER session lasts until the
// token expires, or the configured lifetime if that is sooner.
func TestSASLOAuthSessionLifetime(t *testing.T) {
	signer := authtest.NewSigner(t, "k1")
	v, err := auth.NewOAuthValidator(auth.OAuthConfig{JWKS: signer.JWKS})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		configured time.Duration
		min, max   int64 // session_lifetime_ms
	}{
		{0, 59*60*1000 - 5000, 60 * 60 * 1000},
		{time.Minute, 60 * 1000, 60 * 1000},
	} {
		ts, rec := startSASLServer(t, func(c *Config) {
			a, err := auth.NewAuthenticator(nil, v, nil)
			if err != nil {
				t.Fatal(err)
			}
			c.SASL, c.SessionLifetime = a, tc.configured
		})
		tok := signer.Sign(t, jwt.MapClaims{"sub": "svc", "exp": time.Now().Add(time.Hour).Unix()})
		c := ts.dial(t)
		if r := handshake(c, 1, "OAUTHBEARER"); r.ErrorCode != 0 {
			t.Fatalf("handshake: %+v", r)
		}
		r := authenticate(c, 1, []byte("n,,\x01auth=Bearer "+tok+"\x01\x01"))
		if r.ErrorCode != 0 || r.SessionLifetimeMillis < tc.min || r.SessionLifetimeMillis > tc.max {
			t.Fatalf("configured %v: %+v, want a lifetime in [%d, %d] ms", tc.configured, r, tc.min, tc.max)
		}
		c.roundTrip(allMetadataReq())
		if !rec.has("User:svc") {
			t.Fatalf("principals %v", rec.seen)
		}
	}
}

// TestSASLFailureLimit: past its failure bound a host is refused before
// its credentials are looked at, even right ones, until the bucket
// refills.
func TestSASLFailureLimit(t *testing.T) {
	ts, _ := startSASLServer(t, func(c *Config) { c.FailedAuthPerSecond, c.FailedAuthDelay = 1, -1 })
	try := func(pass string) *kmsg.SASLAuthenticateResponse {
		c := ts.dial(t)
		handshake(c, 1, "PLAIN")
		return authenticate(c, 2, plainMsg("alice", pass))
	}
	for i := range failLimiterBurst {
		if r := try("wrong"); r.ErrorCode != kerr.SaslAuthenticationFailed.Code || !strings.Contains(*r.ErrorMessage, "invalid username") {
			t.Fatalf("failure %d: %+v", i, r)
		}
	}
	blockedAt := time.Now()
	if r := try("alice-pw"); r.ErrorCode != kerr.SaslAuthenticationFailed.Code || !strings.Contains(*r.ErrorMessage, "too many failed") {
		t.Fatalf("over the bound: %+v", r)
	}
	waitUntil(blockedAt.Add(1100 * time.Millisecond))
	if r := try("alice-pw"); r.ErrorCode != 0 {
		t.Fatalf("after the bucket refilled: %+v", r)
	}
}

func TestFailLimiter(t *testing.T) {
	l := newFailLimiter(2) // burst 10
	t0 := time.Unix(1000, 0)
	for range 10 {
		if l.blocked("a", t0) {
			t.Fatal("blocked within the burst")
		}
		l.fail("a", t0)
	}
	if !l.blocked("a", t0) || l.blocked("b", t0) {
		t.Fatal("host a not blocked after its burst, or b blocked with it")
	}
	if l.blocked("a", t0.Add(500*time.Millisecond)) {
		t.Fatal("no token after half a second at 2/s")
	}
	for i := range failLimiterPrune {
		l.fail(fmt.Sprint("h", i), t0)
	}
	l.fail("late", t0.Add(time.Hour)) // prunes every refilled bucket
	l.mu.Lock()
	n := len(l.mu.hosts)
	l.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d hosts kept after pruning, want only the new one", n)
	}
	if off := newFailLimiter(-1); func() bool { off.fail("a", t0); return off.blocked("a", t0) }() {
		t.Fatal("a limiter with no rate blocked")
	}
}
