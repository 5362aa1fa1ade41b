package crypt

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/internal/vfs"
)

// FuzzOpen: Open of an event with arbitrary encryption attributes and
// data never panics, and succeeds only on the untouched original.
func FuzzOpen(f *testing.F) {
	kr, err := CreateFileKeyring(filepath.Join(f.TempDir(), "k"), []byte("pw"), ScryptParams{LogN: 10, R: 8, P: 1})
	if err != nil {
		f.Fatal(err)
	}
	c, err := New(event.JSON, Config{Keyring: kr, KeyID: BySubject("")})
	if err != nil {
		f.Fatal(err)
	}
	orig := event.New("/s", "t", nil)
	orig.Subject = "alice"
	orig, err = event.EncodeEvent(context.Background(), c, "topic", orig, map[string]string{"a": "b"})
	if err != nil {
		f.Fatal(err)
	}
	x := orig.Extensions
	f.Add(x[ExtAlg], x[ExtKeyID], x[ExtKeyVersion], x[ExtDEK], x[ExtContentType], orig.Data)
	f.Add(AlgAES256GCM, "alice", "4294967295", "", "", []byte{})
	f.Add(AlgAES256GCM, "alice", "1", "AAAA", "application/json", bytes.Repeat([]byte{0}, 28))
	f.Fuzz(func(t *testing.T, alg, kid, ver, dek, ct string, data []byte) {
		e := orig
		e.Extensions = map[string]string{ExtAlg: alg, ExtKeyID: kid, ExtKeyVersion: ver, ExtDEK: dek, ExtContentType: ct}
		e.Data = data
		pe, err := c.Open(context.Background(), e)
		same := alg == x[ExtAlg] && kid == x[ExtKeyID] && ver == x[ExtKeyVersion] && dek == x[ExtDEK] && ct == x[ExtContentType] && bytes.Equal(data, orig.Data)
		if err == nil && !same {
			t.Fatalf("opened an altered event: %q", pe.Data)
		}
		if same && err != nil {
			t.Fatalf("original: %v", err)
		}
	})
}

// FuzzKeyringFile: arbitrary file bytes never panic the parser; a file
// that opens re-saves and reopens to the same keys.
func FuzzKeyringFile(f *testing.F) {
	path := filepath.Join(f.TempDir(), "k")
	kr, err := CreateFileKeyring(path, []byte("pw"), ScryptParams{LogN: 10, R: 8, P: 1})
	if err != nil {
		f.Fatal(err)
	}
	if _, _, err := kr.Wrap(context.Background(), "a", make([]byte, 32)); err != nil {
		f.Fatal(err)
	}
	good, _, err := readFile(vfs.Default, path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:fileHeaderSize+16])
	f.Add([]byte(fileMagic))
	key := kr.mu.key
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := parseHeader(b); err != nil {
			return
		}
		// Decrypt with the known key (skipping scrypt, whose cost the
		// header sets): only the original opens.
		st, err := openBody(key, b)
		if err == nil && !bytes.Equal(b, good) {
			t.Fatalf("altered file opened: %+v", st)
		}
	})
}

// FuzzKeyringBody: a body that decrypts (a writer with the passphrase) but
// holds arbitrary JSON is checked, never trusted: every key it accepts has
// 32 bytes and increasing versions.
func FuzzKeyringBody(f *testing.F) {
	f.Add([]byte(`{"keys":{"a":[{"v":1,"k":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","t":"2026-01-01T00:00:00Z"}]},"shredded":{}}`))
	f.Add([]byte(`{"keys":{"a":[{"v":2,"k":"AAAA"},{"v":1}]}}`))
	f.Add([]byte(`null`))
	key := bytes.Repeat([]byte{1}, 32)
	f.Fuzz(func(t *testing.T, body []byte) {
		var hdr [fileHeaderSize]byte
		copy(hdr[:], fileMagic)
		aead, _ := newGCM(key)
		b := aead.Seal(hdr[:], hdr[48:60], body, hdr[:])
		st, err := openBody(key, b)
		if err != nil {
			return
		}
		for id, vs := range st.Keys {
			for i, v := range vs {
				if len(v.Key) != 32 || v.V == 0 || i > 0 && v.V <= vs[i-1].V {
					t.Fatalf("accepted %q %+v", id, vs)
				}
			}
		}
		if _, err := json.Marshal(st); err != nil {
			t.Fatal(err)
		}
	})
}
