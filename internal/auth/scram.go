package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"hash"
	"strings"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/metadata"
)

// SCRAM (RFC 5802, RFC 7677 for SHA-256; SHA-512 as Kafka has it). The
// conversation, server side:
//
//	client-first  gs2-header client-first-bare
//	              gs2-header        = ("n" | "y") "," ["a=" authzid] ","
//	              client-first-bare = "n=" user ",r=" cnonce ["," extensions]
//	server-first  "r=" cnonce snonce ",s=" base64(salt) ",i=" iterations
//	client-final  "c=" base64(gs2-header) ",r=" cnonce snonce ",p=" base64(ClientProof)
//	server-final  "v=" base64(ServerSignature)
//
//	AuthMessage     = client-first-bare "," server-first "," client-final-without-proof
//	ClientSignature = HMAC(StoredKey, AuthMessage)
//	ClientKey       = ClientProof XOR ClientSignature; H(ClientKey) must be StoredKey
//	ServerSignature = HMAC(ServerKey, AuthMessage)
//
// Channel binding ("p=") is refused, as Kafka refuses it; so are the
// delegation-token extension and mandatory extensions ("m=").

// Iteration bounds for SCRAM credentials, Kafka's.
const (
	MinIterations = 4096
	MaxIterations = 16384
)

// DefaultIterations is what credentials Herald derives itself use
// (the bootstrap user).
const DefaultIterations = 8192

// scramHash is a SCRAM mechanism's hash.
type scramHash struct {
	newHash func() hash.Hash
	size    int
}

func scramHashOf(mech string) (scramHash, bool) {
	switch mech {
	case ScramSHA256:
		return scramHash{sha256.New, sha256.Size}, true
	case ScramSHA512:
		return scramHash{sha512.New, sha512.Size}, true
	}
	return scramHash{}, false
}

func (h scramHash) hmac(key []byte, msgs ...string) []byte {
	m := hmac.New(h.newHash, key)
	for _, s := range msgs {
		m.Write([]byte(s))
	}
	return m.Sum(nil)
}

func (h scramHash) sum(b []byte) []byte {
	x := h.newHash()
	x.Write(b)
	return x.Sum(nil)
}

// Keys derives StoredKey and ServerKey from a salted password.
func keys(h scramHash, salted []byte) (stored, server []byte) {
	return h.sum(h.hmac(salted, "Client Key")), h.hmac(salted, "Server Key")
}

// NewCredential derives user's credential for mech from password with a
// new random salt: what the store keeps instead of the password.
func NewCredential(user, mech, password string, iterations int32) (metadata.Scram, error) {
	salt := make([]byte, 32)
	rand.Read(salt)
	h, ok := scramHashOf(mech)
	if !ok {
		return metadata.Scram{}, fmt.Errorf("not a SCRAM mechanism: %q", mech)
	}
	salted, err := pbkdf2.Key(h.newHash, password, salt, int(iterations), h.size)
	if err != nil {
		return metadata.Scram{}, err
	}
	return CredentialFromSalted(user, mech, salt, iterations, salted)
}

// CredentialFromSalted is the credential for a salted password, what
// AlterUserScramCredentials carries (KIP-554: the client salts, the
// password never reaches the broker).
func CredentialFromSalted(user, mech string, salt []byte, iterations int32, salted []byte) (metadata.Scram, error) {
	h, ok := scramHashOf(mech)
	if !ok {
		return metadata.Scram{}, fmt.Errorf("not a SCRAM mechanism: %q", mech)
	}
	if len(salted) != h.size {
		return metadata.Scram{}, fmt.Errorf("salted password of %d bytes, want %d for %s", len(salted), h.size, mech)
	}
	stored, server := keys(h, salted)
	return metadata.Scram{User: user, Mechanism: mech, Salt: bytes.Clone(salt), Iterations: iterations, StoredKey: stored, ServerKey: server}, nil
}

// checkPassword reports whether password derives c's StoredKey, in
// constant time for a given credential.
func checkPassword(c metadata.Scram, password string) bool {
	h, ok := scramHashOf(c.Mechanism)
	if !ok || c.Iterations <= 0 || c.Iterations > MaxIterations {
		return false
	}
	salted, err := pbkdf2.Key(h.newHash, password, c.Salt, int(c.Iterations), h.size)
	if err != nil {
		return false
	}
	stored, _ := keys(h, salted)
	return subtle.ConstantTimeCompare(stored, c.StoredKey) == 1
}

// scramExchange is the server side of one SCRAM conversation.
type scramExchange struct {
	store *Store
	mech  string
	h     scramHash
	step  int // 0: want client-first; 1: want client-final; 2: over

	gs2       string // the client's gs2 header, "n,," usually
	user      string
	nonce     string // cnonce + snonce
	firstBare string
	srvFirst  string
	cred      metadata.Scram
	known     bool // cred is the user's, not a decoy
	res       Result
}

func newScramExchange(store *Store, mech string) *scramExchange {
	h, _ := scramHashOf(mech)
	return &scramExchange{store: store, mech: mech, h: h}
}

func (x *scramExchange) Result() Result { return x.res }

func (x *scramExchange) Next(msg []byte) ([]byte, bool, error) {
	switch x.step {
	case 0:
		x.step = 1
		resp, err := x.first(string(msg))
		if err != nil {
			x.step = 2
		}
		return resp, false, err
	case 1:
		x.step = 2
		resp, err := x.final(string(msg))
		return resp, err == nil, err
	}
	return nil, false, failed("SCRAM exchange is over")
}

// first takes client-first and answers server-first. An unknown user is
// answered with a decoy credential and fails at client-final, so the
// exchange does not tell which users exist.
func (x *scramExchange) first(msg string) ([]byte, error) {
	gs2, bare, err := splitGS2(msg)
	if err != nil {
		return nil, err
	}
	user, cnonce, err := parseClientFirstBare(bare)
	if err != nil {
		return nil, err
	}
	if zid := gs2Authzid(gs2); zid != "" && zid != user {
		return nil, failed("authorization id must be empty or the user name")
	}
	x.gs2, x.user, x.firstBare = gs2, user, bare
	x.cred, x.known = x.store.lookup(user, x.mech)
	if !x.known {
		x.cred = x.store.decoy(user, x.mech)
	}
	snonce := make([]byte, 24)
	rand.Read(snonce)
	x.nonce = cnonce + base64.RawStdEncoding.EncodeToString(snonce)
	x.srvFirst = fmt.Sprintf("r=%s,s=%s,i=%d", x.nonce, base64.StdEncoding.EncodeToString(x.cred.Salt), x.cred.Iterations)
	return []byte(x.srvFirst), nil
}

// splitGS2 splits a client-first message into its gs2 header (with the
// trailing comma) and client-first-bare.
func splitGS2(msg string) (gs2, bare string, err error) {
	switch {
	case strings.HasPrefix(msg, "p="):
		return "", "", failed("SCRAM channel binding is not supported")
	case !strings.HasPrefix(msg, "n,") && !strings.HasPrefix(msg, "y,"):
		return "", "", failed("malformed SCRAM client-first message: bad gs2 header")
	}
	i := strings.IndexByte(msg[2:], ',')
	if i < 0 {
		return "", "", failed("malformed SCRAM client-first message: bad gs2 header")
	}
	if a := msg[2 : 2+i]; a != "" && !strings.HasPrefix(a, "a=") {
		return "", "", failed("malformed SCRAM client-first message: bad authzid")
	}
	return msg[:3+i], msg[3+i:], nil
}

// gs2Authzid is the decoded authzid of a gs2 header, "" for none.
func gs2Authzid(gs2 string) string {
	a := gs2[2 : len(gs2)-1]
	if a == "" {
		return ""
	}
	name, err := unescapeSaslname(a[2:])
	if err != nil {
		return "\x00" // never a user name
	}
	return name
}

func parseClientFirstBare(bare string) (user, nonce string, err error) {
	if strings.HasPrefix(bare, "m=") {
		return "", "", failed("SCRAM mandatory extensions are not supported")
	}
	attrs := strings.Split(bare, ",")
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "n=") || !strings.HasPrefix(attrs[1], "r=") {
		return "", "", failed("malformed SCRAM client-first message: want n=user,r=nonce")
	}
	for _, ext := range attrs[2:] {
		if strings.HasPrefix(ext, "tokenauth=") {
			return "", "", failed("delegation tokens are not supported")
		}
	}
	if user, err = unescapeSaslname(attrs[0][2:]); err != nil {
		return "", "", err
	}
	nonce = attrs[1][2:]
	if user == "" || !printableNonce(nonce) {
		return "", "", failed("malformed SCRAM client-first message: empty user or bad nonce")
	}
	return user, nonce, nil
}

// unescapeSaslname decodes "=2C" to "," and "=3D" to "="; any other "="
// is malformed (RFC 5802 section 5.1).
func unescapeSaslname(s string) (string, error) {
	if !strings.Contains(s, "=") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", failed("malformed SCRAM user name")
		}
		i += 2
	}
	return b.String(), nil
}

// printableNonce: RFC 5802's printable, %x21-7E except ",".
func printableNonce(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e || s[i] == ',' {
			return false
		}
	}
	return true
}

// final checks client-final's proof and answers server-final.
func (x *scramExchange) final(msg string) ([]byte, error) {
	i := strings.LastIndex(msg, ",p=")
	if i < 0 {
		return nil, failed("malformed SCRAM client-final message: no proof")
	}
	withoutProof, proofB64 := msg[:i], msg[i+3:]
	attrs := strings.Split(withoutProof, ",")
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "c=") || !strings.HasPrefix(attrs[1], "r=") {
		return nil, failed("malformed SCRAM client-final message: want c=,r=,p=")
	}
	if cb, err := base64.StdEncoding.DecodeString(attrs[0][2:]); err != nil || string(cb) != x.gs2 {
		return nil, failed("SCRAM channel binding does not match the gs2 header")
	}
	// The nonce must end with the one server-first sent: librdkafka
	// sends its own nonce again before it, and Kafka accepts that
	// (ScramSaslServer checks endsWith).
	if !strings.HasSuffix(attrs[1][2:], x.nonce) {
		return nil, failed("SCRAM nonce does not match")
	}
	proof, err := base64.StdEncoding.DecodeString(proofB64)
	if err != nil || len(proof) != x.h.size {
		return nil, failed("malformed SCRAM client proof")
	}
	authMsg := x.firstBare + "," + x.srvFirst + "," + withoutProof
	sig := x.h.hmac(x.cred.StoredKey, authMsg)
	clientKey := make([]byte, len(proof))
	subtle.XORBytes(clientKey, proof, sig)
	if subtle.ConstantTimeCompare(x.h.sum(clientKey), x.cred.StoredKey) != 1 || !x.known {
		return nil, failed("invalid credentials with SASL mechanism %s", x.mech)
	}
	x.res.Principal = access.Principal{Type: "User", Name: x.user}
	return []byte("v=" + base64.StdEncoding.EncodeToString(x.h.hmac(x.cred.ServerKey, authMsg))), nil
}
