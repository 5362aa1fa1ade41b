// Package crypt encrypts event data on the client: a Codec wrapper that
// seals what an inner codec (event.JSON, a srcodec codec) encodes, so
// that the broker, the event store and anyone reading them without the
// keys see ciphertext only; and crypto-shredding: with a key per subject
// (a customer), destroying the subject's key makes every event of it
// unreadable forever, in topics and stores alike, while the log itself
// stays immutable.
//
// # Usage
//
//	kr, err := crypt.OpenFileKeyring("/etc/orders/keys.hkr", passphrase)
//	codec, err := crypt.New(event.JSON, crypt.Config{
//		Keyring: kr,
//		KeyID:   crypt.ByKey("customer/"), // a key per customer: shreddable alone
//	})
//	pub := pubsub.NewPublisher(cl, pubsub.WithCodec(codec))
//	_, err = pub.PublishValue(ctx, "orders", "order.placed", customerID, order)
//	...
//	router, err := pubsub.NewRouter(pubsub.RouterConfig{..., Codec: codec})
//	pubsub.On(router, "orders", "order.placed", handle)
//	...
//	// The customer asks to be forgotten:
//	err = codec.Shred(ctx, "customer/"+customerID)
//
// Events built by hand go through event.EncodeEvent, with the attributes
// the codec binds and keys on already set:
//
//	e := event.New("/orders", "order.placed", nil)
//	e.Subject = customerID
//	e, err = event.EncodeEvent(ctx, codec, "orders", e, order)
//	_, err = store.Append(ctx, "order-42", eventstore.Any, e)
//
// Create the keyring file once with CreateFileKeyring (or a KMS adapter
// implementing Keyring). Rotate a key with FileKeyring.Rotate: new events
// use the new version, old ones decrypt with theirs, nothing is
// re-encrypted.
//
// # Envelope encryption
//
// Each event's data is sealed with AES-256-GCM under a data-encryption
// key (DEK); the DEK is wrapped by a key-encryption key (KEK) of the
// keyring, chosen per event by Config.KeyID, and travels wrapped in the
// event's attributes, so any consumer whose keyring has the KEK decrypts
// it. A producer makes one DEK per key id and uses it for Config.KeyTTL
// (5 minutes), then makes another; consumers cache unwrapped DEKs (LRU,
// Config.CacheSize) for as long: the keyring, a remote KMS perhaps, is
// called once per DEK, not per event. BenchmarkCodec has the numbers: a
// DEK per event would double the cost of encode+decode even with the
// local keyring.
//
// Nonces are a random 4-byte prefix per DEK and a 64-bit counter: a DEK
// seals only in the process that made it, so nonces never repeat under
// one key.
//
// # Wire format
//
// An encrypted event is an ordinary event (binary mode: Kafka headers)
// whose data is the ciphertext:
//
//	datacontenttype   application/vnd.herald.encrypted
//	ce_encalg         A256GCM
//	ce_enckeyid       the KEK's key id, e.g. customer/42
//	ce_enckeyversion  the KEK's version, decimal, from 1
//	ce_encdek         the wrapped DEK, base64 (standard alphabet, no padding)
//	ce_enccontenttype the inner codec's datacontenttype, e.g. application/json
//	data              nonce (12) || AES-256-GCM ciphertext || tag (16)
//
// dataschema and schemaversion stay the inner codec's. The associated
// data binds the ciphertext to its event: "herald/event/crypt/v1", then
// each as uvarint length and bytes, id, source, type, subject and the five
// encryption attributes above. Changing any of them, or moving the data
// (with or without its attributes) onto another event, fails to decrypt.
// Key, time, correlation and causation ids and other extensions are not
// bound: the event store reads Key back as the stream name, and
// publishers link events after encoding. FileKeyring's wrapped DEK is
// nonce (12) || AES-256-GCM(KEK, dek) || tag (16), with associated data
// "herald/event/crypt/keyring/v1" || uvarint(len(key id)) || key id ||
// version (4 bytes, big-endian).
//
// # Keyring file
//
// FileKeyring's file is clear but for its body, which is encrypted with
// a key derived from the passphrase by scrypt; the clear header is the
// body's associated data, so changing any byte of the file makes it
// refuse to open (ErrPassphrase). Integers are big-endian.
//
//	offset  size  field
//	0       8     magic "HRLDKRNG"
//	8       1     format version, 1
//	9       1     KDF, 1 = scrypt
//	10      1     scrypt log2(N), 10..22
//	11      1     scrypt r, 1..32
//	12      1     scrypt p, 1..16      (128·r·N at most 1 GiB)
//	13      3     zero
//	16      32    salt (random; new only on ChangePassphrase)
//	48      12    nonce (random, new on each save)
//	60      n+16  AES-256-GCM(scrypt(passphrase, salt, N, r, p), nonce, body, header[0:60])
//
// The body is JSON:
//
//	{"keys":     {"<key id>": [{"v": 1, "k": "<32 bytes, base64>", "t": "<created, RFC 3339>"}, ...]},
//	 "shredded": {"<hex SHA-256 of the key id>": "<shredded, RFC 3339>"}}
//
// Each key id lists its versions, oldest first, increasing; the last is
// current. Shredded ids are kept only as a hash, so the file does not
// name the subjects it forgot. Every save writes a new file beside the
// old (<file>.tmp-<random>), fsyncs it, renames it over the old and
// fsyncs the directory; writers hold an flock on <file>.lock.
//
// # Errors
//
// Decode and Open fail with an *Error naming the event and key, whose
// cause errors.Is tells: ErrKeyNotFound (the consumer's keyring lacks the
// key or version), ErrShredded, ErrDecrypt (tampered or moved data,
// malformed attributes), ErrNotEncrypted. Never garbage: GCM
// authenticates before any plaintext is returned. pubsub's Typed and On
// treat them as permanent (the event goes to the dead-letter topic), as
// any decode error not marked transient; a KMS adapter whose error has
// Transient() true (the KMS unreachable) is retried instead.
//
// # Crypto-shredding
//
// Codec.Shred (FileKeyring.Shred) erases every version of a key id from
// the keyring file, atomically and fsynced, and records the id as
// shredded (as a SHA-256 hash) so that no key is ever made under it
// again: events of the id fail with ErrShredded everywhere, and new ones
// cannot be encrypted. The shredding process's codecs drop their cached
// DEKs at once; other processes sharing the file reread it when they next
// call the keyring, at the latest after their KeyTTL. Keep backups of
// the keyring file in mind: a copy from before the shred still holds the
// key.
//
// # Limits
//
// The FileKeyring keeps all keys in one file, rewritten (and fsynced) on
// each new key, rotation and shred: fine for thousands of subjects, not
// millions (use a KMS or database-backed Keyring). Stream processing
// (package stream) and upcasters see ciphertext; decrypt with Open first.
package crypt
