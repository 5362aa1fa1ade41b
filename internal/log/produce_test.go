package log

import (
	"errors"
	"testing"

	"github.com/heraldhq/herald/internal/records"
)

// TestAppendProduceOptions: the log stamps LogAppendTime only after the
// batch passed validation, and RequireKeys refuses a keyless record in
// plain and compressed batches; a refused batch leaves the log as it was.
func TestAppendProduceOptions(t *testing.T) {
	l := openTest(t, t.TempDir(), DefaultConfig(), Options{})
	corrupt := testBatch(2, 10, 1, records.CodecNone)
	corrupt[len(corrupt)-1] ^= 0xff
	if _, err := l.AppendLazy(corrupt, Produce{LogAppendTime: 99}); !errors.Is(err, records.ErrCorrupt) {
		t.Fatalf("corrupt batch with LogAppendTime: %v, want ErrCorrupt", err)
	}
	if records.Header(corrupt).Attributes()&records.AttrLogAppendTime != 0 {
		t.Fatal("a batch that failed validation was stamped")
	}
	spec := records.BatchSpec{BaseTimestamp: 1, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, LastOffsetDelta: -1}
	for _, codec := range []records.Codec{records.CodecNone, records.CodecZstd} {
		spec.Attributes = int16(codec)
		keyless := records.BuildBatch(spec, records.Record{Key: []byte("k"), Value: []byte("a")}, records.Record{Value: []byte("b")})
		if _, err := l.AppendLazy(keyless, Produce{LogAppendTime: -1, RequireKeys: true}); !errors.Is(err, records.ErrInvalid) {
			t.Fatalf("codec %d: keyless record: %v, want ErrInvalid", codec, err)
		}
		empty := records.BuildBatch(spec, records.Record{Key: []byte{}, Value: []byte("a")})
		if _, err := l.AppendLazy(empty, Produce{LogAppendTime: -1, RequireKeys: true}); err != nil {
			t.Fatalf("codec %d: an empty key is a key: %v", codec, err)
		}
	}
	b := testBatch(1, 10, 1, records.CodecNone)
	res, err := l.AppendLazy(b, Produce{LogAppendTime: 12345})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.WaitDurable(res); err != nil {
		t.Fatal(err)
	}
	if h := records.Header(b); h.Attributes()&records.AttrLogAppendTime == 0 || h.MaxTimestamp() != 12345 {
		t.Fatalf("stamp: attributes %#x max timestamp %d", h.Attributes(), h.MaxTimestamp())
	}
	if !records.CheckCRC(b) {
		t.Fatal("stamped batch fails its CRC")
	}
	if end := l.LogEndOffset(); end != 3 {
		t.Fatalf("log end %d, want 3 (two empty-key batches and the stamped one)", end)
	}
}
