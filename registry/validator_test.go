package registry

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"
)

func wire(id uint32, payload string) []byte {
	b := binary.BigEndian.AppendUint32([]byte{0}, id)
	return append(b, payload...)
}

func TestValidator(t *testing.T) {
	tr := newTestRegistry(t)
	ctx := ctxT(t)
	v := tr.srv.Validator()
	if err := v.Check("orders", wire(1, "x")); !errors.Is(err, ErrSchemaNotRegistered) {
		t.Fatalf("before registration: %v", err)
	}
	ss, err := tr.cl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: avroV1})
	if err != nil {
		t.Fatal(err)
	}
	other, err := tr.cl.CreateSchema(ctx, "payments-value", sr.Schema{Schema: `"string"`})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		topic  string
		value  []byte
		expErr error
	}{
		{"registered", "orders", wire(uint32(ss.ID), "payload"), nil},
		{"empty payload", "orders", wire(uint32(ss.ID), ""), nil},
		{"tombstone", "orders", nil, nil},
		{"other topic's id", "orders", wire(uint32(other.ID), "x"), ErrSchemaNotRegistered},
		{"unknown id", "orders", wire(999, "x"), ErrSchemaNotRegistered},
		{"topic without subject", "audit", wire(uint32(ss.ID), "x"), ErrSchemaNotRegistered},
		{"bad magic", "orders", append([]byte{1}, wire(uint32(ss.ID), "x")[1:]...), ErrNoSchemaID},
		{"too short", "orders", []byte{0, 0, 0}, ErrNoSchemaID},
		{"empty", "orders", []byte{}, ErrNoSchemaID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := v.Check(tt.topic, tt.value); !errors.Is(err, tt.expErr) {
				t.Fatalf("got %v, want %v", err, tt.expErr)
			}
		})
	}
	// A hit on the snapshot allocates nothing.
	val := wire(uint32(ss.ID), "payload")
	if n := testing.AllocsPerRun(100, func() { _ = v.Check("orders", val) }); n != 0 {
		t.Fatalf("Check allocates %v times", n)
	}
	// Permanent delete revokes the id.
	if _, err := tr.cl.DeleteSubject(ctx, "orders-value", sr.SoftDelete); err != nil {
		t.Fatal(err)
	}
	if err := v.Check("orders", val); err != nil {
		t.Fatalf("soft-deleted id: %v", err)
	}
	if _, err := tr.cl.DeleteSubject(ctx, "orders-value", sr.HardDelete); err != nil {
		t.Fatal(err)
	}
	if err := v.Check("orders", val); !errors.Is(err, ErrSchemaNotRegistered) {
		t.Fatalf("hard-deleted id: %v", err)
	}
}

func BenchmarkValidatorCheck(b *testing.B) {
	tr := newTestRegistry(b)
	ss, err := tr.cl.CreateSchema(ctxT(b), "orders-value", sr.Schema{Schema: avroV1})
	if err != nil {
		b.Fatal(err)
	}
	v := tr.srv.Validator()
	val := wire(uint32(ss.ID), "payload")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := v.Check("orders", val); err != nil {
				b.Fatal(err)
			}
		}
	})
}
