package crypt_test

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/event/crypt"
)

func TestRoundTrip(t *testing.T) {
	kr, path := newKeyring(t)
	c := newCodec(t, kr, crypt.Config{KeyID: crypt.BySubject("customer/")})
	e := seal(t, c, "c-1")
	if bytes.Contains(e.Data, []byte(secret)) || bytes.Contains(e.Data, []byte("book")) {
		t.Fatal("ciphertext holds plaintext")
	}
	if e.DataContentType != crypt.ContentType || e.Extensions[crypt.ExtContentType] != "application/json" ||
		e.Extensions[crypt.ExtKeyID] != "customer/c-1" || e.Extensions[crypt.ExtKeyVersion] != "1" || e.Extensions[crypt.ExtAlg] != crypt.AlgAES256GCM {
		t.Fatalf("attributes: %s %v", e.DataContentType, e.Extensions)
	}
	if err := e.Validate(); err != nil {
		t.Fatalf("encrypted event not valid: %v", err)
	}
	// Through the Kafka binding and back, decrypted by another process's
	// codec (the keyring file reopened).
	got, err := event.FromRecord(e.Record("orders"))
	if err != nil {
		t.Fatal(err)
	}
	o, err := open(newCodec(t, reopen(t, path), crypt.Config{}), got)
	if err != nil || o != (order{"c-1", "book", secret}) {
		t.Fatalf("decode = %+v, %v", o, err)
	}
	// And in structured mode (CloudEvents JSON), as other languages' SDKs
	// may forward it: the ciphertext goes in data_base64.
	js, err := event.MarshalStructured(e)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(js, []byte(secret)) {
		t.Fatal("plaintext in structured mode")
	}
	se, err := event.UnmarshalStructured(js)
	if err != nil {
		t.Fatal(err)
	}
	if o, err := open(c, se); err != nil || o.Note != secret {
		t.Fatalf("structured: %+v, %v", o, err)
	}
	// Open gives the plain event back.
	pe, err := c.Open(context.Background(), e)
	if err != nil || pe.DataContentType != "application/json" || pe.Extensions[crypt.ExtDEK] != "" || !bytes.Contains(pe.Data, []byte(secret)) {
		t.Fatalf("Open = %+v, %v", pe, err)
	}
}

// TestDEKReuse: events of one key id share a DEK (one wrapped key, one
// keyring call) while it lives, and differ in nonce; another key id gets
// its own DEK.
func TestDEKReuse(t *testing.T) {
	kr, _ := newKeyring(t)
	counting := &countingKeyring{Keyring: kr}
	c := newCodec(t, counting, crypt.Config{KeyID: crypt.ByKey("")})
	a1, a2, b := seal(t, c, "a"), seal(t, c, "a"), seal(t, c, "b")
	if a1.Extensions[crypt.ExtDEK] != a2.Extensions[crypt.ExtDEK] || a1.Extensions[crypt.ExtDEK] == b.Extensions[crypt.ExtDEK] {
		t.Fatal("want one DEK per key id")
	}
	if bytes.Equal(a1.Data[:12], a2.Data[:12]) {
		t.Fatal("nonce repeated")
	}
	for _, e := range []event.Event{a1, a2, b, a1} {
		if _, err := open(c, e); err != nil {
			t.Fatal(err)
		}
	}
	if counting.wraps != 2 || counting.unwraps != 0 {
		t.Fatalf("wraps %d unwraps %d, want 2 and 0 (own DEKs cached)", counting.wraps, counting.unwraps)
	}
	// A consumer unwraps once per DEK.
	cons := &countingKeyring{Keyring: kr}
	cc := newCodec(t, cons, crypt.Config{})
	for range 3 {
		for _, e := range []event.Event{a1, a2, b} {
			if _, err := open(cc, e); err != nil {
				t.Fatal(err)
			}
		}
	}
	if cons.unwraps != 2 {
		t.Fatalf("consumer unwraps %d, want 2", cons.unwraps)
	}
}

// TestKeyTTL: a DEK older than KeyTTL is replaced (producer) and
// unwrapped again (consumer).
func TestKeyTTL(t *testing.T) {
	kr, _ := newKeyring(t)
	c := newCodec(t, kr, crypt.Config{KeyTTL: time.Millisecond})
	first := seal(t, c, "a")
	deadline := time.Now().Add(5 * time.Second)
	for seal(t, c, "a").Extensions[crypt.ExtDEK] == first.Extensions[crypt.ExtDEK] {
		if time.Now().After(deadline) {
			t.Fatal("DEK not replaced after its TTL")
		}
	}
	if _, err := open(c, first); err != nil {
		t.Fatalf("old DEK's event: %v", err)
	}
}

func TestRotation(t *testing.T) {
	kr, path := newKeyring(t)
	c := newCodec(t, kr, crypt.Config{KeyID: crypt.Fixed("orders")})
	old := seal(t, c, "a")
	v, err := kr.Rotate(context.Background(), "orders")
	if err != nil || v != 2 {
		t.Fatalf("Rotate = %d, %v", v, err)
	}
	// In-process, the codec takes the new version at once.
	cur := seal(t, c, "a")
	if old.Extensions[crypt.ExtKeyVersion] != "1" || cur.Extensions[crypt.ExtKeyVersion] != "2" {
		t.Fatalf("versions %s, %s", old.Extensions[crypt.ExtKeyVersion], cur.Extensions[crypt.ExtKeyVersion])
	}
	if vs, err := kr.Versions("orders"); err != nil || len(vs) != 2 {
		t.Fatalf("Versions = %v, %v", vs, err)
	}
	// Another process decrypts both, nothing re-encrypted.
	other := newCodec(t, reopen(t, path), crypt.Config{})
	for _, e := range []event.Event{old, cur} {
		if o, err := open(other, e); err != nil || o.Note != secret {
			t.Fatalf("version %s: %+v %v", e.Extensions[crypt.ExtKeyVersion], o, err)
		}
	}
}

func TestShred(t *testing.T) {
	ctx := context.Background()
	kr, path := newKeyring(t)
	c := newCodec(t, kr, crypt.Config{KeyID: crypt.BySubject("customer/")})
	a, b := seal(t, c, "alice"), seal(t, c, "bob")
	// Another process, with alice's DEK already cached.
	otherKR := reopen(t, path)
	other := newCodec(t, otherKR, crypt.Config{KeyTTL: 20 * time.Millisecond})
	if _, err := open(other, a); err != nil {
		t.Fatal(err)
	}

	if err := c.Shred(ctx, "customer/alice"); err != nil {
		t.Fatal(err)
	}
	mustShredded := func(what string, err error) {
		t.Helper()
		var ce *crypt.Error
		if !errors.Is(err, crypt.ErrShredded) || !errors.As(err, &ce) || ce.EventID == "" {
			t.Fatalf("%s: %v, want a *crypt.Error wrapping ErrShredded", what, err)
		}
	}
	_, err := open(c, a)
	mustShredded("same codec", err)
	if o, err := open(c, b); err != nil || o.Customer != "bob" {
		t.Fatalf("bob: %+v %v", o, err)
	}
	_, err = open(newCodec(t, reopen(t, path), crypt.Config{}), a)
	mustShredded("reopened keyring", err)
	// The other process stops decrypting within its KeyTTL.
	deadline := time.Now().Add(5 * time.Second)
	for _, err = open(other, a); err == nil; _, err = open(other, a) {
		if time.Now().After(deadline) {
			t.Fatal("other process still decrypts a shredded subject")
		}
		time.Sleep(5 * time.Millisecond)
	}
	mustShredded("other process", err)
	// Final: no new key under the id, in any process.
	e := event.New("/shop", "order.placed", nil)
	e.Subject = "alice"
	_, err = event.EncodeEvent(ctx, c, "orders", e, order{})
	if !errors.Is(err, crypt.ErrShredded) {
		t.Fatalf("encode for shredded subject: %v", err)
	}
	if _, err := kr.Rotate(ctx, "customer/alice"); !errors.Is(err, crypt.ErrShredded) {
		t.Fatalf("Rotate shredded: %v", err)
	}
	// The key material is gone from the file: reading with the key ring
	// key would show it; the id itself is kept only as a hash.
	if vs, err := reopen(t, path).Versions("customer/alice"); !errors.Is(err, crypt.ErrShredded) {
		t.Fatalf("Versions after shred = %v, %v", vs, err)
	}
}

func TestNoAccess(t *testing.T) {
	kr, _ := newKeyring(t)
	e := seal(t, newCodec(t, kr, crypt.Config{}), "a")
	stranger, _ := newKeyring(t)
	_, err := open(newCodec(t, stranger, crypt.Config{}), e)
	if !errors.Is(err, crypt.ErrKeyNotFound) {
		t.Fatalf("keyring without the key: %v", err)
	}
	// A stranger with a key of the same id and version: not its DEK.
	if _, _, err := stranger.Wrap(context.Background(), "default", make([]byte, 32)); err != nil {
		t.Fatal(err)
	}
	if _, err = open(newCodec(t, stranger, crypt.Config{}), e); !errors.Is(err, crypt.ErrDecrypt) {
		t.Fatalf("other key under the same id: %v", err)
	}
}

func TestNotEncrypted(t *testing.T) {
	kr, _ := newKeyring(t)
	e, err := event.Encode(context.Background(), event.JSON, "orders", "/shop", "order.placed", order{Note: secret})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := open(newCodec(t, kr, crypt.Config{}), e); !errors.Is(err, crypt.ErrNotEncrypted) {
		t.Fatalf("plain event: %v", err)
	}
}

func TestEncodeErrors(t *testing.T) {
	kr, _ := newKeyring(t)
	c := newCodec(t, kr, crypt.Config{KeyID: crypt.BySubject("")})
	if _, err := event.Encode(context.Background(), c, "orders", "/shop", "t", order{}); !errors.Is(err, crypt.ErrNoKeyID) {
		t.Fatalf("no subject: %v", err)
	}
	if _, err := c.Encode(context.Background(), "orders", "t", order{}); err == nil {
		t.Fatal("Encode without event succeeded")
	}
	if _, err := crypt.New(event.JSON, crypt.Config{KeyTTL: -1}); err == nil || !strings.Contains(err.Error(), "Keyring") || !strings.Contains(err.Error(), "KeyTTL") {
		t.Fatalf("Validate = %v, want both problems", err)
	}
}

// TestTamper: every change to the ciphertext, to the encryption
// attributes or to the bound attributes, and ciphertext moved onto
// another event, fails with ErrDecrypt (or ErrKeyNotFound for a key id
// the keyring lacks): never garbage, never another event's data.
func TestTamper(t *testing.T) {
	kr, _ := newKeyring(t)
	c := newCodec(t, kr, crypt.Config{KeyID: crypt.BySubject("")})
	a, a2, b := seal(t, c, "alice"), seal(t, c, "alice"), seal(t, c, "bob")
	ext := func(e event.Event, k, v string) event.Event {
		e.Extensions = maps.Clone(e.Extensions)
		e.Extensions[k] = v
		return e
	}
	cases := []struct {
		name string
		e    event.Event
	}{
		{"flipped bit in nonce", flip(a, 0)},
		{"flipped bit in ciphertext", flip(a, 20)},
		{"flipped bit in tag", flip(a, len(a.Data)-1)},
		{"truncated", func() event.Event { e := a; e.Data = a.Data[:10]; return e }()},
		{"empty data", func() event.Event { e := a; e.Data = nil; return e }()},
		{"id changed", func() event.Event { e := a; e.ID = b.ID; return e }()},
		{"type changed", func() event.Event { e := a; e.Type = "order.cancelled"; return e }()},
		{"source changed", func() event.Event { e := a; e.Source = "/evil"; return e }()},
		{"subject changed", func() event.Event { e := a; e.Subject = "bob"; return e }()},
		{"ciphertext moved to another event", func() event.Event { e := a2; e.Data = a.Data; return e }()},
		{"ciphertext and headers moved", func() event.Event { e := b; e.Data, e.Extensions = a.Data, a.Extensions; return e }()},
		{"wrapped keys swapped", ext(a, crypt.ExtDEK, b.Extensions[crypt.ExtDEK])},
		{"key ids swapped", ext(a, crypt.ExtKeyID, "bob")},
		{"key id unknown", ext(a, crypt.ExtKeyID, "carol")},
		{"version changed", ext(a, crypt.ExtKeyVersion, "2")},
		{"version malformed", ext(a, crypt.ExtKeyVersion, "01")},
		{"content type changed", ext(a, crypt.ExtContentType, "application/avro")},
		{"algorithm changed", ext(a, crypt.ExtAlg, "A128GCM")},
		{"wrapped key not base64", ext(a, crypt.ExtDEK, "!!")},
		{"wrapped key flipped", ext(a, crypt.ExtDEK, flipFirst(a.Extensions[crypt.ExtDEK]))},
		{"key id missing", ext(a, crypt.ExtKeyID, "")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// A fresh consumer, so that no cached DEK hides a keyring check.
			for _, cc := range []event.Codec{c, newCodec(t, kr, crypt.Config{})} {
				o, err := open(cc, tc.e)
				if err == nil {
					t.Fatalf("decoded %+v", o)
				}
				if !errors.Is(err, crypt.ErrDecrypt) && !errors.Is(err, crypt.ErrKeyNotFound) {
					t.Fatalf("err = %v, want ErrDecrypt or ErrKeyNotFound", err)
				}
			}
		})
	}
	// The originals still decrypt.
	for _, e := range []event.Event{a, a2, b} {
		if _, err := open(c, e); err != nil {
			t.Fatal(err)
		}
	}
}

func flip(e event.Event, i int) event.Event {
	e.Data = bytes.Clone(e.Data)
	e.Data[i] ^= 0x01
	return e
}

// countingKeyring counts the calls a codec makes.
type countingKeyring struct {
	crypt.Keyring
	wraps, unwraps int
}

func (k *countingKeyring) Wrap(ctx context.Context, id string, dek []byte) (uint32, []byte, error) {
	k.wraps++
	return k.Keyring.Wrap(ctx, id, dek)
}

func (k *countingKeyring) Unwrap(ctx context.Context, id string, v uint32, w []byte) ([]byte, error) {
	k.unwraps++
	return k.Keyring.Unwrap(ctx, id, v, w)
}

// flipFirst changes s's first base64 character to another one (a fixed
// "A" left one key in 64 unchanged).
func flipFirst(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}
