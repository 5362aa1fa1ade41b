package crypt

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"time"

	"github.com/heraldhq/herald/event"
)

// Config configures a Codec. Zero fields take the defaults noted.
type Config struct {
	// Keyring holds the key-encryption keys. Required.
	Keyring Keyring
	// KeyID chooses the key of an event: the unit of crypto-shredding.
	// One id per customer (BySubject, ByKey, ByExtension) lets one
	// customer's events be shredded alone; Fixed("orders") puts all under
	// one key. An empty id refuses the event (ErrNoKeyID). Default
	// Fixed("default").
	KeyID func(topic string, e event.Event) string
	// KeyTTL is how long an unwrapped DEK is used before the keyring is
	// asked again: a producer then makes a new DEK (so each DEK covers a
	// bounded span of events), a consumer unwraps again. It bounds how
	// long a shred or rotation made by another process takes to reach
	// this one (in-process, a Generationer keyring makes it immediate).
	// Default 5 minutes.
	KeyTTL time.Duration
	// CacheSize bounds the DEKs cached, producer's and consumer's
	// together. Default 10000.
	CacheSize int
}

// Validate reports every problem with the config, joined.
func (c Config) Validate() error {
	var errs []error
	if c.Keyring == nil {
		errs = append(errs, errors.New("crypt: Config.Keyring is nil"))
	}
	if c.KeyTTL < 0 {
		errs = append(errs, errors.New("crypt: Config.KeyTTL is negative"))
	}
	if c.CacheSize < 0 {
		errs = append(errs, errors.New("crypt: Config.CacheSize is negative"))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.KeyID == nil {
		c.KeyID = Fixed("default")
	}
	if c.KeyTTL == 0 {
		c.KeyTTL = 5 * time.Minute
	}
	if c.CacheSize == 0 {
		c.CacheSize = 10000
	}
	return c
}

// Fixed puts every event under key id.
func Fixed(id string) func(string, event.Event) string {
	return func(string, event.Event) string { return id }
}

// BySubject keys each event by prefix + its subject (CloudEvents
// subject): one key per subject. An event without subject is refused.
func BySubject(prefix string) func(string, event.Event) string {
	return func(_ string, e event.Event) string { return withPrefix(prefix, e.Subject) }
}

// ByKey keys each event by prefix + its Kafka key: one key per partition
// key, e.g. per customer id. An event without key is refused. Set Key
// before encoding (event.EncodeEvent; pubsub's PublishValue does).
func ByKey(prefix string) func(string, event.Event) string {
	return func(_ string, e event.Event) string { return withPrefix(prefix, e.Key) }
}

// ByExtension keys each event by prefix + the value of its extension
// attribute name, e.g. "tenantid".
func ByExtension(name, prefix string) func(string, event.Event) string {
	return func(_ string, e event.Event) string { return withPrefix(prefix, e.Extensions[name]) }
}

func withPrefix(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}

// Codec is an event.Codec that encrypts what an inner codec encodes:
// envelope encryption with AES-256-GCM (see the package doc for the wire
// format). It is an event.EventCodec: encode with event.Encode or
// event.EncodeEvent, which give it the event; Encode alone fails.
// Safe for concurrent use.
type Codec struct {
	inner event.Codec
	cfg   Config
	gen   func() uint64 // the keyring's Generation, or 0
	cache *cache
	now   func() time.Time
}

var _ event.EventCodec = (*Codec)(nil)

// New returns a codec that encrypts the data of inner with keys from
// cfg.Keyring.
func New(inner event.Codec, cfg Config) (*Codec, error) {
	if inner == nil {
		return nil, errors.New("crypt: inner codec is nil")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	c := &Codec{inner: inner, cfg: cfg, cache: newCache(cfg.CacheSize), now: time.Now, gen: func() uint64 { return 0 }}
	if g, ok := cfg.Keyring.(Generationer); ok {
		c.gen = g.Generation
	}
	return c, nil
}

// ContentType is the datacontenttype of encrypted events.
func (c *Codec) ContentType() string { return ContentType }

// Encode fails: the codec needs the event (use event.Encode or
// event.EncodeEvent, which call EncodeEvent).
func (c *Codec) Encode(context.Context, string, string, any) (event.Encoded, error) {
	return event.Encoded{}, errors.New("crypt: Encode needs the event; use event.Encode or event.EncodeEvent")
}

// EncodeEvent encodes v with the inner codec and seals the bytes into e
// under the key cfg.KeyID chooses. e's id, source, type and subject are
// bound to the ciphertext: changing them afterwards makes it fail to
// decrypt.
func (c *Codec) EncodeEvent(ctx context.Context, topic string, e event.Event, v any) (event.Event, error) {
	keyID := c.cfg.KeyID(topic, e)
	if keyID == "" {
		return e, &Error{EventID: e.ID, Err: ErrNoKeyID}
	}
	e, err := event.EncodeEvent(ctx, c.inner, topic, e, v)
	if err != nil {
		return e, err
	}
	d, err := c.producerDEK(ctx, keyID)
	if err != nil {
		return e, &Error{EventID: e.ID, KeyID: keyID, Err: err}
	}
	return c.seal(e, d), nil
}

// seal encrypts e.Data with d and sets the encryption attributes.
func (c *Codec) seal(e event.Event, d *dek) event.Event {
	h := envelope{alg: AlgAES256GCM, keyID: d.keyID, versionText: d.version, dek: d.wrapped, contentType: e.DataContentType}
	var adBuf [256]byte
	ad := appendAD(adBuf[:0], e, &h)
	out := make([]byte, 0, nonceSize+len(e.Data)+tagSize)
	out = d.nonce(out)
	out = d.aead.Seal(out, out[:nonceSize], e.Data, ad)

	ext := make(map[string]string, len(e.Extensions)+5)
	maps.Copy(ext, e.Extensions)
	ext[ExtAlg] = h.alg
	ext[ExtKeyID] = h.keyID
	ext[ExtKeyVersion] = h.versionText
	ext[ExtDEK] = h.dek
	ext[ExtContentType] = h.contentType
	e.Extensions = ext
	e.Data = out
	e.DataContentType = ContentType
	return e
}

// producerDEK returns the DEK new events of keyID are sealed with: the
// cached one, or a new one wrapped by the keyring.
func (c *Codec) producerDEK(ctx context.Context, keyID string) (*dek, error) {
	now := c.now()
	gen := c.gen()
	k := cacheKey{keyID: keyID, producer: true}
	if d, ok := c.cache.get(k, now, gen); ok {
		return d, nil
	}
	raw := make([]byte, dekSize)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	ver, wrapped, err := c.cfg.Keyring.Wrap(ctx, keyID, raw)
	if err != nil {
		return nil, fmt.Errorf("wrap data key: %w", err)
	}
	d, err := newDEK(raw, keyID, strconv.FormatUint(uint64(ver), 10), base64.RawStdEncoding.EncodeToString(wrapped), now.Add(c.cfg.KeyTTL))
	if err != nil {
		return nil, err
	}
	if _, err := rand.Read(d.prefix[:]); err != nil {
		return nil, err
	}
	c.cache.put(k, d, gen)
	// This process decrypts its own events without unwrapping.
	c.cache.put(cacheKey{keyID: keyID, version: d.version, wrapped: d.wrapped}, d, gen)
	return d, nil
}

func newDEK(raw []byte, keyID, version, wrapped string, expires time.Time) (*dek, error) {
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: data key: %w", ErrDecrypt, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &dek{aead: aead, keyID: keyID, version: version, wrapped: wrapped, expires: expires}, nil
}

// Decode decrypts e's data and decodes the plaintext with the inner codec
// into v. Decryption failures are *Error wrapping ErrKeyNotFound,
// ErrShredded, ErrDecrypt or ErrNotEncrypted (or a keyring's transient
// error); the inner codec's errors come as they are.
func (c *Codec) Decode(ctx context.Context, e event.Event, v any) error {
	pt, ct, err := c.decrypt(ctx, e)
	if err != nil {
		return err
	}
	e.Data, e.DataContentType = pt, ct
	return c.inner.Decode(ctx, e, v)
}

// Open returns e decrypted: the plaintext data with the inner codec's
// content type, without the encryption attributes, for a consumer that
// handles raw events (a projection of the event store, a relay). Errors
// as Decode's.
func (c *Codec) Open(ctx context.Context, e event.Event) (event.Event, error) {
	pt, ct, err := c.decrypt(ctx, e)
	if err != nil {
		return e, err
	}
	ext := make(map[string]string, len(e.Extensions))
	for k, v := range e.Extensions {
		switch k {
		case ExtAlg, ExtKeyID, ExtKeyVersion, ExtDEK, ExtContentType:
		default:
			ext[k] = v
		}
	}
	e.Extensions = ext
	e.Data = pt
	e.DataContentType = ct
	return e, nil
}

// decrypt returns e's plaintext and the inner codec's content type.
func (c *Codec) decrypt(ctx context.Context, e event.Event) (plaintext []byte, contentType string, err error) {
	h, err := parseEnvelope(e)
	if err != nil {
		return nil, "", &Error{EventID: e.ID, KeyID: h.keyID, KeyVersion: h.version, Err: err}
	}
	d, err := c.consumerDEK(ctx, &h)
	if err != nil {
		return nil, "", &Error{EventID: e.ID, KeyID: h.keyID, KeyVersion: h.version, Err: err}
	}
	var adBuf [256]byte
	ad := appendAD(adBuf[:0], e, &h)
	pt, err := d.aead.Open(nil, e.Data[:nonceSize], e.Data[nonceSize:], ad)
	if err != nil {
		return nil, "", &Error{EventID: e.ID, KeyID: h.keyID, KeyVersion: h.version,
			Err: fmt.Errorf("%w: ciphertext or attributes altered, or moved from another event", ErrDecrypt)}
	}
	return pt, h.contentType, nil
}

// consumerDEK returns the DEK h names: cached, or unwrapped by the
// keyring.
func (c *Codec) consumerDEK(ctx context.Context, h *envelope) (*dek, error) {
	now := c.now()
	gen := c.gen()
	k := cacheKey{keyID: h.keyID, version: h.versionText, wrapped: h.dek}
	if d, ok := c.cache.get(k, now, gen); ok {
		return d, nil
	}
	wrapped, err := decodeDEK(h.dek)
	if err != nil {
		return nil, err
	}
	raw, err := c.cfg.Keyring.Unwrap(ctx, h.keyID, h.version, wrapped)
	if err != nil {
		return nil, fmt.Errorf("unwrap data key: %w", err)
	}
	if len(raw) != dekSize {
		return nil, fmt.Errorf("%w: data key of %d bytes", ErrDecrypt, len(raw))
	}
	d, err := newDEK(raw, h.keyID, h.versionText, h.dek, now.Add(c.cfg.KeyTTL))
	if err != nil {
		return nil, err
	}
	c.cache.put(cacheKey{keyID: d.keyID, version: d.version, wrapped: d.wrapped}, d, gen)
	return d, nil
}

// Shred destroys key id in the keyring (which must be a Shredder) and
// drops this codec's cached DEKs of it: the id's events, in topics and
// stores alike, can never be decrypted again. Other processes stop
// decrypting them when they see the keyring change (for a FileKeyring,
// when its file is reread, at the latest after their KeyTTL).
func (c *Codec) Shred(ctx context.Context, id string) error {
	s, ok := c.cfg.Keyring.(Shredder)
	if !ok {
		return fmt.Errorf("crypt: keyring %T cannot shred", c.cfg.Keyring)
	}
	if err := s.Shred(ctx, id); err != nil {
		return err
	}
	c.cache.forget(id)
	return nil
}

// Forget drops this codec's cached DEKs of key id, so that the next event
// of it asks the keyring: after a rotation, new events take the new
// version at once.
func (c *Codec) Forget(id string) { c.cache.forget(id) }

// Error is the failure to encrypt or decrypt one event. errors.Is tests
// its cause: ErrKeyNotFound, ErrShredded, ErrDecrypt, ErrNotEncrypted,
// ErrNoKeyID, or a keyring's own.
type Error struct {
	EventID    string
	KeyID      string
	KeyVersion uint32 // 0 if unknown
	Err        error
}

func (e *Error) Error() string {
	if e.KeyID == "" {
		return fmt.Sprintf("crypt: event %s: %v", e.EventID, e.Err)
	}
	return fmt.Sprintf("crypt: event %s, key %q version %d: %v", e.EventID, e.KeyID, e.KeyVersion, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }
