package crypt_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/event/crypt"
)

// An event encrypted under its customer's key, decrypted, and
// unreadable once the customer's key is shredded.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "crypt")
	defer os.RemoveAll(dir)
	kr, err := crypt.CreateFileKeyring(filepath.Join(dir, "keys.hkr"), []byte("a long passphrase"), crypt.DefaultScrypt)
	if err != nil {
		panic(err)
	}
	codec, err := crypt.New(event.JSON, crypt.Config{Keyring: kr, KeyID: crypt.BySubject("customer/")})
	if err != nil {
		panic(err)
	}

	e := event.New("/shop", "order.placed", nil)
	e.Subject = "42"
	e, err = event.EncodeEvent(ctx, codec, "orders", e, map[string]string{"item": "book"})
	if err != nil {
		panic(err)
	}
	fmt.Println(e.DataContentType, e.Extensions[crypt.ExtKeyID], e.Extensions[crypt.ExtKeyVersion])

	order, err := event.Decode[map[string]string](ctx, codec, e)
	fmt.Println(order["item"], err)

	if err := codec.Shred(ctx, "customer/42"); err != nil {
		panic(err)
	}
	_, err = event.Decode[map[string]string](ctx, codec, e)
	fmt.Println(errors.Is(err, crypt.ErrShredded))
	// Output:
	// application/vnd.herald.encrypted customer/42 1
	// book <nil>
	// true
}
