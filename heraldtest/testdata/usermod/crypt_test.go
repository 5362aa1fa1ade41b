package usermod

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/event/crypt"
	"github.com/heraldhq/herald/eventstore"
	"github.com/heraldhq/herald/eventstore/sqlite"
)

// TestEncryptedEvents uses event/crypt from outside Herald's module: a
// keyring file, events encrypted per customer into the event store, one
// customer shredded.
func TestEncryptedEvents(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	kr, err := crypt.CreateFileKeyring(filepath.Join(dir, "keys.hkr"), []byte("passphrase"), crypt.ScryptParams{LogN: 10, R: 8, P: 1})
	if err != nil {
		t.Fatal(err)
	}
	var keyring crypt.Keyring = kr
	codec, err := crypt.New(event.JSON, crypt.Config{Keyring: keyring, KeyID: crypt.BySubject("customer/")})
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(filepath.Join(dir, "app.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store, err := sqlite.New(ctx, db, sqlite.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, customer := range []string{"ann", "ben"} {
		e := event.New("/usermod", "signed.up", nil)
		e.Subject = customer
		if e, err = event.EncodeEvent(ctx, codec, "customers", e, map[string]string{"name": customer}); err != nil {
			t.Fatal(err)
		}
		if _, err := store.Append(ctx, "customer-"+customer, eventstore.NoStream, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := codec.Shred(ctx, "customer/ann"); err != nil {
		t.Fatal(err)
	}
	decode := func(stream string) (map[string]string, error) {
		recs, err := store.ReadStream(ctx, stream, eventstore.ReadOptions{})
		if err != nil || len(recs) != 1 {
			t.Fatalf("read %s: %d events, %v", stream, len(recs), err)
		}
		return event.Decode[map[string]string](ctx, codec, recs[0].Event)
	}
	if _, err := decode("customer-ann"); !errors.Is(err, crypt.ErrShredded) {
		t.Fatalf("shredded customer: %v", err)
	}
	var ce *crypt.Error
	if _, err := decode("customer-ann"); !errors.As(err, &ce) || ce.KeyID != "customer/ann" {
		t.Fatalf("error %v does not name the key", err)
	}
	if v, err := decode("customer-ben"); err != nil || v["name"] != "ben" {
		t.Fatalf("other customer: %v %v", v, err)
	}
}
