package crypt

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/heraldhq/herald/event"
)

// ContentType is the datacontenttype of an encrypted event. Part of the
// wire format; do not change.
const ContentType = "application/vnd.herald.encrypted"

// AlgAES256GCM names the one algorithm: AES-256-GCM with a 96-bit nonce
// and a 128-bit tag, data laid out as nonce || ciphertext || tag, the DEK
// wrapped by the keyring. Part of the wire format; do not change.
const AlgAES256GCM = "A256GCM"

// Extension attributes of an encrypted event (Kafka headers ce_<name>).
// Part of the wire format; do not change.
const (
	ExtAlg         = "encalg"         // AlgAES256GCM
	ExtKeyID       = "enckeyid"       // the KEK's id in the keyring
	ExtKeyVersion  = "enckeyversion"  // the KEK's version, decimal
	ExtDEK         = "encdek"         // the wrapped DEK, base64 (standard, unpadded)
	ExtContentType = "enccontenttype" // the inner codec's datacontenttype
)

// adContext starts the associated data; it names this scheme so that
// bytes sealed under another one never open here. Part of the wire
// format; do not change.
const adContext = "herald/event/crypt/v1"

// Sizes of the data layout. Part of the wire format; do not change.
const (
	nonceSize = 12
	tagSize   = 16
	dekSize   = 32 // AES-256
	// maxAttr bounds each encryption attribute read from an event, so
	// that a forged header cannot make the codec hash or cache megabytes.
	maxAttr = 1024
)

// envelope is the encryption attributes of one event, as read from it.
// Its strings are the event's own (no copies), so the cache key built
// from them costs no allocation.
type envelope struct {
	alg         string
	keyID       string
	version     uint32
	versionText string
	dek         string // base64, as on the wire
	contentType string
}

// parseEnvelope reads e's encryption attributes. Missing attributes are
// ErrNotEncrypted when all are missing, else ErrDecrypt, as are an
// unknown algorithm and malformed values.
func parseEnvelope(e event.Event) (envelope, error) {
	x := e.Extensions
	h := envelope{alg: x[ExtAlg], keyID: x[ExtKeyID], versionText: x[ExtKeyVersion], dek: x[ExtDEK], contentType: x[ExtContentType]}
	if h.alg == "" && h.keyID == "" && h.dek == "" && e.DataContentType != ContentType {
		return h, ErrNotEncrypted
	}
	if h.alg != AlgAES256GCM {
		return h, fmt.Errorf("%w: algorithm %.64q not supported", ErrDecrypt, h.alg)
	}
	if h.keyID == "" || h.dek == "" {
		return h, fmt.Errorf("%w: key id or wrapped key missing", ErrDecrypt)
	}
	if len(h.keyID) > maxAttr || len(h.dek) > maxAttr || len(h.contentType) > maxAttr {
		return h, fmt.Errorf("%w: encryption attribute over %d bytes", ErrDecrypt, maxAttr)
	}
	v, err := strconv.ParseUint(h.versionText, 10, 32)
	if err != nil || v == 0 || strconv.FormatUint(v, 10) != h.versionText {
		return h, fmt.Errorf("%w: key version %.32q malformed", ErrDecrypt, h.versionText)
	}
	h.version = uint32(v)
	if len(e.Data) < nonceSize+tagSize {
		return h, fmt.Errorf("%w: data of %d bytes is shorter than nonce and tag", ErrDecrypt, len(e.Data))
	}
	return h, nil
}

// decodeDEK decodes a wrapped DEK attribute.
func decodeDEK(s string) ([]byte, error) {
	b, err := base64.RawStdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: wrapped key is not base64: %w", ErrDecrypt, err)
	}
	return b, nil
}

// appendAD appends the associated data that binds a ciphertext to its
// event: the context string, then each field as uvarint length || bytes:
//
//	id | source | type | subject | alg | key id | key version | wrapped DEK | inner content type
//
// Key, time, correlation and causation ids and other extensions are not
// bound: the event store sets Key to the stream name on read, and
// publishers may link events after encoding. The topic is not bound
// either: events move between topics (dead letters, relays).
func appendAD(b []byte, e event.Event, h *envelope) []byte {
	b = append(b, adContext...)
	for _, s := range [...]string{e.ID, e.Source, e.Type, e.Subject, h.alg, h.keyID, h.versionText, h.dek, h.contentType} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}
