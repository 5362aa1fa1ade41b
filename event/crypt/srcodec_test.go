package crypt_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/event/crypt"
	"github.com/heraldhq/herald/event/srcodec"
	"github.com/heraldhq/herald/heraldtest"
)

// TestInnerRegistryCodec: the inner codec is a schema-registry codec
// (Avro): its content type, dataschema and schema version stay on the
// event, the registry's wire format is inside the ciphertext, and decoding
// goes through it.
func TestInnerRegistryCodec(t *testing.T) {
	b := heraldtest.NewBroker(t, heraldtest.WithDurability("none"), heraldtest.WithRegistry())
	cl, err := sr.NewClient(sr.URLs(b.RegistryURL()))
	if err != nil {
		t.Fatal(err)
	}
	type avroOrder struct {
		Customer string `avro:"customer"`
		Note     string `avro:"note"`
	}
	inner := srcodec.AutoRegister(cl, sr.Schema{Type: sr.TypeAvro,
		Schema: `{"type":"record","name":"Order","fields":[{"name":"customer","type":"string"},{"name":"note","type":"string"}]}`})
	kr, _ := newKeyring(t)
	c, err := crypt.New(inner, crypt.Config{Keyring: kr, KeyID: crypt.BySubject("customer/")})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	e := event.New("/shop", "order.placed", nil)
	e.Subject = "c-9"
	e, err = event.EncodeEvent(ctx, c, "orders", e, avroOrder{"c-9", secret})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(e.Data, []byte(secret)) || e.Extensions[crypt.ExtContentType] != srcodec.ContentTypeAvro ||
		e.SchemaVersion != "1" || e.DataSchema == "" {
		t.Fatalf("event: ct %s schema %q version %q", e.Extensions[crypt.ExtContentType], e.DataSchema, e.SchemaVersion)
	}
	got, err := event.Decode[avroOrder](ctx, c, e)
	if err != nil || got != (avroOrder{"c-9", secret}) {
		t.Fatalf("decode = %+v, %v", got, err)
	}
}
