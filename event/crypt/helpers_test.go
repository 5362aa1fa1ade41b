package crypt_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/event/crypt"
)

// testScrypt is a cheap KDF cost: tests open many keyrings.
var testScrypt = crypt.ScryptParams{LogN: 10, R: 8, P: 1}

type order struct {
	Customer string `json:"customer"`
	Item     string `json:"item"`
	Note     string `json:"note"`
}

// secret is in every test order's plaintext; it must never be on the wire.
const secret = "PLAINTEXT-MARKER-4242"

func newKeyring(t testing.TB) (*crypt.FileKeyring, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keys.hkr")
	kr, err := crypt.CreateFileKeyring(path, []byte("correct horse"), testScrypt)
	if err != nil {
		t.Fatal(err)
	}
	return kr, path
}

func reopen(t testing.TB, path string) *crypt.FileKeyring {
	t.Helper()
	kr, err := crypt.OpenFileKeyring(path, []byte("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func newCodec(t testing.TB, kr crypt.Keyring, cfg crypt.Config) *crypt.Codec {
	t.Helper()
	cfg.Keyring = kr
	c, err := crypt.New(event.JSON, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// seal encodes an order of customer as a new event with subject and key
// set to the customer.
func seal(t testing.TB, c event.Codec, customer string) event.Event {
	t.Helper()
	e := event.New("/shop", "order.placed", nil)
	e.Subject, e.Key = customer, customer
	e, err := event.EncodeEvent(context.Background(), c, "orders", e, order{Customer: customer, Item: "book", Note: secret})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func open(c event.Codec, e event.Event) (order, error) {
	return event.Decode[order](context.Background(), c, e)
}
