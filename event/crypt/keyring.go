package crypt

import (
	"context"
	"errors"
)

// Errors of decryption and of keyrings. Test with errors.Is: a Codec's
// errors wrap them in an *Error that names the event and the key.
var (
	// ErrKeyNotFound: the keyring has no such key id or version. The
	// consumer lacks access, or its keyring copy is older than the key.
	ErrKeyNotFound = errors.New("crypt: key not found")
	// ErrShredded: the key id was shredded (Shred); its events can never
	// be decrypted again, and no new key is made under the id.
	ErrShredded = errors.New("crypt: key shredded")
	// ErrDecrypt: the ciphertext, its wrapped key or its encryption
	// attributes are malformed, tampered with, or moved onto another
	// event. Never retried: the bytes will not change.
	ErrDecrypt = errors.New("crypt: decryption failed")
	// ErrNotEncrypted: the event has no encryption attributes.
	ErrNotEncrypted = errors.New("crypt: event is not encrypted")
	// ErrNoKeyID: the codec's KeyID func chose no key for the event.
	ErrNoKeyID = errors.New("crypt: no key id for event")
	// ErrPassphrase: a keyring file does not open with the passphrase
	// given: the passphrase is wrong or the file was altered.
	ErrPassphrase = errors.New("crypt: wrong passphrase or damaged keyring file")
)

// Keyring holds key-encryption keys (KEKs) by id and version, and wraps and
// unwraps data-encryption keys (DEKs) with them. It is what a Codec needs
// of a key management service: the local FileKeyring is the embedded
// default; an adapter to a cloud KMS implements the same two calls.
//
// Key ids are opaque strings chosen by the Codec's KeyID func (one per
// customer for crypto-shredding, or one for all events). Versions start
// at 1; a rotation adds one, and the old versions stay, so that data
// wrapped with them still unwraps.
//
// Implementations must be safe for concurrent use. The slices passed in
// are not retained after the call returns; returned slices belong to the
// caller. Calls honour ctx for any I/O. Errors: ErrKeyNotFound,
// ErrShredded and ErrDecrypt (wrapped is not a key this keyring wrapped
// under id and version) as errors.Is can test; an error that may pass
// (network, throttling) should implement Transient() bool returning
// true, so that consumers such as pubsub retry instead of dead-lettering.
// A Codec calls the keyring only when its DEK cache misses.
type Keyring interface {
	// Wrap encrypts dek under the current version of key id, creating the
	// key (version 1) if the keyring has none under id, and returns the
	// version used with the wrapped bytes. A shredded id is ErrShredded.
	Wrap(ctx context.Context, id string, dek []byte) (version uint32, wrapped []byte, err error)
	// Unwrap decrypts wrapped with version of key id.
	Unwrap(ctx context.Context, id string, version uint32, wrapped []byte) (dek []byte, err error)
}

// Shredder is a Keyring that can destroy a key id for good: every version
// of its key material is erased, durably, and the id is remembered as
// shredded so that it is never made again. Codec.Shred calls it.
type Shredder interface {
	Shred(ctx context.Context, id string) error
}

// Generationer is a Keyring that counts its changes: Generation increases
// whenever a key is shredded or rotated (here or, seen on reload, by
// another process). A Codec
// over it checks the count on each call, cheap as an atomic load, and
// drops its cached keys when it moved, so that a shred takes effect at
// once in the process; without it, at the latest after Config.KeyTTL.
type Generationer interface {
	Generation() uint64
}
